//! Crash consistency, proven: `tenantsync sync` is killed with SIGKILL at points of apply chosen
//! by a seed (the answer to its Nth Graph write is held back by the emulator while the process
//! is killed), then run again as a new process until it converges. After every process, killed
//! or not, the harness checks that the target holds no duplicate user or group (by anchor and
//! by name), lost no membership and no object it had, deleted nothing the source still has,
//! and that the job's state opens and its run history and log read; at the end, that the
//! target is what one clean sync gives.
//!
//! `TENANTSYNC_CRASH_POINTS` (default 5) is the number of points, `TENANTSYNC_CRASH_SEED`
//! (default 20261127) the seed, `TENANTSYNC_BIN` the `tenantsync` to kill (default the one
//! cargo built, copied); `scripts/release-checks crash` runs 100 points. The state
//! backend is a parameter of the harness: [`backends`] lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tenantsync_core::{Engine, LogFilter};
use tenantsync_emulator::{SeedSpec, TenantState, Write};
use tenantsync_tests::World;

/// The storage a backend's job keeps its state in, alive as long as the point runs.
trait Storage {
    /// After a process was killed: what the next process needs to start. A killed run's
    /// blob lease stays held until it expires (at most `lease_seconds`, 15 s here); the
    /// harness breaks it instead of waiting, as an admin who knows the holder is gone would.
    fn after_kill(&self) {}
}

impl Storage for () {}

/// A job's state in a blob of the harness's Azurite.
struct BlobStorage {
    azurite: Arc<tenantsync_tests::Azurite>,
    blob: String,
}

impl Storage for BlobStorage {
    fn after_kill(&self) {
        tenantsync_tests::block_on(self.azurite.tool(&self.blob).break_lease())
            .expect("the killed run's lease breaks");
    }
}

/// Points a job at a backend's state and starts its storage; what it returns keeps that
/// storage alive.
type Configure = Box<dyn Fn(&World, &Path) -> Box<dyn Storage>>;

/// Where a job keeps its state, for the harness.
struct Backend {
    /// For messages.
    name: &'static str,
    /// Points the job at `job` (written by [`World::write_job`]) to this backend's state
    /// (editing its `state...` settings) and starts the storage it needs; what it returns
    /// keeps that storage alive as long as the world.
    configure: Configure,
    /// Every run is in the history from its start (a local file records each write at
    /// once). A blob keeps what was uploaded at the last checkpoint: a run killed before
    /// its first one leaves no trace in the history, by design (docs/operations.md).
    exact_history: bool,
}

/// The backends the harness runs on: a local state file, and (when Azurite is installed; under
/// CI it must be) a state blob. The job written by [`World::write_job`] keeps its state in a
/// local file (`state_path`); the blob backend rewrites that line to `state = { azure_blob =
/// ... }` with one blob per job.
fn backends() -> Vec<Backend> {
    let mut all = vec![Backend {
        name: "local",
        configure: Box::new(|_, _| Box::new(())),
        exact_history: true,
    }];
    if let Some(azurite) = tenantsync_tests::azurite() {
        let azurite = Arc::new(azurite);
        let jobs = std::sync::atomic::AtomicUsize::new(0);
        all.push(Backend {
            name: "azure blob",
            configure: Box::new(move |_, job| {
                let n = jobs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let blob = format!("crash-{n}.state.db");
                azurite.move_state_of(job, &blob, "lease_seconds = 15");
                Box::new(BlobStorage {
                    azurite: azurite.clone(),
                    blob,
                })
            }),
            exact_history: false,
        });
    }
    all
}

/// The source: users in security groups large enough that some members are added after the
/// group's creation (more than 20), a nested group, a Microsoft 365 and a mail-enabled group.
fn seed() -> SeedSpec {
    SeedSpec {
        seed: 29,
        users: 60,
        security_groups: 4,
        m365_groups: 1,
        mail_enabled_groups: 1,
        nested: 1,
        avg_members: 24,
    }
}

/// The job's settings: concurrent writes, so that a kill finds several in flight.
const JOB: &str = "concurrency = 4\n";

/// The most runs after the last kill before the job must have converged.
const MAX_RUNS: usize = 4;

/// A number from an environment variable, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        _ => default,
    }
}

/// splitmix64: the harness's own small generator, so that a seed names the same points on
/// every machine.
struct Points(u64);

impl Points {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `1..=n`.
    fn upto(&mut self, n: u64) -> u64 {
        1 + self.next() % n.max(1)
    }
}

/// Holds back the answer to the Nth write of a process until the harness has killed it.
#[derive(Default)]
struct Trap {
    state: Mutex<TrapState>,
    changed: Condvar,
}

#[derive(Default)]
struct TrapState {
    /// Writes of the current process.
    writes: u64,
    /// Writes of every process.
    total: u64,
    /// The write to hold (0: none).
    at: u64,
    /// The held write arrived: the process is to be killed.
    hit: bool,
    /// The process is dead: let the held answer go.
    released: bool,
    /// The kind of the held write (`POST /invitations`, ...).
    held: Option<String>,
}

impl Trap {
    /// The emulator's side: counts the write; at the chosen one, waits for the kill.
    fn on_write(&self, write: &Write) {
        let mut s = self.state.lock().expect("trap");
        s.writes += 1;
        s.total += 1;
        if s.at != 0 && s.writes == s.at && !s.hit {
            s.hit = true;
            s.held = Some(write.kind.clone());
            self.changed.notify_all();
            while !s.released {
                s = self.changed.wait(s).expect("trap");
            }
        }
    }

    /// Arms the trap for a new process (`at` 0: no kill).
    fn arm(&self, at: u64) {
        *self.state.lock().expect("trap") = TrapState {
            at,
            total: self.total(),
            ..TrapState::default()
        };
    }

    fn total(&self) -> u64 {
        self.state.lock().expect("trap").total
    }

    /// The kind of the write held for the last kill.
    fn held(&self) -> Option<String> {
        self.state.lock().expect("trap").held.clone()
    }

    /// The harness's side: waits until `child` exits or the held write arrives; in that case
    /// kills `child` (SIGKILL), reaps it and lets the write's answer go. Returns how the
    /// process ended and whether it was killed.
    fn watch(&self, child: &mut Child) -> (ExitStatus, bool) {
        let mut s = self.state.lock().expect("trap");
        loop {
            if s.hit {
                child.kill().expect("SIGKILL");
                let status = child.wait().expect("the killed process is reaped");
                s.released = true;
                self.changed.notify_all();
                return (status, true);
            }
            if let Some(status) = child.try_wait().expect("the child's status") {
                return (status, false);
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(20))
                .expect("trap")
                .0;
        }
    }
}

/// The `tenantsync` binary the harness runs: `TENANTSYNC_BIN`, or a private hard link (a copy
/// where linking fails) of the one cargo built, made at the start of the test and removed at
/// its end: a build of another checkout sharing the target directory must not swap it out
/// during a long run.
struct Binary {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Binary {
    fn new() -> Binary {
        if let Some(path) = std::env::var_os("TENANTSYNC_BIN").filter(|p| !p.is_empty()) {
            return Binary {
                path: PathBuf::from(path),
                _dir: None,
            };
        }
        let built = env!("CARGO_BIN_EXE_tenantsync");
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let path = dir.path().join("tenantsync");
        if std::fs::hard_link(built, &path).is_err() {
            std::fs::copy(built, &path).expect("copy the binary");
        }
        Binary {
            path,
            _dir: Some(dir),
        }
    }

    /// `tenantsync sync --config job`, its output in files beside the job (read on failure).
    /// Its temporary directory is the job's: what a killed process leaves there (the state
    /// blob's local copy) goes with the job.
    fn spawn_sync(&self, job: &Path, n: usize) -> Child {
        let dir = job.parent().expect("the job's directory");
        let out = std::fs::File::create(dir.join(format!("run{n}.out"))).expect("output file");
        let err = std::fs::File::create(dir.join(format!("run{n}.err"))).expect("output file");
        Command::new(&self.path)
            .args(["sync", "--config"])
            .arg(job)
            .env("TMPDIR", dir)
            .env("TEMP", dir)
            .env("TMP", dir)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("tenantsync starts")
    }
}

/// What the process printed, for a failure's message.
fn output_of(job: &Path, n: usize) -> String {
    let dir = job.parent().expect("the job's directory");
    let read =
        |ext: &str| std::fs::read_to_string(dir.join(format!("run{n}.{ext}"))).unwrap_or_default();
    format!("--- stdout\n{}\n--- stderr\n{}", read("out"), read("err"))
}

/// The anchor a target object carries.
fn anchor(object: &Json) -> Option<String> {
    object.as_object()?.iter().find_map(|(k, v)| {
        k.ends_with("_tenantsyncAnchor")
            .then(|| v.as_str().map(str::to_string))
            .flatten()
    })
}

/// The target as names: users by mail (with what the sync writes), groups by name,
/// memberships as (group name, member mail).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Shape {
    users: BTreeMap<String, String>,
    groups: BTreeSet<String>,
    memberships: BTreeSet<(String, String)>,
}

fn text(object: &Json, name: &str) -> String {
    object[name].as_str().unwrap_or_default().to_string()
}

/// The target's shape, after checking that no two live users share a mail or an anchor and
/// no two live groups a name or an anchor.
fn shape(target: &TenantState) -> Result<Shape, String> {
    let mut seen = BTreeMap::<String, usize>::new();
    let mut note = |key: String| *seen.entry(key).or_default() += 1;
    let mut users = BTreeMap::new();
    let mut mails = BTreeMap::new();
    for u in &target.users {
        let mail = text(u, "mail").to_lowercase();
        note(format!("user mail {mail}"));
        if let Some(a) = anchor(u) {
            note(format!("user anchor {}", a.to_lowercase()));
        }
        mails.insert(text(u, "id").to_lowercase(), mail.clone());
        let written = [
            "displayName",
            "givenName",
            "surname",
            "jobTitle",
            "department",
        ]
        .iter()
        .map(|k| text(u, k))
        .collect::<Vec<_>>()
        .join("|");
        users.insert(mail, written);
    }
    let mut groups = BTreeSet::new();
    let mut names = BTreeMap::new();
    for g in &target.groups {
        let name = text(g, "displayName");
        note(format!("group name {}", name.to_lowercase()));
        if let Some(a) = anchor(g) {
            note(format!("group anchor {}", a.to_lowercase()));
        }
        names.insert(text(g, "id").to_lowercase(), name.clone());
        groups.insert(name);
    }
    let duplicates: Vec<_> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    if !duplicates.is_empty() {
        return Err(format!("duplicates in the target: {duplicates:?}"));
    }
    let memberships = target
        .memberships
        .iter()
        .flat_map(|(g, ms)| {
            let group = names.get(&g.to_lowercase()).cloned().unwrap_or_default();
            ms.iter().map(move |m| (group.clone(), m.to_lowercase()))
        })
        .map(|(g, m)| (g, mails.get(&m).cloned().unwrap_or(m)))
        .collect();
    Ok(Shape {
        users,
        groups,
        memberships,
    })
}

/// Checks one step: nothing duplicated (in [`shape`]), nothing deleted, nothing that was
/// there before gone, and the job's state readable through the engine.
fn check_step(world: &World, job: &Path, before: &Shape) -> Result<Shape, String> {
    let now = check_target(&world.target().state(), before)?;
    let mut engine = Engine::open(job).map_err(|e| format!("the job does not open: {e}"))?;
    engine
        .runs(1000)
        .map_err(|e| format!("the run history does not read: {e}"))?;
    engine
        .logs(&LogFilter::default())
        .map_err(|e| format!("the provisioning log does not read: {e}"))?;
    Ok(now)
}

/// The target's part of [`check_step`]: its shape, when nothing is duplicated, deleted or gone
/// since `before`.
fn check_target(target: &TenantState, before: &Shape) -> Result<Shape, String> {
    let now = shape(target)?;
    if !target.deleted_items.is_empty() {
        return Err(format!(
            "{} objects were deleted, and the source still has them all",
            target.deleted_items.len()
        ));
    }
    let lost_users: Vec<_> = before
        .users
        .keys()
        .filter(|m| !now.users.contains_key(*m))
        .collect();
    let lost_groups: Vec<_> = before.groups.difference(&now.groups).collect();
    let lost_members: Vec<_> = before.memberships.difference(&now.memberships).collect();
    if !lost_users.is_empty() || !lost_groups.is_empty() || !lost_members.is_empty() {
        return Err(format!(
            "lost: users {lost_users:?}, groups {lost_groups:?}, memberships {lost_members:?}"
        ));
    }
    Ok(now)
}

/// What one point did.
struct PointResult {
    kills: usize,
    processes: usize,
}

/// A fresh world whose job keeps its state on a backend, with the trap on its writes.
struct Armed {
    world: World,
    job: PathBuf,
    /// Keeps the backend's storage alive.
    storage: Box<dyn Storage>,
    trap: Arc<Trap>,
}

fn armed(backend: &Backend) -> Armed {
    let world = World::new(seed());
    let job = world.write_job(&world.source_group_ids(), JOB);
    let storage = (backend.configure)(&world, &job);
    let trap = Arc::new(Trap::default());
    let hook = trap.clone();
    world
        .emulator
        .on_write(Some(Arc::new(move |w: &Write| hook.on_write(w))));
    Armed {
        world,
        job,
        storage,
        trap,
    }
}

/// One point: kills at seeded writes (one to three times in a row), then runs until the job
/// converges, checking after every process. `clean_writes` is what a clean sync writes.
fn run_point(
    binary: &Binary,
    backend: &Backend,
    points: &mut Points,
    clean: &Shape,
    clean_writes: u64,
) -> Result<PointResult, String> {
    let Armed {
        world,
        job,
        storage,
        trap,
    } = armed(backend);
    let kills_wanted = points.upto(3) as usize;
    let mut before = Shape::default();
    let mut kills = 0;
    let mut processes = 0;
    let mut runs_after = 0;
    // Processes killed before their run began: at the first write, which sets up the anchor
    // extension (`POST .../extensionProperties`) before the run is recorded.
    let mut before_run = 0;
    let mut past_the_end = false;
    loop {
        let left = clean_writes.saturating_sub(trap.total());
        let at = if kills < kills_wanted && !past_the_end {
            points.upto(left.max(1))
        } else {
            0
        };
        trap.arm(at);
        let mut child = binary.spawn_sync(&job, processes);
        let (status, killed) = trap.watch(&mut child);
        processes += 1;
        before = check_step(&world, &job, &before).map_err(|e| {
            format!(
                "after process {processes} (killed at write {at}: {killed}): {e}\n{}",
                output_of(&job, processes - 1)
            )
        })?;
        if killed {
            kills += 1;
            storage.after_kill();
            if trap
                .held()
                .is_some_and(|kind| kind.contains("extensionProperties"))
            {
                before_run += 1;
            }
            continue;
        }
        // No kill (or the kill point was past the end): the run finished by itself.
        past_the_end = true;
        runs_after += 1;
        if status.success() {
            break;
        }
        if runs_after >= MAX_RUNS {
            return Err(format!(
                "no convergence after {runs_after} runs since the last kill (last exit {status})\n{}",
                output_of(&job, processes - 1)
            ));
        }
    }
    if &before != clean {
        return Err(format!(
            "the target differs from a clean sync's: {}",
            diff(clean, &before)
        ));
    }
    // Every process that began its run left it in the history; only the killed ones are
    // unfinished.
    let mut engine = Engine::open(&job).map_err(|e| e.to_string())?;
    let runs = engine.runs(1000).map_err(|e| e.to_string())?;
    let unfinished = runs.iter().filter(|r| r.outcome.is_none()).count();
    let history_fits = if backend.exact_history {
        runs.len() == processes - before_run && unfinished == kills - before_run
    } else {
        (processes - kills..=processes - before_run).contains(&runs.len())
            && unfinished <= kills - before_run
    };
    if !history_fits || runs.first().and_then(|r| r.outcome.as_deref()) != Some("converged") {
        return Err(format!(
            "{processes} processes ({kills} killed, {before_run} before their run began) left {} runs ({unfinished} unfinished); the last: {:?}",
            runs.len(),
            runs.first().map(|r| &r.outcome)
        ));
    }
    world.emulator.on_write(None);
    Ok(PointResult { kills, processes })
}

/// What differs between two shapes, briefly.
fn diff(want: &Shape, got: &Shape) -> String {
    let users: Vec<_> = want
        .users
        .iter()
        .filter(|(m, w)| got.users.get(*m) != Some(*w))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .users
        .keys()
        .filter(|m| !want.users.contains_key(*m))
        .take(5)
        .collect();
    format!(
        "users missing or different {users:?}, extra {extra:?}; groups missing {:?}, extra {:?}; memberships missing {:?}, extra {:?}",
        want.groups.difference(&got.groups).collect::<Vec<_>>(),
        got.groups.difference(&want.groups).collect::<Vec<_>>(),
        want.memberships
            .difference(&got.memberships)
            .take(5)
            .collect::<Vec<_>>(),
        got.memberships
            .difference(&want.memberships)
            .take(5)
            .collect::<Vec<_>>(),
    )
}

/// One clean sync on `backend`: the target it gives and the writes it takes.
fn clean_sync(binary: &Binary, backend: &Backend) -> (Shape, u64) {
    let Armed {
        world,
        job,
        storage: _storage,
        trap,
    } = armed(backend);
    trap.arm(0);
    let mut child = binary.spawn_sync(&job, 0);
    let (status, _) = trap.watch(&mut child);
    assert!(
        status.success(),
        "a clean sync converges: {}",
        output_of(&job, 0)
    );
    let shape = shape(&world.target().state()).expect("a clean sync duplicates nothing");
    assert!(
        !shape.users.is_empty() && shape.memberships.len() > 20,
        "the clean sync wrote users and memberships: {shape:?}"
    );
    world.emulator.on_write(None);
    (shape, trap.total())
}

#[test]
fn sigkill_at_seeded_points_of_apply_never_duplicates_loses_or_deletes() {
    let count = env_number("TENANTSYNC_CRASH_POINTS", 5);
    let seed = env_number("TENANTSYNC_CRASH_SEED", 20_261_127);
    let binary = Binary::new();
    for backend in backends() {
        let started = Instant::now();
        let (clean, clean_writes) = clean_sync(&binary, &backend);
        let mut points = Points(seed);
        let mut failures = Vec::new();
        let (mut kills, mut processes) = (0, 0);
        for point in 1..=count {
            match run_point(&binary, &backend, &mut points, &clean, clean_writes) {
                Ok(r) => {
                    kills += r.kills;
                    processes += r.processes;
                }
                Err(e) => failures.push(format!("point {point}: {e}")),
            }
        }
        // The figures, for the release notes (elapsed time is reported, never asserted).
        eprintln!(
            "crash harness ({}): {count} points, {} passed, {kills} kills, {processes} processes, {clean_writes} writes in a clean sync, seed {seed}, {:.0} s",
            backend.name,
            count as usize - failures.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(
            failures.is_empty(),
            "{} of {count} points failed on the {} backend:\n{}",
            failures.len(),
            backend.name,
            failures.join("\n\n")
        );
        assert!(kills > 0, "no process was killed: the points missed apply");
    }
}

/// The harness's checks fail where they must: a duplicate by mail, by anchor or by name, a
/// lost membership or object, a deletion.
#[test]
fn the_checks_catch_duplicates_losses_and_deletions() {
    let user = |id: &str, mail: &str, anchor: &str| {
        serde_json::json!({"id": id, "mail": mail, "displayName": mail,
            "extension_0_tenantsyncAnchor": anchor})
    };
    let group = |id: &str, name: &str, anchor: &str| serde_json::json!({"id": id, "displayName": name, "extension_0_tenantsyncAnchor": anchor});
    let good = TenantState {
        tenant_id: "t".into(),
        users: vec![user("u1", "a@x", "s/1"), user("u2", "b@x", "s/2")],
        groups: vec![group("g1", "G", "s/3")],
        memberships: BTreeMap::from([("g1".into(), vec!["u1".into(), "u2".into()])]),
        deleted_items: Vec::new(),
    };
    let before = check_target(&good, &Shape::default()).expect("a sound target passes");
    assert_eq!(before.memberships.len(), 2);

    let mut twice = good.clone();
    twice.users.push(user("u3", "A@x", "s/9"));
    assert!(check_target(&twice, &before).is_err_and(|e| e.contains("user mail a@x")));
    let mut anchors = good.clone();
    anchors.users.push(user("u3", "c@x", "s/1"));
    assert!(check_target(&anchors, &before).is_err_and(|e| e.contains("user anchor s/1")));
    let mut names = good.clone();
    names.groups.push(group("g2", "G", "s/8"));
    assert!(check_target(&names, &before).is_err_and(|e| e.contains("group name g")));

    let mut lost = good.clone();
    lost.memberships.insert("g1".into(), vec!["u1".into()]);
    assert!(
        check_target(&lost, &before).is_err_and(|e| e.contains("memberships [(\"G\", \"b@x\")]"))
    );
    let mut gone = good.clone();
    gone.users.pop();
    assert!(check_target(&gone, &before).is_err_and(|e| e.contains("lost")));
    let mut deleted = good.clone();
    deleted
        .deleted_items
        .push(tenantsync_emulator::DeletedItemState {
            kind: "user".into(),
            object: user("u9", "z@x", "s/7"),
        });
    assert!(check_target(&deleted, &before).is_err_and(|e| e.contains("deleted")));
}

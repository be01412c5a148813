//! Helpers shared by the integration tests in `integration/` and by the CLI's tests
//! (`cli/tests/jobs.rs`, a dev-dependency): a running emulator with two tenants (a seeded
//! source, an empty target), a job configuration pointing at it, and a way to run cycles. Each
//! test gets its own emulator and its own temporary directory.
//!
//! Time: the emulator runs on a manual clock that the engines these helpers open share (see
//! [`SharedClock`]). It moves only when the engine waits (`Retry-After`, backoff, replication
//! lag) or a test advances it ([`World::advance`], the pause of [`World::converge`]), so no
//! test waits for real time to pass and none depends on how fast the machine is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tenantsync_core::{
    CancelToken, Engine, EventSink, NoEvents, RunOutcome, RunReport, StateStore, SyncError,
    SyncRequest,
};
use tenantsync_emulator::{Clock, Emulator, EmulatorConfig, SeedSpec, TenantHandle, TenantState};

/// The emulator's [`Clock`] as the engine's clock: the engine and the emulator read one time,
/// and every wait of the engine moves it forward at once instead of sleeping.
#[derive(Debug, Clone)]
pub struct SharedClock(pub Clock);

impl tenantsync_core::Clock for SharedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }
    fn instant(&self) -> Instant {
        self.0.instant()
    }
    fn sleep(&self, duration: Duration) -> tenantsync_core::Sleep {
        self.0.advance(duration);
        Box::pin(tokio::task::yield_now())
    }
}

pub mod plugins;

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A small seeded source: users, security groups, one nested, an M365 and a mail-enabled group.
pub fn small_seed() -> SeedSpec {
    SeedSpec {
        seed: 7,
        users: 40,
        security_groups: 5,
        m365_groups: 1,
        mail_enabled_groups: 1,
        nested: 1,
        avg_members: 8,
    }
}

/// An emulator with a source and a target tenant, and a job between them.
pub struct World {
    /// The running emulator.
    pub emulator: Emulator,
    /// The test's directory (job.toml, secrets, state).
    pub dir: tempfile::TempDir,
    /// The source tenant id.
    pub source_id: String,
    /// The target tenant id.
    pub target_id: String,
    /// The manual clock of the emulator and of the engines opened here; it starts at the
    /// machine's time (so that a `tenantsync` process on the system clock agrees with it).
    pub clock: Clock,
    source_secret: String,
    target_secret: String,
    source_client: String,
    target_client: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("base_url", &self.emulator.base_url())
            .field("source", &self.source_id)
            .field("target", &self.target_id)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Starts the emulator: tenant 0 seeded with `seed`, tenant 1 empty.
    pub fn new(seed: SeedSpec) -> World {
        Self::with_source_roles(seed, &[])
    }

    /// Like [`World::new`], with more application permissions granted to the source's app
    /// (such as `Synchronization.ReadWrite.All` for the Entra bridge).
    pub fn with_source_roles(seed: SeedSpec, roles: &[&str]) -> World {
        let mut config = EmulatorConfig::demo(2, 0, Some(seed));
        for app in &mut config.tenants[0].apps {
            app.roles.extend(roles.iter().map(|r| r.to_string()));
        }
        let clock = Clock::manual(chrono::Utc::now());
        config.clock = clock.clone();
        let app = |i: usize| {
            let a = &config.tenants[i].apps[0];
            (
                a.client_id.clone(),
                a.client_secret.clone().expect("demo apps have secrets"),
            )
        };
        let (source_client, source_secret) = app(0);
        let (target_client, target_secret) = app(1);
        let source_id = config.tenants[0].tenant_id.clone();
        let target_id = config.tenants[1].tenant_id.clone();
        let emulator = Emulator::start(config).expect("the emulator starts");
        World {
            emulator,
            dir: tempfile::tempdir().expect("temp dir"),
            source_id,
            target_id,
            clock,
            source_secret,
            target_secret,
            source_client,
            target_client,
        }
    }

    /// Admin access to the source tenant.
    pub fn source(&self) -> TenantHandle {
        self.emulator
            .tenant(&self.source_id)
            .expect("source tenant")
    }

    /// Admin access to the target tenant.
    pub fn target(&self) -> TenantHandle {
        self.emulator
            .tenant(&self.target_id)
            .expect("target tenant")
    }

    /// Ids of every source group (security, nested, Microsoft 365 and mail-enabled alike), to
    /// assign them all: the planner decides which are synchronized.
    pub fn source_group_ids(&self) -> Vec<String> {
        self.source()
            .state()
            .groups
            .iter()
            .filter_map(|g| g["id"].as_str().map(str::to_string))
            .collect()
    }

    /// Ids of the source's security groups that are neither mail-enabled nor Microsoft 365
    /// groups ([`GroupKind::Security`]), nested ones included.
    pub fn source_security_group_ids(&self) -> Vec<String> {
        self.source()
            .state()
            .groups
            .iter()
            .filter(|g| group_kind(g) == GroupKind::Security)
            .filter_map(|g| text(g, "id"))
            .collect()
    }

    /// The client secrets of the source and target apps (to check they leak nowhere).
    pub fn secrets(&self) -> [&str; 2] {
        [&self.source_secret, &self.target_secret]
    }

    /// The client id of the source's app.
    pub fn source_client_id(&self) -> &str {
        &self.source_client
    }

    /// The client id of the target's app.
    pub fn target_client_id(&self) -> &str {
        &self.target_client
    }

    /// Writes the secret file of a side (`source` or `target`) with the right secret, or with
    /// `value`. [`World::write_job`] points the job at these files and writes the right
    /// secret only when a file is missing: the next cycle uses whatever this wrote last.
    pub fn secret_file(&self, side: &str, value: Option<&str>) -> PathBuf {
        let path = self.dir.path().join(format!("{side}.secret"));
        let right = if side == "source" {
            &self.source_secret
        } else {
            &self.target_secret
        };
        std::fs::write(&path, value.unwrap_or(right)).expect("write secret");
        path
    }

    /// Writes `job.toml` assigning `groups`. `extra` is appended inside the `[sync]` table,
    /// which holds `escrow_retry = "1s"` and `quarantine_min_failures = 1000` unless `extra`
    /// sets them: `[sync]` keys first, then other tables such as `[options]`. Returns its path.
    pub fn write_job(&self, groups: &[String], extra: &str) -> PathBuf {
        let base = self.emulator.base_url();
        let ca = self
            .emulator
            .ca_pem_path()
            .expect("TLS on")
            .display()
            .to_string();
        let cloud = format!(
            "{{ custom = {{ login_host = \"{base}\", graph_host = \"{base}\", ca_file = '{ca}' }} }}"
        );
        let side = |name: &str, tenant: &str, client: &str| {
            let secret = self.dir.path().join(format!("{name}.secret"));
            if !secret.exists() {
                self.secret_file(name, None);
            }
            format!(
                "[{name}]\ntenant_id = \"{tenant}\"\ncloud = {cloud}\ncredential = {{ kind = \"client-secret\", tenant_id = \"{tenant}\", client_id = \"{client}\", secret = {{ file = '{}' }} }}\n",
                secret.display()
            )
        };
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        let sync: String = [
            ("escrow_retry", "\"1s\""),
            ("quarantine_min_failures", "1000"),
        ]
        .iter()
        .filter(|(key, _)| !extra.lines().any(|l| l.trim_start().starts_with(key)))
        .map(|(key, value)| format!("{key} = {value}\n"))
        .collect();
        let text = format!(
            "name = \"test\"\nstate_path = \"state.db\"\n\n[scope]\ngroups = [{}]\n\n{}\n{}\n[sync]\n{sync}\n{extra}\n",
            groups.join(", "),
            side("source", &self.source_id, &self.source_client),
            side("target", &self.target_id, &self.target_client),
        );
        let path = self.dir.path().join("job.toml");
        std::fs::write(&path, text).expect("write job");
        path
    }

    /// Runs one cycle of the job at `config`.
    pub fn run(&self, config: &Path, request: SyncRequest) -> RunReport {
        self.try_run(config, request, &NoEvents)
            .expect("the cycle runs")
    }

    /// Runs one cycle, returning its error.
    pub fn try_run(
        &self,
        config: &Path,
        request: SyncRequest,
        events: &dyn EventSink,
    ) -> Result<RunReport, SyncError> {
        self.run_with_cancel(config, request, events, &CancelToken::new())
    }

    /// Runs one cycle that `cancel` may stop (for instance from inside `events`).
    pub fn run_with_cancel(
        &self,
        config: &Path,
        request: SyncRequest,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RunReport, SyncError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut engine = Engine::open_with_clock(config, self.engine_clock())?;
            engine.run(&request, events, cancel).await
        })
    }

    /// Sets up the job's anchor extension in the target (what `tenantsync init` does), so that
    /// dry runs work before the first real cycle. Returns the anchor attribute's name.
    pub fn init(&self, config: &Path) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime
            .block_on(async {
                Engine::open_with_clock(config, self.engine_clock())?
                    .init()
                    .await
            })
            .expect("the anchor extension is set up")
    }

    /// The clock for an engine of this world: the emulator's, shared.
    pub fn engine_clock(&self) -> Arc<dyn tenantsync_core::Clock> {
        Arc::new(SharedClock(self.clock.clone()))
    }

    /// Lets `duration` pass for the emulator and the engines (nothing sleeps).
    pub fn advance(&self, duration: Duration) {
        self.clock.advance(duration);
    }

    /// Runs cycles of `config` until one ends `Converged`, at most `max_cycles`, letting
    /// `pause` pass on the shared clock after each cycle that did not. A cycle that fails as a whole (an error while
    /// reading a tenant) counts as a cycle. Returns every report; panics with the last
    /// outcome or error when the job never converged.
    pub fn converge(&self, config: &Path, max_cycles: usize, pause: Duration) -> Vec<RunReport> {
        let mut reports = Vec::new();
        let mut last = String::new();
        for _ in 0..max_cycles {
            match self.try_run(config, SyncRequest::default(), &NoEvents) {
                Ok(report) => {
                    let done = report.outcome == RunOutcome::Converged;
                    last = format!("{:?}: {:?}", report.outcome, report.applied.failed);
                    reports.push(report);
                    if done {
                        return reports;
                    }
                }
                Err(e) => last = format!("error: {e}"),
            }
            self.advance(pause);
        }
        panic!("no convergence after {max_cycles} cycles; last: {last}");
    }

    /// The state file of the job written by [`World::write_job`].
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Deletes the job's state file with its SQLite journal files, as an admin might.
    pub fn delete_state(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", self.state_path().display()));
            if path.exists() {
                std::fs::remove_file(&path).expect("the state file can be removed");
            }
        }
    }

    /// Opens the job's state store (the engine does not hold it between cycles).
    pub fn open_state(&self) -> StateStore {
        StateStore::open(&self.state_path(), &self.source_id, &self.target_id)
            .expect("the state store opens")
    }

    /// The target attribute that carries anchors (known after the first non-dry cycle). A job
    /// with no local state (its state in a blob) gets the name Graph gives the target app's
    /// extension.
    pub fn anchor_attribute(&self) -> String {
        if !self.state_path().exists() {
            return tenantsync_core::anchor_attribute_for(&self.target_client);
        }
        self.open_state()
            .setting("anchor_attribute")
            .expect("state readable")
            .expect("the anchor extension was set up by a cycle")
    }

    /// The anchor value a target object created from source object `source_id` carries.
    pub fn anchor_of(&self, source_id: &str) -> String {
        format!("{}/{source_id}", self.source_id)
    }

    /// Live target users anchored to source user `source_id`.
    pub fn target_users_for(&self, source_id: &str) -> Vec<Json> {
        let (attr, want) = (self.anchor_attribute(), self.anchor_of(source_id));
        self.target()
            .state()
            .users
            .into_iter()
            .filter(|u| text(u, &attr).is_some_and(|a| a.eq_ignore_ascii_case(&want)))
            .collect()
    }

    /// The one live target user anchored to source user `source_id`, if any (panics on two).
    pub fn target_user_for(&self, source_id: &str) -> Option<Json> {
        let mut users = self.target_users_for(source_id);
        assert!(
            users.len() <= 1,
            "user {source_id} is duplicated: {users:#?}"
        );
        users.pop()
    }

    /// The one live target group anchored to source group `source_id`, if any (panics on two).
    pub fn target_group_for(&self, source_id: &str) -> Option<Json> {
        let (attr, want) = (self.anchor_attribute(), self.anchor_of(source_id));
        let mut groups: Vec<Json> = self
            .target()
            .state()
            .groups
            .into_iter()
            .filter(|g| text(g, &attr).is_some_and(|a| a.eq_ignore_ascii_case(&want)))
            .collect();
        assert!(groups.len() <= 1, "group {source_id} is duplicated");
        groups.pop()
    }

    /// Adds an enabled internal member user to the source (`alias@contoso.onmicrosoft.com`)
    /// and returns its id.
    pub fn add_source_user(&self, alias: &str, display_name: &str) -> String {
        let upn = format!("{alias}@{}", SOURCE_DOMAIN);
        let user = self
            .source()
            .add_user(serde_json::json!({
                "userPrincipalName": upn,
                "mail": upn,
                "displayName": display_name,
                "givenName": display_name.split(' ').next().unwrap_or(display_name),
                "accountEnabled": true,
                "userType": "Member",
                "jobTitle": "Engineer",
                "department": "Research",
            }))
            .expect("the source user is added");
        text(&user, "id").expect("a new user has an id")
    }

    /// Adds a security group to the source with `members` and returns its id.
    pub fn add_source_group(&self, name: &str, members: &[&str]) -> String {
        let group = self
            .source()
            .add_group(serde_json::json!({
                "displayName": name,
                "mailNickname": name.to_lowercase().replace(' ', "-"),
                "securityEnabled": true,
                "mailEnabled": false,
            }))
            .expect("the source group is added");
        let id = text(&group, "id").expect("a new group has an id");
        for m in members {
            self.source().add_member(&id, m).expect("member added");
        }
        id
    }

    /// Asserts that the target follows the source for the job's `groups` (see
    /// [`assert_converged`]) and holds no duplicate (see [`assert_no_duplicates`]).
    pub fn assert_converged(&self, groups: &[String]) {
        assert_converged(&self.source().state(), &self.target().state(), groups);
        assert_no_duplicates(&self.target().state(), &self.anchor_attribute());
    }
}

/// The source tenant's domain in [`World`].
pub const SOURCE_DOMAIN: &str = "contoso.onmicrosoft.com";

/// A user's or group's property as text.
pub fn text(object: &Json, name: &str) -> Option<String> {
    object.get(name).and_then(Json::as_str).map(str::to_string)
}

/// The kind of a source group as the planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// A security group that is not mail-enabled: synchronized.
    Security,
    /// A Microsoft 365 (Unified) group: skipped by default.
    Microsoft365,
    /// A mail-enabled security group or distribution group: never synchronized.
    MailEnabled,
}

/// Classifies a group by `securityEnabled`, `mailEnabled` and `groupTypes`.
pub fn group_kind(group: &Json) -> GroupKind {
    let unified = group["groupTypes"]
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == "Unified"));
    if unified {
        GroupKind::Microsoft365
    } else if group["securityEnabled"] == true && group["mailEnabled"] == false {
        GroupKind::Security
    } else {
        GroupKind::MailEnabled
    }
}

/// Ids of the groups that are direct members of another group of `state`.
pub fn nested_group_ids(state: &TenantState) -> BTreeSet<String> {
    let groups: BTreeSet<String> = state.groups.iter().filter_map(|g| text(g, "id")).collect();
    state
        .memberships
        .values()
        .flatten()
        .filter(|m| groups.contains(*m))
        .cloned()
        .collect()
}

/// The lower-cased mail of user `id` in `state`.
pub fn mail_of(state: &TenantState, id: &str) -> Option<String> {
    state
        .users
        .iter()
        .find(|u| text(u, "id").as_deref() == Some(id))
        .and_then(|u| text(u, "mail"))
        .map(|m| m.to_lowercase())
}

/// The lower-cased mails of the user members of group `id` in `state`.
pub fn member_mails(state: &TenantState, id: &str) -> BTreeSet<String> {
    state
        .memberships
        .get(id)
        .into_iter()
        .flatten()
        .filter_map(|m| mail_of(state, m))
        .collect()
}

/// The live target groups named `name`.
pub fn groups_named<'a>(state: &'a TenantState, name: &str) -> Vec<&'a Json> {
    state
        .groups
        .iter()
        .filter(|g| text(g, "displayName").is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .collect()
}

/// Asserts that every assigned source security group (of `groups`) exists once in the target,
/// by name, with the same user members (compared by mail, among the users that exist in the
/// target: disabled source users are never created), and that no other assigned group
/// (Microsoft 365, mail-enabled) was created.
pub fn assert_converged(source: &TenantState, target: &TenantState, groups: &[String]) {
    let created: BTreeSet<String> = target
        .users
        .iter()
        .filter_map(|u| text(u, "mail").map(|m| m.to_lowercase()))
        .collect();
    for group in source
        .groups
        .iter()
        .filter(|g| text(g, "id").is_some_and(|id| groups.contains(&id)))
    {
        let name = text(group, "displayName").expect("groups have names");
        let in_target = groups_named(target, &name);
        if group_kind(group) != GroupKind::Security {
            assert!(in_target.is_empty(), "unsupported group {name} was created");
            continue;
        }
        assert_eq!(
            in_target.len(),
            1,
            "group {name} exactly once in the target"
        );
        let gid = text(group, "id").expect("id");
        let want: BTreeSet<String> = member_mails(source, &gid)
            .intersection(&created)
            .cloned()
            .collect();
        let tid = text(in_target[0], "id").expect("id");
        assert_eq!(member_mails(target, &tid), want, "members of {name}");
    }
}

/// Asserts that no two live target users share a mail or an anchor, and no two live target
/// groups share an anchor or a display name.
pub fn assert_no_duplicates(target: &TenantState, anchor_attribute: &str) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for u in &target.users {
        if let Some(m) = text(u, "mail") {
            *seen
                .entry(format!("user mail {}", m.to_lowercase()))
                .or_default() += 1;
        }
        if let Some(a) = text(u, anchor_attribute) {
            *seen
                .entry(format!("user anchor {}", a.to_lowercase()))
                .or_default() += 1;
        }
    }
    for g in &target.groups {
        if let Some(n) = text(g, "displayName") {
            *seen
                .entry(format!("group name {}", n.to_lowercase()))
                .or_default() += 1;
        }
        if let Some(a) = text(g, anchor_attribute) {
            *seen
                .entry(format!("group anchor {}", a.to_lowercase()))
                .or_default() += 1;
        }
    }
    let duplicates: Vec<_> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "duplicates in the target: {duplicates:?}"
    );
}

/// The interpreter of the virtualenv `scripts/python-env` makes: `$TENANTSYNC_PYTHON`, else
/// `bin/python` in `$TENANTSYNC_PYTHON_ENV`, else in `~/.cache/tenantsync/python-env` (it may
/// not exist: callers say what to run when it does not).
pub fn python_env() -> PathBuf {
    if let Some(p) = std::env::var_os("TENANTSYNC_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = std::env::var_os("TENANTSYNC_PYTHON_ENV")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("tenantsync").join("python-env")
        });
    venv.join("bin").join("python")
}

/// Azurite's development account, as Microsoft documents it for the emulator
/// (<https://learn.microsoft.com/azure/storage/common/storage-use-azurite>).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// The development account's well-known key (public, documented with Azurite; not a secret).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The container [`azurite`] creates for the tests' state blobs.
pub const AZURITE_CONTAINER: &str = "tenantsync";

/// A running Azurite Blob service (Microsoft's Azure Storage emulator) on a loopback port of
/// its own, with its data in a temporary directory: killed when dropped.
///
/// A job keeps its state there with [`Azurite::state_toml`] in place of `state_path` (see
/// [`World::write_blob_job`]); the engine signs its requests with the development account's
/// key (the `shared-key` credential). [`Azurite::tool`] reaches the blob directly (its lease,
/// its bytes), as another host or an admin would.
pub struct Azurite {
    child: std::process::Child,
    dir: tempfile::TempDir,
    /// The account's blob endpoint, `http://127.0.0.1:{port}/devstoreaccount1`.
    pub account_url: String,
}

impl std::fmt::Debug for Azurite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azurite")
            .field("account_url", &self.account_url)
            .finish_non_exhaustive()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `azurite-blob` is: `TENANTSYNC_AZURITE`, else where `scripts/test` installs it
/// (`~/.cache/tenantsync/azurite`), else on `PATH`.
fn azurite_program() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TENANTSYNC_AZURITE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let cached = std::env::var_os("HOME").map(|home| {
        PathBuf::from(home).join(".cache/tenantsync/azurite/node_modules/.bin/azurite-blob")
    });
    if let Some(p) = cached.filter(|p| p.is_file()) {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("azurite-blob"))
            .find(|p| p.is_file())
    })
}

/// Starts Azurite's Blob service on a free loopback port with a temporary location, waits until
/// it listens, and creates the container [`AZURITE_CONTAINER`]. `None` (the test skips, with a
/// message) when Azurite is not installed; under CI (`CI` set) a missing Azurite fails instead.
/// `scripts/test` installs it (npm package `azurite`, 3.x).
pub fn azurite() -> Option<Azurite> {
    use std::io::BufRead;
    let Some(program) = azurite_program() else {
        let hint = "scripts/test installs it (npm install --prefix ~/.cache/tenantsync/azurite azurite@3), or set TENANTSYNC_AZURITE to azurite-blob";
        if std::env::var_os("CI").is_some() {
            panic!("Azurite is missing, and CI is set: {hint}");
        }
        eprintln!("skipped: Azurite is not installed; {hint}");
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Port 0: the system picks a free port, and Azurite prints the one it listens on.
    // --skipApiVersionCheck: the storage crate may speak a newer API version than this Azurite
    // release knows; the operations used here are old ones.
    let mut child = std::process::Command::new(&program)
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
            "--location",
        ])
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads Azurite's output to its end, so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://127.0.0.1:"))
            {
                let _ = tx.send(url.trim_end_matches('/').to_owned());
            }
        }
    });
    let base = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            panic!("Azurite ({}) did not start listening", program.display());
        }
    };
    let azurite = Azurite {
        child,
        dir,
        account_url: format!("{base}/{AZURITE_ACCOUNT}"),
    };
    block_on(azurite.tool("probe").create_container()).expect("the container is created");
    Some(azurite)
}

/// Runs `work` on a runtime of its own (the tests' helpers are synchronous).
pub fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

impl Azurite {
    /// The file holding the development account's key (read by the `shared-key` credential).
    pub fn key_file(&self) -> PathBuf {
        let path = self.dir.path().join("account.key");
        if !path.exists() {
            std::fs::write(&path, AZURITE_KEY).expect("write the key");
        }
        path
    }

    /// The job configuration's `state` key keeping the state in blob `blob` of
    /// [`AZURITE_CONTAINER`]; `extra` is added inside `azure_blob` (`lease_seconds = 15`).
    pub fn state_toml(&self, blob: &str, extra: &str) -> String {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        format!(
            "state = {{ azure_blob = {{ account_url = \"{}\", container = \"{AZURITE_CONTAINER}\", blob = \"{blob}\", credential = {{ kind = \"shared-key\", key = {{ file = '{}' }} }}{extra} }} }}",
            self.account_url,
            self.key_file().display()
        )
    }

    /// The `azure_blob` configuration of blob `blob`.
    pub fn config(&self, blob: &str) -> tenantsync_core::AzureBlobConfig {
        match tenantsync_core::JobConfig::from_toml(&self.state_toml(blob, ""), "azurite")
            .expect("state config")
            .state
        {
            Some(tenantsync_core::StateConfig::AzureBlob(c)) => c,
            other => panic!("not a blob state: {other:?}"),
        }
    }

    /// Direct access to blob `blob`: its lease, its bytes.
    /// Moves the state of `job` (written by [`World::write_job`], `state_path = "state.db"`)
    /// into Azurite's blob `blob`; `blob_extra` is added inside `azure_blob`.
    pub fn move_state_of(&self, job: &Path, blob: &str, blob_extra: &str) {
        let text = std::fs::read_to_string(job).expect("read job");
        assert!(text.contains("state_path = \"state.db\""), "{text}");
        let text = text.replacen(
            "state_path = \"state.db\"",
            &self.state_toml(blob, blob_extra),
            1,
        );
        std::fs::write(job, text).expect("write job");
    }

    pub fn tool(&self, blob: &str) -> tenantsync_core::testing::StateBlobTool {
        tenantsync_core::testing::StateBlobTool::new(&self.config(blob)).expect("tool")
    }
}

impl World {
    /// [`World::write_job`] with the job's state in Azurite's blob `blob` instead of the local
    /// `state.db`; `blob_extra` is added inside `azure_blob` (`lease_seconds = 15`).
    pub fn write_blob_job(
        &self,
        groups: &[String],
        extra: &str,
        azurite: &Azurite,
        blob: &str,
        blob_extra: &str,
    ) -> PathBuf {
        let path = self.write_job(groups, extra);
        azurite.move_state_of(&path, blob, blob_extra);
        path
    }
}

/// Requests that write (`POST`, `PATCH`, `PUT`, `DELETE`, `$batch`) among a tenant's request
/// counts ([`TenantHandle::request_counts`]).
pub fn write_count(counts: &BTreeMap<String, u64>) -> u64 {
    counts
        .iter()
        .filter(|(k, _)| {
            ["POST", "PATCH", "PUT", "DELETE"]
                .iter()
                .any(|m| k.starts_with(m))
                || k.contains("$batch")
        })
        .map(|(_, n)| n)
        .sum()
}

//! Resumable runs: a first sync stopped by its max duration goes on where it stopped, run after
//! run, and writes nothing twice. Time is the emulator's manual clock, moved one minute by every
//! Graph write: where a run stops depends on the writes it made, never on the machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantsync_core::{Engine, LogFilter, RunOutcome, SyncRequest};
use tenantsync_emulator::{SeedSpec, Write};
use tenantsync_tests::World;

/// What one minute per write makes of a run: a `createUser` chunk (four users at concurrency
/// 1: an invitation and a PATCH each) is eight minutes of writes.
const PER_WRITE: Duration = Duration::from_secs(60);

/// A source with no seeded objects: the test adds exactly what it needs.
fn empty() -> SeedSpec {
    SeedSpec {
        seed: 1,
        users: 0,
        security_groups: 0,
        m365_groups: 0,
        mail_enabled_groups: 0,
        nested: 0,
        avg_members: 0,
    }
}

/// Twelve users in three groups of four: at concurrency 1, three `createUser` chunks and one
/// `createGroup` chunk. Returns the group ids.
fn populate(world: &World) -> Vec<String> {
    (0..3)
        .map(|g| {
            let users: Vec<String> = (0..4)
                .map(|u| {
                    let n = g * 4 + u;
                    world.add_source_user(&format!("user{n:02}"), &format!("User {n:02}"))
                })
                .collect();
            let members: Vec<&str> = users.iter().map(String::as_str).collect();
            world.add_source_group(&format!("Team {g}"), &members)
        })
        .collect()
}

/// Every write the emulator executes, in order; each also moves the clock by [`PER_WRITE`].
fn record_writes(world: &World) -> Arc<Mutex<Vec<Write>>> {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let (log, clock) = (writes.clone(), world.clock.clone());
    world.emulator.on_write(Some(Arc::new(move |w: &Write| {
        log.lock().expect("writes").push(w.clone());
        clock.advance(PER_WRITE);
    })));
    writes
}

/// Writes by kind (`POST /invitations`, `PATCH /users/{id}`, ...).
fn by_kind(writes: &[Write]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for w in writes {
        *counts.entry(w.kind.clone()).or_default() += 1;
    }
    counts
}

/// The world, its job (concurrency 1 so that chunks are small) and the writes it records.
fn world_with_job(extra: &str) -> (World, Vec<String>, PathBuf, Arc<Mutex<Vec<Write>>>) {
    let world = World::new(empty());
    let groups = populate(&world);
    let job = world.write_job(&groups, &format!("concurrency = 1\n{extra}"));
    let writes = record_writes(&world);
    (world, groups, job, writes)
}

#[test]
fn a_first_sync_stopped_three_times_by_its_max_duration_converges_on_the_fourth_run_writing_nothing_twice()
 {
    // One uninterrupted first sync of the same tenants: the writes the job needs.
    let (clean, clean_groups, clean_job, clean_writes) = world_with_job("");
    let report = clean.run(&clean_job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{:#?}",
        report.applied
    );
    clean.assert_converged(&clean_groups);
    let expected = by_kind(&clean_writes.lock().expect("writes"));
    assert_eq!(expected.get("POST /invitations"), Some(&12), "{expected:?}");

    // The same tenants with a max duration of 9 minutes: the run stops starting chunks once
    // less than the request timeout (60 s) is left, that is after 8 minutes of writes, which
    // is one chunk of users.
    let (world, groups, job, writes) = world_with_job("max_duration = \"9m\"\n");
    let mut outcomes = Vec::new();
    for run in 1..=4 {
        let report = world.run(&job, SyncRequest::default());
        outcomes.push(report.outcome);
        if run < 4 {
            assert_eq!(
                report.outcome,
                RunOutcome::Incomplete,
                "run {run}: {:#?}",
                report.applied
            );
            assert!(report.applied.incomplete && report.applied.remaining > 0);
            assert!(report.applied.failed.is_empty(), "{:#?}", report.applied);
            assert_eq!(RunOutcome::Incomplete.exit_code(), 10);
        }
    }
    assert_eq!(
        outcomes,
        [
            RunOutcome::Incomplete,
            RunOutcome::Incomplete,
            RunOutcome::Incomplete,
            RunOutcome::Converged
        ]
    );
    world.assert_converged(&groups);

    // The four runs together wrote exactly what one uninterrupted sync writes...
    let writes = writes.lock().expect("writes").clone();
    assert_eq!(by_kind(&writes), expected);
    // ... and no write twice (same method, object and body).
    let mut seen = BTreeMap::new();
    for w in &writes {
        let key = format!(
            "{} {} {}",
            w.method,
            w.path,
            w.body.clone().unwrap_or_default()
        );
        *seen.entry(key).or_insert(0) += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "writes repeated: {repeated:#?}");

    // The run history and the provisioning log say where each stopped run stopped.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let mut engine = Engine::open_with_clock(&job, world.engine_clock()).expect("the job opens");
    let runs = engine.runs(10).expect("the run history reads");
    let history: Vec<Option<&str>> = runs.iter().rev().map(|r| r.outcome.as_deref()).collect();
    assert_eq!(
        history,
        [
            Some("incomplete"),
            Some("incomplete"),
            Some("incomplete"),
            Some("converged")
        ]
    );
    for r in runs
        .iter()
        .filter(|r| r.outcome.as_deref() == Some("incomplete"))
    {
        let summary = r.summary.as_ref().expect("a finished run has a summary");
        assert!(summary["remaining"].as_u64() > Some(0), "{summary}");
    }
    let stops: Vec<_> = engine
        .logs(&LogFilter::default())
        .expect("the log reads")
        .into_iter()
        .filter(|e| e.kind == "run" && e.status == "incomplete")
        .collect();
    assert_eq!(stops.len(), 3, "{stops:#?}");
    assert!(
        stops.iter().all(|e| e
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("run the job again"))),
        "{stops:#?}"
    );

    // Both targets hold the same objects.
    let names = |w: &World| {
        let state = w.target().state();
        let mut users: Vec<String> = state
            .users
            .iter()
            .filter_map(|u| u["mail"].as_str().map(str::to_lowercase))
            .collect();
        users.sort();
        let mut groups: Vec<String> = state
            .groups
            .iter()
            .filter_map(|g| g["displayName"].as_str().map(str::to_string))
            .collect();
        groups.sort();
        (
            users,
            groups,
            state.memberships.values().map(|m| m.len()).sum::<usize>(),
        )
    };
    assert_eq!(names(&world), names(&clean));
}

#[test]
fn a_max_duration_shorter_than_one_request_is_refused_with_what_to_do() {
    let world = World::new(empty());
    let groups = populate(&world);
    let job = world.write_job(&groups, "max_duration = \"30s\"\n");
    let err = Engine::open(&job).expect_err("30s leaves no room for a 60s request");
    let text = err.to_string();
    assert!(
        text.contains("max_duration") && text.contains("request_timeout"),
        "{text}"
    );
    let job = world.write_job(&groups, "max_duration = \"2h30\"\n");
    let text = Engine::open(&job).expect_err("no unit").to_string();
    assert!(text.contains("2h30m"), "{text}");
}

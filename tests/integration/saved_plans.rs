//! Saved plans (made now, applied later exactly, refused when stale) and owned runs
//! (`Engine::start`: poll, cancel, wait) against the emulator.

use std::time::Duration;

use tenantsync_core::{
    CancelToken, Engine, Event, NoEvents, OperationStatus, RunOutcome, RunReport, SavedPlan, Stage,
    SyncError, SyncRequest, Work, WorkOutput,
};
use tenantsync_tests::{World, small_seed, text};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Makes a dry run and returns its saved plan, through its JSON (as a file would carry it).
fn save_plan(world: &World, job: &std::path::Path) -> SavedPlan {
    let report = world.run(
        job,
        SyncRequest {
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(report.outcome, RunOutcome::DryRun);
    let saved = report.saved_plan.expect("a dry run saves its plan");
    assert_eq!(saved.plan, report.plan, "the saved plan is the plan shown");
    SavedPlan::from_json(&saved.to_json_pretty()).expect("a saved plan reads back")
}

fn apply(world: &World, job: &std::path::Path, saved: &SavedPlan) -> Result<RunReport, SyncError> {
    runtime().block_on(async {
        let mut engine = Engine::open_with_clock(job, world.engine_clock())?;
        engine
            .apply_saved(saved, &NoEvents, &CancelToken::new())
            .await
    })
}

fn display_name_of(world: &World, source_id: &str) -> Option<String> {
    world
        .target_user_for(source_id)
        .and_then(|u| text(&u, "displayName"))
}

#[test]
fn a_saved_first_sync_applied_later_does_exactly_what_it_showed() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.init(&job);
    let saved = save_plan(&world, &job);
    assert!(saved.plan.operations.len() > 10, "a first sync has work");
    assert!(
        saved
            .objects
            .keys()
            .any(|k| k.starts_with("target/anchor/")),
        "creations record that their anchors are absent"
    );
    let created = saved
        .plan
        .operations
        .iter()
        .find(|op| op.kind() == "createUser")
        .and_then(|op| op.source_id())
        .expect("a first sync creates users")
        .to_string();
    assert!(
        world.target_user_for(&created).is_none(),
        "the dry run wrote nothing"
    );

    let report = apply(&world, &job, &saved).expect("the plan applies");
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{:#?}",
        report.applied
    );
    assert_eq!(report.plan.operations, saved.plan.operations);
    assert_eq!(report.applied.succeeded, saved.plan.operations.len());
    world.assert_converged(&groups);
    let history = world.open_state().runs(1).unwrap();
    assert_eq!(history[0].mode, "apply");

    let again = world.run(
        &job,
        SyncRequest {
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    assert!(
        again.plan.operations.is_empty(),
        "{}",
        again.plan.to_json_pretty()
    );
}

#[test]
fn a_plan_made_stale_by_a_source_change_is_refused_naming_the_object_and_writes_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);

    let state = world.source().state();
    let synced: Vec<String> = state
        .users
        .iter()
        .filter_map(|u| text(u, "id"))
        .filter(|id| world.target_user_for(id).is_some())
        .take(3)
        .collect();
    let (ada, bob, carol) = (&synced[0], &synced[1], &synced[2]);
    let rename = |id: &str, name: &str| {
        world
            .source()
            .update_user(id, serde_json::json!({ "displayName": name }))
            .unwrap()
    };
    rename(ada, "Ada Planned");
    let saved = save_plan(&world, &job);
    assert_eq!(
        saved.plan.operations.len(),
        1,
        "{}",
        saved.plan.to_json_pretty()
    );

    // A change to an object the plan does not touch leaves it valid; a change to the object
    // it touches makes it stale.
    rename(carol, "Carol Later");
    rename(ada, "Ada Changed Again");
    let err = apply(&world, &job, &saved).expect_err("a stale plan is refused");
    match &err {
        SyncError::StalePlan { objects, .. } => {
            assert_eq!(objects.len(), 1, "{objects:?}");
            assert_eq!(
                objects[0].key,
                format!("source/user/{}", ada.to_ascii_lowercase())
            );
            assert_eq!(objects[0].change, "changed");
        }
        other => panic!("expected a stale plan, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&ada.to_ascii_lowercase()) && message.contains("--save-plan"),
        "{message}"
    );
    assert_eq!(err.exit_code(), 8);
    let ada_now = display_name_of(&world, ada);
    assert!(
        !matches!(
            ada_now.as_deref(),
            Some("Ada Planned" | "Ada Changed Again")
        ),
        "nothing was written: {ada_now:?}"
    );

    // Made again, the plan applies, and does only what it shows: a change after it waits.
    let fresh = save_plan(&world, &job);
    assert_eq!(
        fresh.plan.operations.len(),
        2,
        "{}",
        fresh.plan.to_json_pretty()
    );
    let bob_before = display_name_of(&world, bob);
    rename(bob, "Bob After The Plan");
    let report = apply(&world, &job, &fresh).expect("a fresh plan applies");
    assert_eq!(report.outcome, RunOutcome::Converged);
    assert_eq!(report.plan.operations, fresh.plan.operations);
    assert_eq!(
        display_name_of(&world, ada).as_deref(),
        Some("Ada Changed Again")
    );
    assert_eq!(
        display_name_of(&world, carol).as_deref(),
        Some("Carol Later")
    );
    assert_eq!(
        display_name_of(&world, bob),
        bob_before,
        "bob is not in the plan"
    );
}

#[test]
fn a_saved_plan_is_refused_by_another_job_and_when_its_target_object_moved() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    let ada = world
        .source()
        .state()
        .users
        .iter()
        .filter_map(|u| text(u, "id"))
        .find(|id| world.target_user_for(id).is_some())
        .unwrap();
    world
        .source()
        .update_user(&ada, serde_json::json!({"displayName": "Ada Planned"}))
        .unwrap();
    let saved = save_plan(&world, &job);

    let mut other = saved.clone();
    other.source_tenant = "00000000-0000-0000-0000-000000000001".into();
    let e = apply(&world, &job, &other).expect_err("another job's plan");
    assert!(
        matches!(e, SyncError::Invalid(_)) && e.to_string().contains("the job that made it"),
        "{e}"
    );

    // Someone edits the target user by hand meanwhile.
    let target_id = text(&world.target_user_for(&ada).unwrap(), "id").unwrap();
    world
        .target()
        .update_user(
            &target_id,
            serde_json::json!({"jobTitle": "Edited by hand"}),
        )
        .unwrap();
    match apply(&world, &job, &saved).expect_err("the target object moved") {
        SyncError::StalePlan { objects, .. } => {
            assert_eq!(objects.len(), 1, "{objects:?}");
            assert_eq!(
                objects[0].key,
                format!("target/user/{}", target_id.to_ascii_lowercase())
            );
        }
        other => panic!("expected a stale plan, got {other:?}"),
    }
}

#[test]
fn a_started_run_is_polled_to_its_end_and_gives_the_engine_back() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let engine = Engine::open_with_clock(&job, world.engine_clock()).unwrap();
    let run = engine.start(Work::Sync(SyncRequest::default())).unwrap();
    let mut events = Vec::new();
    while !run.is_finished() {
        events.extend(run.poll_timeout(Duration::from_millis(50)));
    }
    events.extend(run.poll());
    let (engine, result) = run.wait();
    let report = match result.expect("the run succeeds") {
        WorkOutput::Run(r) => r,
        other => panic!("a sync gives a run report, not {other:?}"),
    };
    assert_eq!(report.outcome, RunOutcome::Converged);
    let mut stages: Vec<Stage> = events
        .iter()
        .filter_map(|e| match e {
            Event::Stage { stage, .. } => Some(*stage),
            _ => None,
        })
        .collect();
    // Apply announces each of its phases (users, groups, memberships).
    stages.dedup();
    assert_eq!(
        stages,
        [
            Stage::SignIn,
            Stage::Observe,
            Stage::Plan,
            Stage::Apply,
            Stage::Record
        ]
    );
    let succeeded = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Operation {
                    status: OperationStatus::Success,
                    ..
                }
            )
        })
        .count();
    assert_eq!(succeeded, report.applied.succeeded);

    // The engine comes back usable: a check on the same job.
    let run = engine.start(Work::Check).unwrap();
    let (_, result) = run.wait();
    match result.unwrap() {
        WorkOutput::Check(c) => assert!(c.passed(), "{c:#?}"),
        other => panic!("a check gives a check report, not {other:?}"),
    }
}

#[test]
fn a_started_run_cancelled_at_once_applies_nothing_and_says_so() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let engine = Engine::open_with_clock(&job, world.engine_clock()).unwrap();
    let run = engine.start(Work::Sync(SyncRequest::default())).unwrap();
    run.cancel();
    let (_, result) = run.wait();
    let WorkOutput::Run(report) = result.expect("a cancelled run still reports") else {
        panic!("a sync gives a run report");
    };
    assert_eq!(report.outcome, RunOutcome::Cancelled);
    assert_eq!(report.applied.succeeded, 0);
    assert!(
        world
            .target_user_for(
                text(&world.source().state().users[0], "id")
                    .as_deref()
                    .unwrap()
            )
            .is_none()
    );
}

#[test]
fn a_second_owned_run_of_a_job_is_refused_while_one_holds_it() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    // The first run holds the job's lock from its start until it ends; a cycle opened on a
    // second engine meanwhile fails with Busy. The lock is taken before signing in, so a
    // Busy answer is certain once the first run has emitted its first event.
    let first = Engine::open_with_clock(&job, world.engine_clock())
        .unwrap()
        .start(Work::Sync(SyncRequest::default()))
        .unwrap();
    let mut seen = first.poll_timeout(Duration::from_secs(60));
    assert!(!seen.is_empty(), "the first run started");
    let second = Engine::open_with_clock(&job, world.engine_clock())
        .unwrap()
        .start(Work::Sync(SyncRequest::default()))
        .unwrap();
    let (_, r2) = second.wait();
    seen.extend(first.poll());
    let (_, r1) = first.wait();
    // Unless the first run had already finished when the second began.
    match r2 {
        Err(SyncError::Busy { .. }) => {}
        Ok(_) => assert!(seen.iter().any(|e| matches!(
            e,
            Event::Stage {
                stage: Stage::Record,
                ..
            }
        ))),
        Err(other) => panic!("expected Busy, got {other}"),
    }
    assert!(r1.is_ok());
}

//! What protects the tenants and the secrets: a wrong secret writes nothing, the deletion
//! threshold refuses, secrets stay out of every output, failing objects are escrowed.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tenantsync_core::{Event, LogFilter, NoEvents, Operation, RunOutcome, SyncRequest};
use tenantsync_emulator::SeedSpec;
use tenantsync_tests::{World, small_seed, text};

fn users_only() -> SeedSpec {
    SeedSpec {
        seed: 11,
        users: 6,
        ..SeedSpec::default()
    }
}

/// Adds `count` source users (`{alias}{i}`, `{name}{i}`) and a group "Team" holding them,
/// writes a job assigning that group with `options` (TOML) and runs a first cycle, which must
/// converge. Returns the users' ids and the job's path.
fn synced_team(
    world: &World,
    count: usize,
    alias: &str,
    name: &str,
    options: &str,
) -> (Vec<String>, PathBuf) {
    let ids: Vec<String> = (0..count)
        .map(|i| world.add_source_user(&format!("{alias}{i}"), &format!("{name}{i}")))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let group = world.add_source_group("Team", &refs);
    let job = world.write_job(std::slice::from_ref(&group), options);
    assert_eq!(
        world.run(&job, SyncRequest::default()).outcome,
        RunOutcome::Converged
    );
    (ids, job)
}

/// Adds an enabled source user (`{alias}@contoso.onmicrosoft.com`) whose mail,
/// `{alias}@invalid`, the target's invitation refuses (its domain has no dot), so creating it
/// in the target fails until the mail is fixed. Returns its id.
fn add_failing_user(world: &World, alias: &str, display_name: &str) -> String {
    let user = world
        .source()
        .add_user(json!({
            "userPrincipalName": format!("{alias}@contoso.onmicrosoft.com"),
            "mail": format!("{alias}@invalid"),
            "displayName": display_name,
            "accountEnabled": true,
        }))
        .unwrap();
    text(&user, "id").unwrap()
}

/// Adds Ada, a user that syncs, Eve, one that fails (see [`add_failing_user`]), and a group
/// "Team" holding both to the source. Returns the ids of Ada, Eve and the group.
fn team_with_a_failing_user(world: &World) -> (String, String, String) {
    let a = world.add_source_user("ada.a", "Ada A");
    let eve = add_failing_user(world, "eve.escrow", "Eve Escrow");
    let group = world.add_source_group("Team", &[&a, &eve]);
    (a, eve, group)
}

#[test]
fn a_wrong_secret_fails_clearly_and_writes_nothing() {
    let world = World::new(small_seed());
    let wrong = "Wr0ng-Secret-Value~42";
    world.secret_file("target", Some(wrong));
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let err = world
        .try_run(&job, SyncRequest::default(), &NoEvents)
        .expect_err("a wrong secret fails the cycle");
    let message = err.to_string();
    assert!(err.is_configuration(), "{message}");
    assert!(message.contains("target"), "{message}");
    assert!(
        message.contains(&world.target_id) && message.contains(world.target_client_id()),
        "names the tenant and the client: {message}"
    );
    assert!(message.contains("AADSTS7000215"), "{message}");
    assert!(!message.contains(wrong), "the secret leaks: {message}");
    assert!(
        !format!("{err:?}").contains(wrong),
        "the secret leaks in Debug"
    );
    let target = world.target().state();
    assert!(target.users.is_empty() && target.groups.is_empty());
    assert_eq!(
        world
            .target()
            .request_counts()
            .iter()
            .filter(|(k, _)| k.starts_with("POST") || k.starts_with("PATCH"))
            .count(),
        0,
        "nothing was written"
    );
}

#[test]
fn the_deletion_threshold_refuses_and_lists_what_would_go() {
    let world = World::new(users_only());
    let (ids, job) = synced_team(
        &world,
        6,
        "del.user",
        "Del User",
        "[options]\ndeletion_threshold = 3\n",
    );
    for id in &ids[..5] {
        world.source().delete_user(id).unwrap();
    }
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(report.outcome, RunOutcome::Refused);
    let refused = report.plan.refused.as_ref().expect("refused");
    assert!(report.plan.operations.is_empty());
    let going: Vec<&str> = refused
        .would_deprovision
        .iter()
        .filter_map(|o| match o {
            Operation::DeleteUser { source_id, .. } => Some(source_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(going.len(), 5, "{}", report.plan.to_json_pretty());
    let target = world.target().state();
    assert_eq!(target.users.len(), 6, "nothing deleted");
    assert!(target.deleted_items.is_empty());
    assert_eq!(report.applied.succeeded, 0);

    // Allowed once: the deletions go through.
    let report = world.run(
        &job,
        SyncRequest {
            allow_deletes: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(report.outcome, RunOutcome::Converged);
    assert_eq!(world.target().state().users.len(), 1);
}

#[test]
fn secrets_appear_nowhere_and_the_log_has_old_and_new_values() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let events = Mutex::new(Vec::new());
    let sink = |e: Event| events.lock().unwrap().push(e);
    let first = world
        .try_run(&job, SyncRequest::default(), &sink)
        .expect("runs");
    assert_eq!(first.outcome, RunOutcome::Converged);
    let user = world
        .open_state()
        .anchors()
        .unwrap()
        .into_keys()
        .find(|id| world.target_user_for(id).is_some())
        .expect("a synchronized user");
    world
        .source()
        .update_user(&user, json!({"jobTitle": "Chief Tester"}))
        .unwrap();
    let second = world
        .try_run(&job, SyncRequest::default(), &sink)
        .expect("runs");
    assert_eq!(second.outcome, RunOutcome::Converged);
    // A dry run, and a failing run with a wrong secret, leave nothing either.
    let dry = world.run(
        &job,
        SyncRequest {
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    world.secret_file("source", Some("Another-Wrong-Secret~7"));
    let failed = world
        .try_run(&job, SyncRequest::default(), &sink)
        .expect_err("wrong secret");

    let state = world.state_path();
    let mut haystack: Vec<(String, Vec<u8>)> = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", state.display());
        if let Ok(bytes) = std::fs::read(&path) {
            haystack.push((path, bytes));
        }
    }
    assert!(!haystack.is_empty(), "the state file exists");
    for (name, report) in [("first", &first), ("second", &second), ("dry", &dry)] {
        haystack.push((
            format!("{name} report"),
            serde_json::to_vec(report).unwrap(),
        ));
        haystack.push((
            format!("{name} plan"),
            report.plan.to_json_pretty().into_bytes(),
        ));
    }
    haystack.push((
        "events".into(),
        serde_json::to_vec(&*events.lock().unwrap()).unwrap(),
    ));
    haystack.push(("error".into(), format!("{failed} {failed:?}").into_bytes()));
    let log = world.open_state().logs(&LogFilter::default()).unwrap();
    haystack.push(("log".into(), serde_json::to_vec(&log).unwrap()));
    for secret in world
        .secrets()
        .into_iter()
        .chain(["Another-Wrong-Secret~7"])
    {
        for (name, bytes) in &haystack {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret {secret} appears in {name}"
            );
        }
    }

    // The provisioning log: one entry per object and action, with old and new values.
    let created = log
        .iter()
        .find(|e| e.action == "createUser" && e.source_id.as_deref() == Some(user.as_str()))
        .expect("the creation is logged");
    assert_eq!(created.status, "success");
    assert!(created.target_id.is_some());
    assert!(
        created
            .changes
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x["attribute"] == "displayName")),
        "{}",
        created.changes
    );
    let updated = log
        .iter()
        .find(|e| e.action == "updateUser" && e.source_id.as_deref() == Some(user.as_str()))
        .expect("the update is logged");
    assert_eq!(updated.changes[0]["attribute"], "jobTitle");
    assert_eq!(updated.changes[0]["new"], "Chief Tester");
    assert!(!updated.changes[0]["old"].is_null());
    assert!(log.iter().any(|e| e.action == "createGroup"));
    assert!(
        log.iter().any(|e| e.kind == "membership")
            || first
                .plan
                .operations
                .iter()
                .all(|o| o.kind() != "addMember")
    );
}

#[test]
fn a_failing_object_is_escrowed_while_the_rest_syncs_then_retried() {
    let world = World::new(users_only());
    let (a, eve, group) = team_with_a_failing_user(&world);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Escrowed, "{:#?}", first.applied);
    assert_eq!(first.applied.failed.len(), 1, "{:#?}", first.applied);
    assert_eq!(first.applied.failed[0].op.as_str(), "createUser");
    assert!(world.target_user_for(&a).is_some(), "the others still sync");
    let tg = world
        .target_group_for(&group)
        .expect("the group is created");
    assert_eq!(
        world.target().state().memberships[&text(&tg, "id").unwrap()].len(),
        1
    );
    let escrows = world.open_state().escrows().unwrap();
    let escrow = escrows
        .iter()
        .find(|e| e.object_key == format!("user:{eve}"))
        .expect("escrowed");
    assert_eq!(escrow.attempts, 1);
    assert!(escrow.next_attempt_at > escrow.first_failed_at);
    assert!(!escrow.error_message.is_empty());

    // Still failing after the wait: the next wait doubles.
    let first_wait = (escrow.next_attempt_at - escrow.first_failed_at).num_milliseconds();
    world.advance(Duration::from_millis(1_100));
    let second = world.run(&job, SyncRequest::default());
    assert_eq!(second.applied.failed.len(), 1, "{:#?}", second.applied);
    let again = world
        .open_state()
        .escrows()
        .unwrap()
        .into_iter()
        .find(|e| e.object_key == format!("user:{eve}"))
        .expect("still escrowed");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.first_failed_at, escrow.first_failed_at);
    let second_wait = (again.next_attempt_at - second.started_at).num_milliseconds();
    assert!(
        second_wait > first_wait + 500,
        "waits of {first_wait} ms then {second_wait} ms"
    );

    // The cause goes away: a later cycle provisions it and clears the escrow.
    world
        .source()
        .update_user(&eve, json!({"mail": "eve.escrow@contoso.onmicrosoft.com"}))
        .unwrap();
    world.advance(Duration::from_millis(2_100));
    let reports = world.converge(&job, 4, Duration::from_secs(1));
    assert!(reports.iter().all(|r| r.applied.failed.is_empty()));
    assert!(world.target_user_for(&eve).is_some());
    assert!(world.open_state().escrows().unwrap().is_empty());
    world.assert_converged(std::slice::from_ref(&group));
}

#[test]
fn an_escrowed_object_waits_but_on_demand_provisions_it_now() {
    let world = World::new(users_only());
    let (_, eve, group) = team_with_a_failing_user(&world);
    let job = world.write_job(std::slice::from_ref(&group), "escrow_retry = \"1h\"");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Escrowed);
    world
        .source()
        .update_user(&eve, json!({"mail": "eve.escrow@contoso.onmicrosoft.com"}))
        .unwrap();

    // Within the escrow wait, a cycle leaves it alone.
    let waiting = world.run(&job, SyncRequest::default());
    assert_eq!(
        waiting.outcome,
        RunOutcome::Escrowed,
        "{:#?}",
        waiting.applied
    );
    assert!(waiting.applied.failed.is_empty());
    assert!(waiting.applied.skipped >= 1);
    assert!(world.target_user_for(&eve).is_none());

    // On demand, now.
    let now = world.run(
        &job,
        SyncRequest {
            only: Some(eve.clone()),
            ..SyncRequest::default()
        },
    );
    assert_eq!(now.outcome, RunOutcome::Converged, "{:#?}", now.applied);
    assert!(world.target_user_for(&eve).is_some());
    assert!(world.open_state().escrows().unwrap().is_empty());
    // Its membership follows with the next cycle (on demand for a user touches only it).
    let next = world.run(&job, SyncRequest::default());
    assert_eq!(next.outcome, RunOutcome::Converged, "{:#?}", next.applied);
    world.assert_converged(std::slice::from_ref(&group));
}

#[test]
fn a_dry_run_writes_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.init(&job);
    world.target().reset_counts();
    let report = world.run(
        &job,
        SyncRequest {
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(report.outcome, RunOutcome::DryRun);
    assert!(report.plan.operations.len() > 10);
    assert_eq!(report.applied.succeeded, 0);
    let writes: Vec<_> = world
        .target()
        .request_counts()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("GET") && k != "429")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let target = world.target().state();
    assert!(target.users.is_empty() && target.groups.is_empty());
    assert!(world.open_state().anchors().unwrap().is_empty());
}

#[test]
fn a_cycle_that_mostly_fails_quarantines_the_job() {
    let world = World::new(users_only());
    let broken: Vec<String> = (0..4)
        .map(|i| add_failing_user(&world, &format!("bad{i}"), &format!("Bad {i}")))
        .collect();
    let refs: Vec<&str> = broken.iter().map(String::as_str).collect();
    let group = world.add_source_group("Broken", &refs);
    let job = world.write_job(
        std::slice::from_ref(&group),
        "quarantine_min_failures = 3\nquarantine_percent = 50.0",
    );
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(
        first.outcome,
        RunOutcome::Quarantined,
        "{:#?}",
        first.applied
    );
    let q = first.quarantine.as_ref().expect("quarantine");
    assert_eq!(q.reason, "EncounteredEscrowProportionThreshold");
    assert!(q.next_attempt_at > first.started_at);
    assert!(world.open_state().quarantine().unwrap().is_some());

    // The next cycle does not run at all.
    world.target().reset_counts();
    let second = world.run(&job, SyncRequest::default());
    assert_eq!(second.outcome, RunOutcome::Quarantined);
    assert!(second.plan.operations.is_empty());
    let writes = world
        .target()
        .request_counts()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("GET"))
        .count();
    assert_eq!(writes, 0, "a quarantined job writes nothing");

    // On demand still runs for the object an admin fixed.
    world
        .source()
        .update_user(&broken[0], json!({"mail": "bad0@contoso.onmicrosoft.com"}))
        .unwrap();
    let fixed = world.run(
        &job,
        SyncRequest {
            only: Some(broken[0].clone()),
            ..SyncRequest::default()
        },
    );
    assert_eq!(fixed.applied.failed.len(), 0, "{:#?}", fixed.applied);
    assert!(world.target_user_for(&broken[0]).is_some());
}

#[test]
fn disables_and_a_percentage_count_towards_the_deletion_threshold() {
    let world = World::new(users_only());
    let (ids, job) = synced_team(
        &world,
        8,
        "thr.user",
        "Thr User",
        "[options]\ndeletion_threshold = 100\ndeletion_threshold_percent = 20.0\n",
    );
    // 3 disables of 9 managed objects: over 20 %.
    for id in &ids[..3] {
        world
            .source()
            .update_user(id, json!({"accountEnabled": false}))
            .unwrap();
    }
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Refused,
        "{}",
        report.plan.to_json_pretty()
    );
    assert_eq!(
        report
            .plan
            .refused
            .as_ref()
            .unwrap()
            .would_deprovision
            .len(),
        3
    );
    assert!(
        world
            .target()
            .state()
            .users
            .iter()
            .all(|u| u["accountEnabled"] == true),
        "nobody was disabled"
    );
    // One disable is under the threshold.
    for id in &ids[1..3] {
        world
            .source()
            .update_user(id, json!({"accountEnabled": true}))
            .unwrap();
    }
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{}",
        report.plan.to_json_pretty()
    );
    assert_eq!(
        world.target_user_for(&ids[0]).unwrap()["accountEnabled"],
        false
    );
}

#[test]
fn two_cycles_of_one_job_at_once_create_no_duplicate() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| world.try_run(&job, SyncRequest::default(), &NoEvents));
        let b = s.spawn(|| world.try_run(&job, SyncRequest::default(), &NoEvents));
        [a.join().unwrap(), b.join().unwrap()]
            .into_iter()
            .map(|r| r.map(|r| r.outcome).map_err(|e| e.to_string()))
            .collect()
    });
    assert!(outcomes.iter().any(Result::is_ok), "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|r| r.as_ref().err()) {
        assert!(refused.contains("another cycle of this job"), "{refused}");
    }
    let target = world.target().state();
    tenantsync_tests::assert_no_duplicates(&target, &world.anchor_attribute());
    world.converge(&job, 3, Duration::from_millis(200));
    world.assert_converged(&groups);

    // Deterministically: a second cycle started while the first one applies is refused.
    let user = world.add_source_user("busy.bee", "Busy Bee");
    world.source().add_member(&groups[0], &user).unwrap();
    let second: Mutex<Option<Result<RunOutcome, String>>> = Mutex::new(None);
    let sink = |e: Event| {
        if matches!(
            e,
            Event::Stage {
                stage: tenantsync_core::Stage::Apply,
                ..
            }
        ) && second.lock().unwrap().is_none()
        {
            let r = std::thread::scope(|s| {
                s.spawn(|| world.try_run(&job, SyncRequest::default(), &NoEvents))
                    .join()
                    .unwrap()
            });
            *second.lock().unwrap() = Some(r.map(|r| r.outcome).map_err(|e| e.to_string()));
        }
    };
    let first = world.try_run(&job, SyncRequest::default(), &sink).unwrap();
    assert_eq!(first.outcome, RunOutcome::Converged);
    let second = second.into_inner().unwrap().expect("the second cycle ran");
    let refused = second.expect_err("refused while the first one runs");
    assert!(refused.contains("another cycle of this job"), "{refused}");
    assert!(world.target_user_for(&user).is_some());
    // Once the first cycle is over, the next one runs.
    assert_eq!(
        world.run(&job, SyncRequest::default()).outcome,
        RunOutcome::Converged
    );
}

#[test]
fn an_escrowed_object_that_leaves_the_scope_leaves_the_escrow() {
    let world = World::new(users_only());
    let (_, eve, group) = team_with_a_failing_user(&world);
    let job = world.write_job(std::slice::from_ref(&group), "");
    assert_eq!(
        world.run(&job, SyncRequest::default()).outcome,
        RunOutcome::Escrowed
    );
    assert_eq!(world.open_state().escrows().unwrap().len(), 1);
    world.source().remove_member(&group, &eve).unwrap();
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{:#?}",
        report.applied
    );
    let escrows = world.open_state().escrows().unwrap();
    assert!(
        escrows.is_empty(),
        "nothing is left to retry for an object out of scope: {escrows:#?}"
    );
}

//! The sync cycle end to end against the emulator: first and incremental syncs, on-demand
//! provisioning, and a watch loop.

use std::path::Path;
use std::time::Duration;

use tenantsync_core::{
    CancelToken, Engine, Event, NoEvents, Operation, OperationStatus, PlanKind, RunOutcome,
    RunReport, Stage, SyncRequest,
};
use tenantsync_emulator::TenantState;
use tenantsync_tests::{World, nested_group_ids, small_seed, text};

/// The kinds of the plan's operations, in order.
fn kinds(report: &RunReport) -> Vec<&'static str> {
    report.plan.operations.iter().map(Operation::kind).collect()
}

/// Ids of the source's plain security groups that are not nested in another group.
fn top_security_groups(world: &World) -> Vec<String> {
    let nested = nested_group_ids(&world.source().state());
    world
        .source_security_group_ids()
        .into_iter()
        .filter(|id| !nested.contains(id))
        .collect()
}

/// Whether `id` is an enabled user of `state`.
fn is_enabled_user(state: &TenantState, id: &str) -> bool {
    state
        .users
        .iter()
        .any(|u| text(u, "id").as_deref() == Some(id) && u["accountEnabled"] == true)
}

/// Provisions `object` on demand with the job at `job` (one cycle for it alone), which must
/// converge, and returns the cycle's report.
fn provision(world: &World, job: &Path, object: &str) -> RunReport {
    let report = world.run(
        job,
        SyncRequest {
            only: Some(object.to_string()),
            ..SyncRequest::default()
        },
    );
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{:#?}",
        report.applied
    );
    report
}

#[test]
fn first_sync_then_a_second_converged_cycle_does_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let first = world.run(&job, SyncRequest::default());
    assert!(first.full_read);
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    assert!(first.applied.succeeded > 10);
    world.assert_converged(&groups);

    let second = world.run(&job, SyncRequest::default());
    assert!(!second.full_read, "the second cycle reads by delta");
    assert_eq!(second.outcome, RunOutcome::Converged);
    assert!(
        second.plan.operations.is_empty(),
        "{}",
        second.plan.to_json_pretty()
    );
}

#[test]
fn incremental_cycles_carry_new_users_renames_memberships_and_deletions_by_delta() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);

    let source = world.source();
    let (g0, g1) = (&groups[0], &groups[1]);
    // A new user in g0; g1 renamed; a member of g0 moved to g1; a member of g1 deleted.
    let new_user = world.add_source_user("nina.new", "Nina New");
    source.add_member(g0, &new_user).unwrap();
    source
        .update_group(g1, serde_json::json!({"displayName": "Renamed Group"}))
        .unwrap();
    let state = source.state();
    let only_in = |g: &str, other: &str| -> String {
        state.memberships[g]
            .iter()
            .find(|m| {
                !state.memberships[other].contains(m)
                    && is_enabled_user(&state, m)
                    && world.target_user_for(m).is_some()
            })
            .cloned()
            .expect("a synchronized member only in one group")
    };
    let moved = only_in(g0, g1);
    source.remove_member(g0, &moved).unwrap();
    source.add_member(g1, &moved).unwrap();
    let deleted = state.memberships[g1]
        .iter()
        .find(|m| {
            **m != moved
                && world.target_user_for(m).is_some()
                && groups
                    .iter()
                    .filter(|g| state.memberships[*g].contains(m))
                    .count()
                    == 1
        })
        .cloned()
        .expect("a synchronized member of g1 only");
    let deleted_target = text(&world.target_user_for(&deleted).unwrap(), "id").unwrap();
    source.delete_user(&deleted).unwrap();

    let second = world.run(&job, SyncRequest::default());
    assert!(!second.full_read, "the second cycle reads by delta");
    assert_eq!(
        second.outcome,
        RunOutcome::Converged,
        "{:#?}",
        second.applied
    );
    let k = kinds(&second);
    assert!(k.contains(&"createUser"), "{k:?}");
    assert!(k.contains(&"updateGroup"), "{k:?}");
    assert!(
        k.contains(&"addMember") && k.contains(&"removeMember"),
        "{k:?}"
    );
    assert!(k.contains(&"deleteUser"), "{k:?}");
    assert!(
        second.source_changes < 10,
        "only the changes were read: {}",
        second.source_changes
    );

    world.assert_converged(&groups);
    let target = world.target().state();
    assert!(world.target_user_for(&new_user).is_some());
    assert_eq!(
        text(&world.target_group_for(g1).unwrap(), "displayName").as_deref(),
        Some("Renamed Group")
    );
    assert!(world.target_user_for(&deleted).is_none());
    assert!(
        target
            .deleted_items
            .iter()
            .any(|d| text(&d.object, "id").as_deref() == Some(deleted_target.as_str())),
        "the deleted user is soft-deleted in the target"
    );
    let third = world.run(&job, SyncRequest::default());
    assert!(third.plan.operations.is_empty(), "{:?}", kinds(&third));
}

#[test]
fn on_demand_provisions_one_user_and_touches_nothing_else() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let state = world.source().state();
    let user = state.memberships[&groups[0]]
        .iter()
        .find(|m| is_enabled_user(&state, m))
        .cloned()
        .unwrap();
    let report = provision(&world, &job, &user);
    assert_eq!(kinds(&report), vec!["createUser"]);
    let target = world.target().state();
    assert_eq!(target.users.len(), 1, "only the one user exists");
    assert!(target.groups.is_empty());
    assert!(world.target_user_for(&user).is_some());
}

#[test]
fn on_demand_provisions_one_group_with_its_members_only() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let group = groups[0].clone();
    provision(&world, &job, &group);
    let source = world.source().state();
    let target = world.target().state();
    assert_eq!(target.groups.len(), 1, "only the one group exists");
    let tg = world
        .target_group_for(&group)
        .expect("the group is created");
    let members = &source.memberships[&group];
    let expected: std::collections::BTreeSet<String> = members
        .iter()
        .filter(|m| is_enabled_user(&source, m))
        .filter_map(|m| tenantsync_tests::mail_of(&source, m))
        .collect();
    assert_eq!(
        tenantsync_tests::member_mails(&target, &text(&tg, "id").unwrap()),
        expected
    );
    assert_eq!(
        target.users.len(),
        expected.len(),
        "no other user was created"
    );
}

#[test]
fn a_watch_loop_carries_a_change_within_one_interval() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    // Keys before any table header land in `[sync]`.
    let job = world.write_job(&groups, "interval = \"1s\"");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .unwrap();
    let new_user = world.add_source_user("walt.watch", "Walt Watch");
    let (reached, cycles) = runtime.block_on(async {
        let mut engine = Engine::open_with_clock(&job, world.engine_clock()).unwrap();
        let clock = engine.clock().clone();
        let interval = engine.interval();
        assert_eq!(interval, Duration::from_secs(1));
        let mut changed_at: Option<chrono::DateTime<chrono::Utc>> = None;
        for cycle in 0..6 {
            let report = engine
                .run(&SyncRequest::default(), &NoEvents, &CancelToken::new())
                .await
                .unwrap();
            assert_eq!(
                report.outcome,
                RunOutcome::Converged,
                "{:#?}",
                report.applied
            );
            if let Some(at) = changed_at
                && world.target_user_for(&new_user).is_some()
            {
                return ((clock.now() - at).to_std().unwrap(), cycle);
            }
            if cycle == 1 {
                // A change made while the loop sleeps.
                world.source().add_member(&groups[0], &new_user).unwrap();
                changed_at = Some(clock.now());
            }
            // The pause between cycles, on the shared clock: nothing sleeps.
            clock.sleep(interval).await;
        }
        panic!("the change never reached the target");
    });
    assert_eq!(cycles, 2, "the first cycle after the change carried it");
    // On the shared clock (not measured time): the change reached the target one interval
    // after it was made, the cycles themselves waited for nothing.
    assert_eq!(
        reached,
        Duration::from_secs(1),
        "the change took {reached:?}"
    );
    world.assert_converged(&groups);
}

#[test]
fn on_demand_for_a_synchronized_group_applies_its_membership_changes_only() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    assert_eq!(
        world.run(&job, SyncRequest::default()).outcome,
        RunOutcome::Converged
    );
    let (g0, g1) = (&groups[0], &groups[1]);
    let state = world.source().state();
    let leaving = state.memberships[g0]
        .iter()
        .find(|m| world.target_user_for(m).is_some())
        .unwrap()
        .clone();
    world.source().remove_member(g0, &leaving).unwrap();
    let joining = world.add_source_user("otto.ondemand", "Otto Ondemand");
    world.source().add_member(g0, &joining).unwrap();
    // An unrelated change that on demand must leave for the next cycle.
    let other = world.add_source_user("una.unrelated", "Una Unrelated");
    world.source().add_member(g1, &other).unwrap();

    let report = provision(&world, &job, g0);
    let mut k = kinds(&report);
    k.sort_unstable();
    assert_eq!(
        k,
        vec!["addMember", "createUser", "removeMember"],
        "{}",
        report.plan.to_json_pretty()
    );
    assert!(world.target_user_for(&joining).is_some());
    assert!(
        world.target_user_for(&other).is_none(),
        "nothing else was touched"
    );
    let tg = text(&world.target_group_for(g0).unwrap(), "id").unwrap();
    let target = world.target().state();
    let leaving_target = world
        .target_user_for(&leaving)
        .map(|u| text(&u, "id").unwrap());
    if let Some(l) = leaving_target {
        assert!(!target.memberships[&tg].contains(&l));
    }
    let next = world.run(&job, SyncRequest::default());
    assert_eq!(next.outcome, RunOutcome::Converged);
    assert!(world.target_user_for(&other).is_some());
    world.assert_converged(&groups);
}

#[test]
fn a_cycle_reports_its_stages_operations_and_history() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let events = std::sync::Mutex::new(Vec::new());
    let sink = |e: Event| events.lock().unwrap().push(e);
    let first = world.try_run(&job, SyncRequest::default(), &sink).unwrap();
    let events = events.into_inner().unwrap();
    let mut stages: Vec<Stage> = events
        .iter()
        .filter_map(|e| match e {
            Event::Stage { stage, .. } => Some(*stage),
            _ => None,
        })
        .collect();
    // Apply announces each kind of operation as it starts it.
    stages.dedup();
    assert_eq!(
        stages,
        vec![
            Stage::SignIn,
            Stage::Observe,
            Stage::Plan,
            Stage::Apply,
            Stage::Record
        ]
    );
    let operations = events
        .iter()
        .filter(
            |e| matches!(e, Event::Operation { status, .. } if *status == OperationStatus::Success),
        )
        .count();
    assert_eq!(operations, first.applied.succeeded);
    assert_eq!(operations, first.plan.operations.len());

    // A full read when asked, then the history of the runs.
    let full = world.run(
        &job,
        SyncRequest {
            full: true,
            ..SyncRequest::default()
        },
    );
    assert!(full.full_read);
    assert!(full.plan.operations.is_empty());
    let runs = world.open_state().runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.outcome.as_deref() == Some("converged"))
    );
    let modes: std::collections::BTreeSet<&str> = runs.iter().map(|r| r.mode.as_str()).collect();
    assert!(modes.contains("full"), "{modes:?}");

    // The provisioning log, per object.
    let user = first
        .plan
        .operations
        .iter()
        .find_map(|o| match o {
            Operation::CreateUser { source_id, .. } => Some(source_id.clone()),
            _ => None,
        })
        .unwrap();
    let log = world
        .open_state()
        .logs(&tenantsync_core::LogFilter {
            object: Some(user.clone()),
            ..Default::default()
        })
        .unwrap();
    assert!(!log.is_empty());
    assert!(
        log.iter()
            .all(|e| e.source_id.as_deref() == Some(user.as_str())
                || e.target_id.as_deref() == Some(user.as_str()))
    );
    assert!(
        log.iter()
            .any(|e| e.action == "createUser" && e.status == "success")
    );
}

#[test]
fn the_target_is_read_by_delta_drift_is_reverted_and_deleted_items_are_read_only_to_restore() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    // The cycle after the first sync reads the first sync's own writes by delta.
    world.run(&job, SyncRequest::default());

    // A quiet cycle: one delta round of users and one of groups per side, no deleted items.
    let (source, target) = (world.source(), world.target());
    source.reset_counts();
    target.reset_counts();
    let quiet = world.run(&job, SyncRequest::default());
    assert!(
        quiet.plan.operations.is_empty(),
        "{}",
        quiet.plan.to_json_pretty()
    );
    let reads: u64 = target.request_counts().values().sum();
    let counts = target.request_counts();
    assert_eq!(reads, 2, "target requests of a quiet cycle: {counts:?}");
    assert!(
        !counts.keys().any(|k| k.contains("deletedItems")),
        "{counts:?}"
    );

    // Drift made in the target by someone else arrives by the target's delta and is reverted.
    let member = world.source().state().memberships[&groups[0]]
        .iter()
        .find(|m| world.target_user_for(m).is_some())
        .cloned()
        .expect("a synchronized member");
    let target_user = world.target_user_for(&member).expect("synchronized");
    let target_id = text(&target_user, "id").expect("id");
    let name = text(&target_user, "displayName");
    target
        .update_user(
            &target_id,
            serde_json::json!({"displayName": "Changed By Hand"}),
        )
        .unwrap();
    let reverted = world.run(&job, SyncRequest::default());
    assert_eq!(kinds(&reverted), vec!["updateUser"]);
    assert_eq!(
        text(&world.target_user_for(&member).unwrap(), "displayName"),
        name
    );

    // A managed user soft-deleted in the target: the delta reports it, the deleted items are
    // read for it, and it is restored.
    target.reset_counts();
    target.delete_user(&target_id).unwrap();
    let restored = world.run(&job, SyncRequest::default());
    assert!(
        kinds(&restored).contains(&"restoreUser"),
        "{}",
        restored.plan.to_json_pretty()
    );
    assert!(
        target
            .request_counts()
            .keys()
            .any(|k| k.contains("deletedItems")),
        "{:?}",
        target.request_counts()
    );
    assert!(world.target_user_for(&member).is_some());
    world.assert_converged(&groups);

    // A day later ([sync] full_reconcile's default), a cycle reads both tenants in full.
    assert!(!world.run(&job, SyncRequest::default()).full_read);
    world.advance(Duration::from_secs(86_400));
    target.reset_counts();
    let reconciled = world.run(&job, SyncRequest::default());
    assert!(reconciled.full_read);
    assert!(
        reconciled.plan.operations.is_empty(),
        "{}",
        reconciled.plan.to_json_pretty()
    );
    assert!(
        target
            .request_counts()
            .keys()
            .any(|k| k.contains("deletedItems"))
    );
}

/// A cycle whose four collections all have delta links sends their rounds at once: with each
/// request taking a while, the emulator sees all four in flight together. A full read (no
/// links yet) reads one collection at a time.
#[test]
fn a_delta_cycle_sends_its_four_rounds_at_once() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    world.converge(&job, 6, Duration::from_secs(1));
    // Every request waits a little, so that requests sent together overlap in the emulator.
    let slow = tenantsync_emulator::Knobs {
        latency: Some(tenantsync_emulator::LatencyKnobs {
            fixed_ms: 400,
            jitter_ms: 0,
        }),
        ..tenantsync_emulator::Knobs::default()
    };
    world.source().set_knobs(slow.clone());
    world.target().set_knobs(slow);
    world.emulator.peak_graph_requests_in_flight(true);
    let quiet = world.run(&job, SyncRequest::default());
    assert!(!quiet.full_read && quiet.plan.operations.is_empty());
    assert_eq!(
        world.emulator.peak_graph_requests_in_flight(false),
        4,
        "the four delta rounds were in flight together"
    );
    // A full read keeps one round in flight at a time.
    world.emulator.peak_graph_requests_in_flight(true);
    let full = world.run(
        &job,
        SyncRequest {
            full: true,
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    assert!(full.full_read);
    assert_eq!(world.emulator.peak_graph_requests_in_flight(false), 1);
}

#[test]
fn one_engine_across_cycles_keeps_its_caches_in_memory_and_still_sees_every_change() {
    let world = World::new(small_seed());
    let groups = top_security_groups(&world);
    let job = world.write_job(&groups, "");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let mut engine = Engine::open_with_clock(&job, world.engine_clock()).expect("engine");
    let mut cycle = || {
        runtime
            .block_on(engine.run(&SyncRequest::default(), &NoEvents, &CancelToken::new()))
            .expect("the cycle runs")
    };
    assert_eq!(cycle().outcome, RunOutcome::Converged);
    cycle();
    // Quiet cycles (the second one plans nothing new and reuses the plan).
    assert!(cycle().plan.operations.is_empty());
    assert!(cycle().plan.operations.is_empty());
    // A change in the source, then drift in the target: each is carried by the next cycle.
    let member = world.source().state().memberships[&groups[0]]
        .iter()
        .find(|m| world.target_user_for(m).is_some())
        .cloned()
        .expect("a synchronized member");
    world
        .source()
        .update_user(
            &member,
            serde_json::json!({"displayName": "Renamed At Source"}),
        )
        .unwrap();
    // Planned incrementally: the renamed user alone, then the same user's write read back.
    let renamed = cycle();
    assert_eq!(kinds(&renamed), vec!["updateUser"]);
    assert_eq!(
        renamed.planned,
        Some(PlanKind::Incremental {
            users: 1,
            groups: 0
        })
    );
    let read_back = cycle();
    assert!(read_back.plan.operations.is_empty());
    assert!(
        matches!(
            read_back.planned,
            Some(PlanKind::Incremental { users: 1, .. })
        ),
        "{:?}",
        read_back.planned
    );
    let target_id = text(&world.target_user_for(&member).unwrap(), "id").unwrap();
    world
        .target()
        .update_user(&target_id, serde_json::json!({"displayName": "Drifted"}))
        .unwrap();
    let reverted = cycle();
    assert_eq!(kinds(&reverted), vec!["updateUser"]);
    assert!(
        matches!(reverted.planned, Some(PlanKind::Incremental { .. })),
        "{:?}",
        reverted.planned
    );
    assert_eq!(
        text(&world.target_user_for(&member).unwrap(), "displayName").as_deref(),
        Some("Renamed At Source")
    );
    assert!(cycle().plan.operations.is_empty());
    // The member added to a second group, then removed from the first (so it stays in scope):
    // each time the group is planned again, with its membership.
    let second = groups
        .iter()
        .find(|g| !world.source().state().memberships[*g].contains(&member))
        .expect("a group the member is not in")
        .clone();
    world.source().add_member(&second, &member).unwrap();
    let added = cycle();
    assert_eq!(kinds(&added), vec!["addMember"]);
    assert!(
        matches!(added.planned, Some(PlanKind::Incremental { groups: 1, .. })),
        "{:?}",
        added.planned
    );
    assert!(cycle().plan.operations.is_empty());
    world.source().remove_member(&groups[0], &member).unwrap();
    let removed = cycle();
    assert_eq!(kinds(&removed), vec!["removeMember"]);
    assert!(
        matches!(
            removed.planned,
            Some(PlanKind::Incremental { groups: 1, .. })
        ),
        "{:?}",
        removed.planned
    );
    assert!(cycle().plan.operations.is_empty());
    world.assert_converged(&groups);
    // Removed from every assigned group, the member leaves the scope: the cycle plans it and
    // the groups it left again (its memberships removed, its target user deprovisioned), not
    // the whole tenant.
    for g in &groups {
        if world.source().state().memberships[g].contains(&member) {
            world.source().remove_member(g, &member).unwrap();
        }
    }
    let left = cycle();
    assert!(
        matches!(left.planned, Some(PlanKind::Incremental { users: 0, .. })),
        "{:?}",
        left.planned
    );
    let left_kinds = kinds(&left);
    assert!(
        left_kinds.contains(&"removeMember") && left_kinds.len() >= 2,
        "the memberships removed and the user deprovisioned: {left_kinds:?}"
    );
    assert!(
        left.plan
            .operations
            .iter()
            .all(|op| op.source_id() == Some(member.as_str()) || op.kind() == "removeMember"),
        "only the member's operations: {:?}",
        left.plan.operations
    );
    assert!(cycle().plan.operations.is_empty());
}

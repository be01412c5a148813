//! The cycle under an unfriendly Graph: throttling, server errors and timeouts, replication
//! lag, expired delta tokens, a lost state file, and a cancelled apply.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tenantsync_core::{CancelToken, Event, RunOutcome, SyncRequest};
use tenantsync_emulator::{FaultKnobs, Knobs, LatencyKnobs, SeedSpec, ThrottleKnobs};
use tenantsync_tests::{World, small_seed, text};

/// A small source, for the tests whose every request may be slow.
fn tiny_seed() -> SeedSpec {
    SeedSpec {
        seed: 4,
        users: 16,
        security_groups: 3,
        avg_members: 6,
        ..SeedSpec::default()
    }
}

/// After the job converged under trouble: with the trouble gone, the next cycle plans nothing.
fn assert_settled(world: &World, job: &std::path::Path, groups: &[String]) {
    world.source().set_knobs(Knobs::default());
    world.target().set_knobs(Knobs::default());
    world.assert_converged(groups);
    let report = world.run(job, SyncRequest::default());
    assert_eq!(report.outcome, RunOutcome::Converged);
    assert!(
        report.plan.operations.is_empty(),
        "{}",
        report.plan.to_json_pretty()
    );
}

fn count(world_counts: &std::collections::BTreeMap<String, u64>, prefix: &str) -> u64 {
    world_counts
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn throttled_graph_is_obeyed_and_the_sync_converges() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let knobs = Knobs {
        throttling: Some(ThrottleKnobs {
            resource_units: 25,
            window_ms: 1_000,
            write_quota: 30,
            write_window_ms: 1_000,
        }),
        ..Knobs::default()
    };
    world.source().set_knobs(knobs.clone());
    world.target().set_knobs(knobs);
    world.converge(&job, 5, Duration::from_secs(1));
    // Many updates and removals at once: `$batch` requests whose items get their own 429s.
    let source = world.source();
    let state = source.state();
    for user in state.users.iter().filter_map(|u| text(u, "id")) {
        source
            .update_user(&user, serde_json::json!({"jobTitle": "Throttled Title"}))
            .unwrap();
    }
    for group in &groups {
        for member in state.memberships[group].iter().take(2) {
            source.remove_member(group, member).unwrap();
        }
    }
    let reports = world.converge(&job, 5, Duration::from_secs(1));
    assert!(
        reports[0]
            .plan
            .operations
            .iter()
            .filter(|o| o.kind() == "updateUser")
            .count()
            > 20
    );
    let throttled = world
        .target()
        .request_counts()
        .get("429")
        .copied()
        .unwrap_or(0)
        + world
            .source()
            .request_counts()
            .get("429")
            .copied()
            .unwrap_or(0);
    assert!(throttled > 0, "the limits were small enough to throttle");
    assert_eq!(world.target().throttle_violations(), 0);
    assert_eq!(world.source().throttle_violations(), 0);
    assert_settled(&world, &job, &groups);
}

#[test]
fn server_errors_and_timeouts_are_ridden_out_without_duplicates() {
    let world = World::new(tiny_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "request_timeout = \"2s\"");
    let faults = |seed| Knobs {
        faults: Some(FaultKnobs {
            seed,
            error_rate: 0.15,
            timeout_rate: 0.05,
            timeout_ms: 100,
            ..FaultKnobs::default()
        }),
        ..Knobs::default()
    };
    world.source().set_knobs(faults(5));
    world.target().set_knobs(faults(9));
    let reports = world.converge(&job, 12, Duration::from_secs(1));
    let retried: u64 = reports
        .iter()
        .map(|r| r.target_requests.transient_retries + r.source_requests.transient_retries)
        .sum();
    assert!(retried > 0, "requests were retried");
    let counts = world.target().request_counts();
    assert!(
        count(&counts, "fault:") > 0,
        "faults were injected: {counts:?}"
    );
    assert_settled(&world, &job, &groups);
}

#[test]
fn dropped_connections_duplicate_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.target().set_knobs(Knobs {
        faults: Some(FaultKnobs {
            seed: 21,
            drop_rate: 0.1,
            ..FaultKnobs::default()
        }),
        ..Knobs::default()
    });
    world.converge(&job, 12, Duration::from_secs(1));
    let counts = world.target().request_counts();
    assert!(count(&counts, "fault:drop") > 0, "{counts:?}");
    assert_settled(&world, &job, &groups);
}

#[test]
fn replication_lag_loses_no_membership_and_duplicates_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.target().set_knobs(Knobs {
        replication_lag_ms: 1_500,
        ..Knobs::default()
    });
    let reports = world.converge(&job, 8, Duration::from_secs(1));
    let waited: u64 = reports
        .iter()
        .map(|r| r.target_requests.replication_retries)
        .sum();
    let failed: usize = reports.iter().map(|r| r.applied.failed.len()).sum();
    assert!(
        waited > 0 || failed > 0,
        "the lag was felt (retried or escrowed)"
    );
    assert_settled(&world, &job, &groups);
}

#[test]
fn an_expired_delta_token_falls_back_to_a_full_read() {
    for gone in [false, true] {
        let world = World::new(small_seed());
        let groups = world.source_group_ids();
        let job = world.write_job(&groups, "");
        let first = world.run(&job, SyncRequest::default());
        assert_eq!(first.outcome, RunOutcome::Converged);
        let group = groups
            .iter()
            .find(|g| world.target_group_for(g).is_some())
            .unwrap();
        let user = world.add_source_user("erin.expired", "Erin Expired");
        world.source().add_member(group, &user).unwrap();
        world.source().set_knobs(Knobs {
            force_delta_expiry: true,
            delta_expiry_gone: gone,
            ..Knobs::default()
        });
        let second = world.run(&job, SyncRequest::default());
        assert!(
            second.full_read,
            "gone={gone}: an expired token means a full read"
        );
        assert_eq!(
            second.outcome,
            RunOutcome::Converged,
            "{:#?}",
            second.applied
        );
        assert!(world.target_user_for(&user).is_some());
        world.source().set_knobs(Knobs::default());
        let third = world.run(&job, SyncRequest::default());
        assert!(!third.full_read, "the fresh token is used again");
        assert!(third.plan.operations.is_empty());
        world.assert_converged(&groups);
    }
}

#[test]
fn a_deleted_state_file_duplicates_nothing() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    assert_eq!(
        world.run(&job, SyncRequest::default()).outcome,
        RunOutcome::Converged
    );
    let users = world.target().state().users.len();
    world.delete_state();
    let report = world.run(&job, SyncRequest::default());
    assert!(report.full_read);
    assert_eq!(report.outcome, RunOutcome::Converged);
    assert!(
        report.plan.operations.is_empty(),
        "matched by anchor: {}",
        report.plan.to_json_pretty()
    );
    assert_eq!(world.target().state().users.len(), users);
    world.assert_converged(&groups);
}

/// When a run is cancelled.
#[derive(Debug, Clone, Copy)]
enum CancelAt {
    /// From the event sink, after this many `Event::Operation` events.
    Operations(usize),
    /// From another thread, once this many users exist in the (slowed) target: in the
    /// middle of the invitations.
    Users(usize),
}

#[test]
fn a_cancelled_apply_resumes_without_duplicates_or_lost_members() {
    let probe = World::new(small_seed());
    let groups = probe.source_group_ids();
    let job = probe.write_job(&groups, "");
    probe.init(&job);
    let dry = probe.run(
        &job,
        SyncRequest {
            dry_run: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(dry.outcome, RunOutcome::DryRun);
    assert!(
        probe.target().state().users.is_empty(),
        "a dry run writes nothing"
    );
    let users = dry
        .plan
        .operations
        .iter()
        .filter(|o| o.kind() == "createUser")
        .count();
    assert!(users > 10);
    drop(probe);

    for at in [
        CancelAt::Operations(1),
        CancelAt::Operations(users),
        CancelAt::Users(4),
    ] {
        let world = World::new(small_seed());
        let job = world.write_job(&groups, "");
        let seen = Arc::new(AtomicUsize::new(0));
        let cancel = CancelToken::new();
        let sink = {
            let (seen, cancel) = (seen.clone(), cancel.clone());
            move |e: Event| {
                if let (CancelAt::Operations(n), Event::Operation { .. }) = (at, e)
                    && seen.fetch_add(1, Ordering::SeqCst) + 1 >= n
                {
                    cancel.cancel();
                }
            }
        };
        let watcher = if let CancelAt::Users(n) = at {
            world.target().set_knobs(Knobs {
                latency: Some(LatencyKnobs {
                    fixed_ms: 30,
                    jitter_ms: 20,
                }),
                ..Knobs::default()
            });
            let (target, cancel) = (world.target(), cancel.clone());
            Some(std::thread::spawn(move || {
                while target.state().users.len() < n {
                    std::thread::sleep(Duration::from_millis(2));
                }
                cancel.cancel();
            }))
        } else {
            None
        };
        let report = world
            .run_with_cancel(&job, SyncRequest::default(), &sink, &cancel)
            .unwrap();
        if let Some(w) = watcher {
            w.join().unwrap();
        }
        world.target().set_knobs(Knobs::default());
        assert_eq!(report.outcome, RunOutcome::Cancelled, "{at:?}");
        assert!(report.applied.cancelled);
        let total = report.plan.operations.len();
        assert!(
            report.applied.succeeded < total,
            "{at:?}: stopped before the end ({} of {total})",
            report.applied.succeeded
        );
        assert!(
            world.target().state().groups.is_empty(),
            "{at:?}: no group stage ran"
        );
        let before: Vec<String> = world
            .target()
            .state()
            .users
            .iter()
            .filter_map(|u| text(u, "id"))
            .collect();
        assert!(!before.is_empty(), "{at:?}: some users were made");
        if let CancelAt::Users(_) = at {
            assert!(
                before.len() < users,
                "{at:?}: cancelled among the invitations"
            );
        }
        world.converge(&job, 4, Duration::from_millis(200));
        let now = world.target().state();
        for id in &before {
            assert!(
                now.users
                    .iter()
                    .any(|u| text(u, "id").as_deref() == Some(id)),
                "{at:?}: user {id} made before the cancel is kept, not made again"
            );
        }
        assert_settled(&world, &job, &groups);
    }
}

#[test]
fn large_groups_under_replication_lag_keep_every_member() {
    // More than 20 members: the first 20 are bound at creation, the rest added to a group
    // that is itself still replicating; later a new user joins an existing group.
    let world = World::new(SeedSpec {
        seed: 12,
        users: 60,
        security_groups: 2,
        avg_members: 30,
        ..SeedSpec::default()
    });
    let groups = world.source_group_ids();
    let state = world.source().state();
    assert!(
        groups.iter().any(|g| state.memberships[g].len() > 20),
        "a group over 20 members"
    );
    let job = world.write_job(&groups, "");
    world.target().set_knobs(Knobs {
        replication_lag_ms: 1_200,
        ..Knobs::default()
    });
    world.converge(&job, 8, Duration::from_secs(1));
    world.assert_converged(&groups);

    let newcomer = world.add_source_user("nora.new", "Nora New");
    world.source().add_member(&groups[0], &newcomer).unwrap();
    world.converge(&job, 8, Duration::from_secs(1));
    assert!(world.target_user_for(&newcomer).is_some());
    assert_settled(&world, &job, &groups);
}

#[test]
fn group_members_delivered_in_slices_are_merged() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.source().set_knobs(Knobs {
        delta_members_per_object: 3,
        ..Knobs::default()
    });
    let first = world.run(&job, SyncRequest::default());
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    world.assert_converged(&groups);

    // Several membership changes in one group, read by delta in slices.
    let group = groups
        .iter()
        .find(|g| world.target_group_for(g).is_some())
        .unwrap()
        .clone();
    let joined: Vec<String> = (0..5)
        .map(|i| world.add_source_user(&format!("slice.user{i}"), &format!("Slice User{i}")))
        .collect();
    for u in &joined {
        world.source().add_member(&group, u).unwrap();
    }
    let state = world.source().state();
    for m in state.memberships[&group]
        .iter()
        .filter(|m| !joined.contains(m))
        .take(2)
    {
        world.source().remove_member(&group, m).unwrap();
    }
    let second = world.run(&job, SyncRequest::default());
    assert!(!second.full_read);
    assert_eq!(
        second.outcome,
        RunOutcome::Converged,
        "{:#?}",
        second.applied
    );
    world.assert_converged(&groups);
    world.source().set_knobs(Knobs::default());
    let third = world.run(&job, SyncRequest::default());
    assert!(
        third.plan.operations.is_empty(),
        "{}",
        third.plan.to_json_pretty()
    );
}

#[test]
fn changes_read_by_a_cancelled_delta_cycle_are_applied_by_the_next() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.converge(&job, 2, Duration::from_millis(100));
    let group = groups
        .iter()
        .find(|g| world.target_group_for(g).is_some())
        .unwrap()
        .clone();
    let newcomers: Vec<String> = (0..3)
        .map(|i| world.add_source_user(&format!("late.user{i}"), &format!("Late User{i}")))
        .collect();
    for u in &newcomers {
        world.source().add_member(&group, u).unwrap();
    }
    let cancel = CancelToken::new();
    let sink = {
        let cancel = cancel.clone();
        move |e: Event| {
            if matches!(e, Event::Operation { .. }) {
                cancel.cancel();
            }
        }
    };
    let cut = world
        .run_with_cancel(&job, SyncRequest::default(), &sink, &cancel)
        .unwrap();
    assert!(!cut.full_read);
    assert_eq!(cut.outcome, RunOutcome::Cancelled);
    assert!(newcomers.iter().any(|u| world.target_user_for(u).is_some()));
    let next = world.run(&job, SyncRequest::default());
    assert!(!next.full_read, "the next cycle reads by delta");
    assert_eq!(next.outcome, RunOutcome::Converged, "{:#?}", next.applied);
    assert!(
        next.plan.operations.iter().any(|o| o.kind() == "addMember"),
        "{}",
        next.plan.to_json_pretty()
    );
    for u in &newcomers {
        assert!(world.target_user_for(u).is_some());
    }
    world.assert_converged(&groups);
}

#[test]
fn everything_at_once_still_converges_without_duplicates() {
    let world = World::new(tiny_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let chaos = |seed| Knobs {
        throttling: Some(ThrottleKnobs {
            resource_units: 30,
            window_ms: 1_000,
            write_quota: 15,
            write_window_ms: 1_000,
        }),
        faults: Some(FaultKnobs {
            seed,
            error_rate: 0.1,
            drop_rate: 0.03,
            ..FaultKnobs::default()
        }),
        replication_lag_ms: 800,
        delta_members_per_object: 2,
        ..Knobs::default()
    };
    world.source().set_knobs(chaos(31));
    world.target().set_knobs(chaos(32));
    world.converge(&job, 12, Duration::from_secs(1));
    // A second wave of changes under the same conditions.
    let source = world.source();
    let state = source.state();
    let newcomer = world.add_source_user("chaos.new", "Chaos New");
    source.add_member(&groups[0], &newcomer).unwrap();
    let leaving = state.memberships[&groups[1]][0].clone();
    source.remove_member(&groups[1], &leaving).unwrap();
    source
        .update_group(
            &groups[2],
            serde_json::json!({"displayName": "Chaos Renamed"}),
        )
        .unwrap();
    world.converge(&job, 12, Duration::from_secs(1));
    assert_eq!(world.target().throttle_violations(), 0);
    assert_eq!(world.source().throttle_violations(), 0);
    assert_settled(&world, &job, &groups);
}

#[test]
fn without_the_state_a_soft_deleted_user_is_still_restored_by_its_anchor() {
    let world = World::new(tiny_seed());
    let a = world.add_source_user("ada.a", "Ada A");
    let group = world.add_source_group("Team", &[&a]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    world.converge(&job, 2, Duration::from_millis(100));
    let ta = text(&world.target_user_for(&a).unwrap(), "id").unwrap();
    world.source().remove_member(&group, &a).unwrap();
    world.converge(&job, 2, Duration::from_millis(100));
    assert!(world.target_user_for(&a).is_none(), "soft-deleted");
    world.delete_state();
    world.source().add_member(&group, &a).unwrap();
    let reports = world.converge(&job, 2, Duration::from_millis(100));
    let k: Vec<&str> = reports[0]
        .plan
        .operations
        .iter()
        .map(|o| o.kind())
        .collect();
    assert!(
        k.contains(&"restoreUser") && !k.contains(&"createUser"),
        "{k:?}"
    );
    assert_eq!(text(&world.target_user_for(&a).unwrap(), "id").unwrap(), ta);
    world.assert_converged(std::slice::from_ref(&group));
}

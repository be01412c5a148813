//! The sync cycle end to end against the emulator.

use std::collections::BTreeSet;

use tenantsync_core::sync::{RunOutcome, SyncRequest};
use tenantsync_tests::{World, small_seed, text};

/// Source users in scope (internal members of the assigned security groups) must be external
/// users of the target with the same mail; security groups must exist with the same members.
fn assert_converged(world: &World) {
    let source = world.source().state();
    let target = world.target().state();
    let mail_of = |state: &tenantsync_emulator::TenantState, id: &str| {
        state
            .users
            .iter()
            .find(|u| text(u, "id").as_deref() == Some(id))
            .and_then(|u| text(u, "mail"))
            .map(|m| m.to_lowercase())
    };
    for group in &source.groups {
        let security = group["securityEnabled"] == true && group["mailEnabled"] == false;
        let unified = group["groupTypes"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "Unified"));
        let name = text(group, "displayName").unwrap();
        let in_target: Vec<_> = target
            .groups
            .iter()
            .filter(|g| text(g, "displayName").as_deref() == Some(&name))
            .collect();
        if !security || unified {
            assert!(in_target.is_empty(), "unsupported group {name} was created");
            continue;
        }
        assert_eq!(
            in_target.len(),
            1,
            "group {name} exactly once in the target"
        );
        let gid = text(group, "id").unwrap();
        let want: BTreeSet<String> = source
            .memberships
            .get(&gid)
            .into_iter()
            .flatten()
            .filter_map(|m| mail_of(&source, m))
            .collect();
        let tid = text(in_target[0], "id").unwrap();
        let have: BTreeSet<String> = target
            .memberships
            .get(&tid)
            .into_iter()
            .flatten()
            .filter_map(|m| mail_of(&target, m))
            .collect();
        // Disabled users are not created, so they are not members: compare with those present.
        let created: BTreeSet<String> = target
            .users
            .iter()
            .filter_map(|u| text(u, "mail").map(|m| m.to_lowercase()))
            .collect();
        let want: BTreeSet<String> = want.intersection(&created).cloned().collect();
        assert_eq!(have, want, "members of {name}");
    }
}

#[test]
fn first_sync_then_a_second_converged_cycle_does_nothing() {
    let world = World::new(small_seed());
    let job = world.write_job(&world.source_group_ids(), "");
    let first = world.run(&job, SyncRequest::default());
    assert!(first.full_read);
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    assert!(first.applied.succeeded > 10);
    assert_converged(&world);

    let second = world.run(&job, SyncRequest::default());
    assert!(!second.full_read, "the second cycle reads by delta");
    assert_eq!(second.outcome, RunOutcome::Converged);
    assert!(
        second.plan.operations.is_empty(),
        "{}",
        second.plan.to_json_pretty()
    );
}

//! Every planner behaviour (docs/planning.md) over the real cycle: the emulator's source and
//! target, Graph reads and writes, the state store.

use std::collections::BTreeSet;

use serde_json::json;
use tenantsync_core::{Operation, Reason, RunOutcome, RunReport, SyncRequest};
use tenantsync_emulator::SeedSpec;
use tenantsync_tests::{
    GroupKind, World, group_kind, groups_named, member_mails, small_seed, text,
};

/// A source with a few seeded users and no groups: each test builds its own groups.
fn users_only() -> SeedSpec {
    SeedSpec {
        seed: 11,
        users: 6,
        ..SeedSpec::default()
    }
}

/// The kinds of the plan's operations, in order.
fn kinds(report: &RunReport) -> Vec<&'static str> {
    report.plan.operations.iter().map(Operation::kind).collect()
}

/// The report's reasons about source object `id`.
fn reasons_for(report: &RunReport, id: &str) -> Vec<Reason> {
    report
        .plan
        .report
        .iter()
        .filter(|r| r.source_id.as_deref() == Some(id))
        .map(|r| r.reason)
        .collect()
}

/// Runs one cycle that must converge.
fn converged(world: &World, job: &std::path::Path) -> RunReport {
    let report = world.run(job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Converged,
        "{:#?}\n{}",
        report.applied,
        report.plan.to_json_pretty()
    );
    report
}

fn target_id_of(world: &World, source_user: &str) -> String {
    text(
        &world
            .target_user_for(source_user)
            .unwrap_or_else(|| panic!("no target user for {source_user}")),
        "id",
    )
    .expect("id")
}

/// A world with users a, b, c in one assigned security group "Team", synchronized once.
struct Team {
    world: World,
    job: std::path::PathBuf,
    group: String,
    a: String,
    b: String,
    c: String,
}

fn team(extra: &str) -> Team {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let b = world.add_source_user("bob.b", "Bob B");
    let c = world.add_source_user("cy.c", "Cy C");
    let group = world.add_source_group("Team", &[&a, &b, &c]);
    let job = world.write_job(std::slice::from_ref(&group), extra);
    converged(&world, &job);
    Team {
        world,
        job,
        group,
        a,
        b,
        c,
    }
}

#[test]
fn users_are_created_by_invitation_as_anchored_external_members() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let report = converged(&world, &job);
    let created = kinds(&report)
        .iter()
        .filter(|k| **k == "createUser")
        .count();
    assert!(created > 5);
    let target = world.target().state();
    assert_eq!(target.users.len(), created);
    let anchor = world.anchor_attribute();
    assert!(anchor.starts_with("extension_") && anchor.ends_with("_tenantsyncAnchor"));
    let source = world.source().state();
    for user in &target.users {
        let upn = text(user, "userPrincipalName").unwrap();
        assert!(upn.contains("#EXT#@fabrikam.onmicrosoft.com"), "{upn}");
        assert_eq!(text(user, "userType").as_deref(), Some("Member"), "{upn}");
        assert_eq!(text(user, "creationType").as_deref(), Some("Invitation"));
        let mail = text(user, "mail").unwrap();
        let from = source
            .users
            .iter()
            .find(|u| text(u, "mail").is_some_and(|m| m.eq_ignore_ascii_case(&mail)))
            .expect("every target user comes from a source user");
        assert_eq!(
            text(user, &anchor),
            Some(world.anchor_of(&text(from, "id").unwrap())),
            "{upn} carries its anchor"
        );
        assert_eq!(text(user, "displayName"), text(from, "displayName"));
        assert_eq!(text(user, "jobTitle"), text(from, "jobTitle"));
        assert_eq!(
            from["accountEnabled"], true,
            "disabled users are not created"
        );
    }
    // Disabled members are reported, not created.
    let disabled: Vec<String> = source
        .users
        .iter()
        .filter(|u| u["accountEnabled"] == false)
        .filter_map(|u| text(u, "id"))
        .filter(|id| !reasons_for(&report, id).is_empty())
        .collect();
    for id in &disabled {
        assert!(reasons_for(&report, id).contains(&Reason::DisabledNotProvisioned));
        assert!(world.target_user_for(id).is_none());
    }
}

#[test]
fn only_changed_attributes_are_written() {
    let t = team("");
    t.world
        .source()
        .update_user(&t.a, json!({"jobTitle": "Manager"}))
        .unwrap();
    let report = converged(&t.world, &t.job);
    let [
        Operation::UpdateUser {
            source_id, changes, ..
        },
    ] = report.plan.operations.as_slice()
    else {
        panic!("one update: {}", report.plan.to_json_pretty());
    };
    assert_eq!(source_id, &t.a);
    let attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(attrs, vec!["jobTitle"]);
    let user = t.world.target_user_for(&t.a).unwrap();
    assert_eq!(text(&user, "jobTitle").as_deref(), Some("Manager"));
    let log = t.world.open_state().logs(&Default::default()).unwrap();
    let entry = log
        .iter()
        .find(|e| e.action == "updateUser")
        .expect("the update is logged");
    assert_eq!(entry.changes[0]["old"], "Engineer");
    assert_eq!(entry.changes[0]["new"], "Manager");
}

#[test]
fn drift_in_the_target_is_set_back() {
    let t = team("");
    let tid = target_id_of(&t.world, &t.b);
    t.world
        .target()
        .update_user(&tid, json!({"department": "Drifted", "jobTitle": null}))
        .unwrap();
    let report = converged(&t.world, &t.job);
    assert!(
        !report.full_read,
        "the source is read by delta; the target in full"
    );
    assert_eq!(kinds(&report), vec!["updateUser"]);
    let user = t.world.target_user_for(&t.b).unwrap();
    assert_eq!(text(&user, "department").as_deref(), Some("Research"));
    assert_eq!(text(&user, "jobTitle").as_deref(), Some("Engineer"));
    assert_eq!(text(&user, "id").unwrap(), tid);
}

#[test]
fn a_disabled_source_user_is_disabled_not_deleted() {
    let t = team("");
    t.world
        .source()
        .update_user(&t.c, json!({"accountEnabled": false}))
        .unwrap();
    let report = converged(&t.world, &t.job);
    let [Operation::UpdateUser { disables, .. }] = report.plan.operations.as_slice() else {
        panic!("one update: {}", report.plan.to_json_pretty());
    };
    assert!(disables);
    let user = t.world.target_user_for(&t.c).expect("still there");
    assert_eq!(user["accountEnabled"], false);
    // Enabled again in the source: enabled again in the target.
    t.world
        .source()
        .update_user(&t.c, json!({"accountEnabled": true}))
        .unwrap();
    let report = converged(&t.world, &t.job);
    assert_eq!(kinds(&report), vec!["updateUser"]);
    assert_eq!(
        t.world.target_user_for(&t.c).unwrap()["accountEnabled"],
        true
    );
}

#[test]
fn cleared_values_are_not_provisioned_and_multi_valued_ones_flow_as_lists() {
    let t = team("");
    t.world
        .source()
        .update_user(
            &t.a,
            json!({"jobTitle": null, "businessPhones": ["+1 425 555 0100"]}),
        )
        .unwrap();
    let report = converged(&t.world, &t.job);
    let [Operation::UpdateUser { changes, .. }] = report.plan.operations.as_slice() else {
        panic!("one update: {}", report.plan.to_json_pretty());
    };
    let attrs: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(attrs, vec!["businessPhones"], "a null writes nothing");
    let user = t.world.target_user_for(&t.a).unwrap();
    assert_eq!(text(&user, "jobTitle").as_deref(), Some("Engineer"));
    assert_eq!(user["businessPhones"], json!(["+1 425 555 0100"]));
    let again = converged(&t.world, &t.job);
    assert!(again.plan.operations.is_empty(), "{:?}", kinds(&again));
}

#[test]
fn unassigned_and_deleted_source_users_are_soft_deleted_then_restored_when_back() {
    let t = team("");
    let (ta, tb) = (target_id_of(&t.world, &t.a), target_id_of(&t.world, &t.b));
    t.world.source().remove_member(&t.group, &t.a).unwrap();
    t.world.source().delete_user(&t.b).unwrap();
    let report = converged(&t.world, &t.job);
    let mut k = kinds(&report);
    k.sort_unstable();
    assert_eq!(
        k,
        vec!["deleteUser", "deleteUser", "removeMember", "removeMember"]
    );
    let target = t.world.target().state();
    let deleted: BTreeSet<String> = target
        .deleted_items
        .iter()
        .filter_map(|d| text(&d.object, "id"))
        .collect();
    assert!(
        deleted.contains(&ta) && deleted.contains(&tb),
        "{deleted:?}"
    );
    assert!(t.world.target_user_for(&t.c).is_some());

    // Back in scope within 30 days: restored, not recreated.
    t.world.source().add_member(&t.group, &t.a).unwrap();
    t.world.source().restore(&t.b).unwrap();
    let report = converged(&t.world, &t.job);
    let k = kinds(&report);
    assert!(!k.contains(&"createUser"), "{k:?}");
    assert_eq!(
        k.iter().filter(|x| **x == "restoreUser").count(),
        2,
        "{k:?}"
    );
    assert_eq!(target_id_of(&t.world, &t.a), ta);
    assert_eq!(target_id_of(&t.world, &t.b), tb);
    let tg = text(&t.world.target_group_for(&t.group).unwrap(), "id").unwrap();
    let state = t.world.target().state();
    assert_eq!(state.memberships[&tg].len(), 3, "both are members again");
    assert!(state.deleted_items.is_empty());
}

#[test]
fn with_user_deprovision_disable_users_leaving_scope_are_disabled() {
    let t = team("[options]\nuser_deprovision = \"disable\"\n");
    t.world.source().remove_member(&t.group, &t.a).unwrap();
    t.world.source().delete_user(&t.b).unwrap();
    let report = converged(&t.world, &t.job);
    let k = kinds(&report);
    assert_eq!(
        k.iter().filter(|x| **x == "disableUser").count(),
        2,
        "{k:?}"
    );
    assert!(!k.contains(&"deleteUser"));
    for id in [&t.a, &t.b] {
        let user = t.world.target_user_for(id).expect("kept");
        assert_eq!(user["accountEnabled"], false);
    }
    assert!(t.world.target().state().deleted_items.is_empty());
}

#[test]
fn a_security_group_is_created_with_members_then_kept_equal_and_renamed() {
    let t = team("");
    let tg = t.world.target_group_for(&t.group).expect("created");
    let tg_id = text(&tg, "id").unwrap();
    assert_eq!(tg["securityEnabled"], true);
    assert_eq!(tg["mailEnabled"], false);
    assert!(text(&tg, "mailNickname").is_some());
    let members = |w: &World| member_mails(&w.target().state(), &tg_id);
    assert_eq!(members(&t.world).len(), 3);

    let d = t.world.add_source_user("dee.d", "Dee D");
    let src = t.world.source();
    src.add_member(&t.group, &d).unwrap();
    src.remove_member(&t.group, &t.a).unwrap();
    src.update_group(&t.group, json!({"displayName": "Team Renamed"}))
        .unwrap();
    // A target-only member added by hand goes too (target_only_members = "remove").
    let local = t
        .world
        .target()
        .add_user(
            json!({"userPrincipalName": "local@fabrikam.onmicrosoft.com",
            "mail": "local@fabrikam.onmicrosoft.com", "displayName": "Local"}),
        )
        .unwrap();
    let local_id = text(&local, "id").unwrap();
    t.world.target().add_member(&tg_id, &local_id).unwrap();
    let report = converged(&t.world, &t.job);
    let mut k = kinds(&report);
    k.dedup();
    assert_eq!(
        k,
        vec![
            "createUser",
            "updateGroup",
            "addMember",
            "removeMember",
            "deleteUser"
        ]
    );
    let tg = t.world.target_group_for(&t.group).unwrap();
    assert_eq!(text(&tg, "id").unwrap(), tg_id, "the same group, renamed");
    assert_eq!(text(&tg, "displayName").as_deref(), Some("Team Renamed"));
    let want: BTreeSet<String> = ["bob.b", "cy.c", "dee.d"]
        .iter()
        .map(|a| format!("{a}@contoso.onmicrosoft.com"))
        .collect();
    assert_eq!(members(&t.world), want);
    assert!(
        t.world
            .target()
            .state()
            .users
            .iter()
            .any(|u| text(u, "id").as_deref() == Some(local_id.as_str())),
        "an unmanaged user is never deleted"
    );
}

#[test]
fn microsoft_365_and_mail_enabled_groups_are_reported_and_skipped() {
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let report = converged(&world, &job);
    let source = world.source().state();
    let target = world.target().state();
    let mut unsupported = 0;
    for g in &source.groups {
        if group_kind(g) == GroupKind::Security {
            continue;
        }
        unsupported += 1;
        let id = text(g, "id").unwrap();
        assert!(
            reasons_for(&report, &id).contains(&Reason::UnsupportedGroupType),
            "{g}"
        );
        assert!(groups_named(&target, &text(g, "displayName").unwrap()).is_empty());
    }
    assert_eq!(unsupported, 2);
}

#[test]
fn nested_groups_are_skipped_and_reported_or_flattened() {
    for flatten in [false, true] {
        let world = World::new(users_only());
        let a = world.add_source_user("ada.a", "Ada A");
        let b = world.add_source_user("bob.b", "Bob B");
        let inner = world.add_source_group("Inner", &[&b]);
        let outer = world.add_source_group("Outer", &[&a, &inner]);
        let extra = if flatten {
            "[options]\nnested_groups = \"flatten\"\n"
        } else {
            ""
        };
        let job = world.write_job(std::slice::from_ref(&outer), extra);
        let report = converged(&world, &job);
        let tg = text(&world.target_group_for(&outer).unwrap(), "id").unwrap();
        let members = member_mails(&world.target().state(), &tg);
        assert!(world.target_group_for(&inner).is_none(), "not assigned");
        if flatten {
            assert_eq!(members.len(), 2, "{members:?}");
            assert!(world.target_user_for(&b).is_some());
        } else {
            assert_eq!(members.len(), 1, "{members:?}");
            assert!(world.target_user_for(&b).is_none());
            assert!(
                report
                    .plan
                    .report
                    .iter()
                    .any(|r| r.reason == Reason::NestedGroupSkipped),
                "{}",
                report.plan.to_json_pretty()
            );
        }
        assert_eq!(
            world.target().state().memberships[&tg].len(),
            members.len(),
            "no group member"
        );
    }
}

#[test]
fn an_existing_b2b_user_is_matched_by_mail_and_anchored() {
    let world = World::new(users_only());
    let existing = world
        .target()
        .add_user(json!({
            "userPrincipalName": "ann.b2b_contoso.onmicrosoft.com#EXT#@fabrikam.onmicrosoft.com",
            "mail": "Ann.B2B@contoso.onmicrosoft.com",
            "displayName": "Ann (invited by hand)",
            "userType": "Guest",
            "creationType": "Invitation",
            "externalUserState": "Accepted",
            "accountEnabled": true,
        }))
        .unwrap();
    let existing_id = text(&existing, "id").unwrap();
    let ann = world.add_source_user("ann.b2b", "Ann B2B");
    let group = world.add_source_group("Team", &[&ann]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let report = converged(&world, &job);
    assert!(
        !kinds(&report).contains(&"createUser"),
        "{:?}",
        kinds(&report)
    );
    let user = world.target_user_for(&ann).expect("matched and anchored");
    assert_eq!(text(&user, "id").unwrap(), existing_id);
    assert_eq!(text(&user, "displayName").as_deref(), Some("Ann B2B"));
    assert_eq!(world.target().state().users.len(), 1, "no duplicate");
    let second = converged(&world, &job);
    assert!(second.plan.operations.is_empty());
}

#[test]
fn an_invitation_answered_with_a_user_anchored_elsewhere_leaves_that_user_alone() {
    // The target user with the source user's address carries another source's anchor, so
    // matching passes it by (anchored objects match by anchor only) and the plan invites the
    // address; Graph answers with that user, which the cycle must not take over.
    let world = World::new(users_only());
    let elsewhere = "0b6f7c1e-0000-4000-8000-000000000001/some-other-object";
    let existing = world
        .target()
        .add_user(json!({
            "userPrincipalName": "ann.b2b_contoso.onmicrosoft.com#EXT#@fabrikam.onmicrosoft.com",
            "mail": "Ann.B2B@contoso.onmicrosoft.com",
            "displayName": "Ann (synced from elsewhere)",
            "userType": "Member",
            "creationType": "Invitation",
            "accountEnabled": true,
            world.anchor_attribute(): elsewhere,
        }))
        .unwrap();
    let existing_id = text(&existing, "id").unwrap();
    let ann = world.add_source_user("ann.b2b", "Ann B2B");
    let group = world.add_source_group("Team", &[&ann]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let report = world.run(&job, SyncRequest::default());
    let failed: Vec<&str> = report
        .applied
        .failed
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        failed
            .iter()
            .any(|m| m.contains(&existing_id) && m.contains(elsewhere)),
        "{failed:?}"
    );
    let target = world.target().state();
    let user = target
        .users
        .iter()
        .find(|u| text(u, "id").as_deref() == Some(existing_id.as_str()))
        .expect("still there");
    assert_eq!(
        text(user, &world.anchor_attribute()).as_deref(),
        Some(elsewhere)
    );
    assert_eq!(
        text(user, "displayName").as_deref(),
        Some("Ann (synced from elsewhere)")
    );
    assert_eq!(target.users.len(), 1, "no other user");
}

#[test]
fn a_group_name_conflict_is_skipped_adopted_or_suffixed() {
    for policy in ["skip", "adopt", "suffix"] {
        let world = World::new(users_only());
        let taken = world
            .target()
            .add_group(json!({"displayName": "Finance", "mailNickname": "finance",
                "securityEnabled": true, "mailEnabled": false}))
            .unwrap();
        let taken_id = text(&taken, "id").unwrap();
        let a = world.add_source_user("ada.a", "Ada A");
        let group = world.add_source_group("Finance", &[&a]);
        let job = world.write_job(
            std::slice::from_ref(&group),
            &format!("[options]\ngroup_name_conflict = \"{policy}\"\n"),
        );
        let report = converged(&world, &job);
        let target = world.target().state();
        let managed = world.target_group_for(&group);
        match policy {
            "skip" => {
                assert!(reasons_for(&report, &group).contains(&Reason::GroupNameConflict));
                assert!(managed.is_none());
                assert_eq!(target.groups.len(), 1);
                assert!(target.memberships.get(&taken_id).is_none_or(Vec::is_empty));
            }
            "adopt" => {
                let g = managed.expect("adopted");
                assert_eq!(text(&g, "id").unwrap(), taken_id);
                assert_eq!(target.groups.len(), 1);
                assert_eq!(member_mails(&target, &taken_id).len(), 1);
            }
            _ => {
                let g = managed.expect("created with a suffix");
                assert_eq!(text(&g, "displayName").as_deref(), Some("Finance (synced)"));
                assert_eq!(target.groups.len(), 2);
                assert_eq!(member_mails(&target, &text(&g, "id").unwrap()).len(), 1);
                assert!(target.memberships.get(&taken_id).is_none_or(Vec::is_empty));
            }
        }
        let again = converged(&world, &job);
        assert!(
            again.plan.operations.is_empty(),
            "{policy}: {}",
            again.plan.to_json_pretty()
        );
    }
}

#[test]
fn members_not_in_scope_are_reported_and_left_out() {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let guest = world
        .source()
        .add_user(json!({
            "userPrincipalName": "gus_example.com#EXT#@contoso.onmicrosoft.com",
            "mail": "gus@example.com",
            "displayName": "Gus Guest",
            "userType": "Guest",
            "creationType": "Invitation",
        }))
        .unwrap();
    let guest = text(&guest, "id").unwrap();
    let group = world.add_source_group("Team", &[&a, &guest]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let report = converged(&world, &job);
    let reasons: Vec<Reason> = report.plan.report.iter().map(|r| r.reason).collect();
    assert!(reasons.contains(&Reason::NotInternalUser), "{reasons:?}");
    assert!(reasons.contains(&Reason::MemberNotInScope), "{reasons:?}");
    let tg = text(&world.target_group_for(&group).unwrap(), "id").unwrap();
    let members = member_mails(&world.target().state(), &tg);
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(world.target().state().users.len(), 1);
}

#[test]
fn an_object_anchored_to_another_source_is_never_touched() {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let group = world.add_source_group("Team", &[&a]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let anchor = world.init(&job);
    let foreign = world
        .target()
        .add_user(json!({
            "userPrincipalName": "ada.a_contoso.onmicrosoft.com#EXT#@fabrikam.onmicrosoft.com",
            "mail": "ada.a@contoso.onmicrosoft.com",
            "displayName": "Ada from another sync",
            "userType": "Member",
            "creationType": "Invitation",
            "accountEnabled": true,
            anchor.clone(): "00000000-0000-0000-0000-00000000abcd/1234",
        }))
        .unwrap();
    let foreign_id = text(&foreign, "id").unwrap();
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Escrowed,
        "{:#?}",
        report.applied
    );
    let failure = &report.applied.failed[0];
    assert_eq!(failure.op.as_str(), "createUser");
    assert!(
        failure
            .message
            .contains("00000000-0000-0000-0000-00000000abcd/1234"),
        "{}",
        failure.message
    );
    let target = world.target().state();
    assert_eq!(target.users.len(), 1, "no second user either");
    let now = target
        .users
        .iter()
        .find(|u| text(u, "id").as_deref() == Some(foreign_id.as_str()))
        .expect("still there");
    assert_eq!(
        text(now, &anchor).as_deref(),
        Some("00000000-0000-0000-0000-00000000abcd/1234"),
        "the other job's anchor is kept: {}",
        report.plan.to_json_pretty()
    );
    assert_eq!(
        text(now, "displayName").as_deref(),
        Some("Ada from another sync")
    );
}

#[test]
fn deleted_or_unassigned_groups_follow_group_deprovision() {
    for policy in ["delete", "none"] {
        let world = World::new(users_only());
        let a = world.add_source_user("ada.a", "Ada A");
        let b = world.add_source_user("bob.b", "Bob B");
        let gone = world.add_source_group("Gone", &[&a]);
        let kept = world.add_source_group("Kept", &[&a, &b]);
        let dropped = world.add_source_group("Dropped", &[&b]);
        let all = vec![gone.clone(), kept.clone(), dropped.clone()];
        let extra = format!("[options]\ngroup_deprovision = \"{policy}\"\n");
        let job = world.write_job(&all, &extra);
        converged(&world, &job);
        let (tgone, tdropped) = (
            text(&world.target_group_for(&gone).unwrap(), "id").unwrap(),
            text(&world.target_group_for(&dropped).unwrap(), "id").unwrap(),
        );
        world.source().delete_group(&gone).unwrap();
        // `dropped` is no longer assigned.
        let job = world.write_job(&[gone.clone(), kept.clone()], &extra);
        let report = converged(&world, &job);
        let target = world.target().state();
        let live = |id: &str| {
            target
                .groups
                .iter()
                .any(|g| text(g, "id").as_deref() == Some(id))
        };
        let deletes = kinds(&report)
            .iter()
            .filter(|k| **k == "deleteGroup")
            .count();
        if policy == "delete" {
            assert_eq!(deletes, 2, "{}", report.plan.to_json_pretty());
            assert!(!live(&tgone) && !live(&tdropped));
        } else {
            assert_eq!(deletes, 0);
            assert!(live(&tgone) && live(&tdropped));
        }
        assert!(world.target_group_for(&kept).is_some());
        assert_eq!(
            target.users.len(),
            2,
            "both users are still in scope through Kept"
        );
    }
}

#[test]
fn microsoft_365_groups_as_security_and_target_only_members_kept() {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let m365 = world
        .source()
        .add_group(
            json!({"displayName": "Project X", "mailNickname": "projectx",
            "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]}),
        )
        .unwrap();
    let m365 = text(&m365, "id").unwrap();
    world.source().add_member(&m365, &a).unwrap();
    let job = world.write_job(
        std::slice::from_ref(&m365),
        "[options]\nm365_groups = \"as-security\"\ntarget_only_members = \"keep-unmanaged\"\n",
    );
    converged(&world, &job);
    let tg = world
        .target_group_for(&m365)
        .expect("synchronized as a security group");
    assert_eq!(tg["securityEnabled"], true);
    assert_eq!(tg["mailEnabled"], false);
    let tg = text(&tg, "id").unwrap();
    let local = world
        .target()
        .add_user(
            json!({"userPrincipalName": "local@fabrikam.onmicrosoft.com",
            "mail": "local@fabrikam.onmicrosoft.com", "displayName": "Local"}),
        )
        .unwrap();
    world
        .target()
        .add_member(&tg, &text(&local, "id").unwrap())
        .unwrap();
    let report = converged(&world, &job);
    assert!(report.plan.operations.is_empty(), "{:?}", kinds(&report));
    assert_eq!(world.target().state().memberships[&tg].len(), 2);
}

#[test]
fn a_user_disabled_in_both_tenants_is_kept_when_leaving_scope() {
    let t = team("");
    t.world
        .source()
        .update_user(&t.a, json!({"accountEnabled": false}))
        .unwrap();
    converged(&t.world, &t.job);
    t.world.source().remove_member(&t.group, &t.a).unwrap();
    let report = converged(&t.world, &t.job);
    assert!(reasons_for(&report, &t.a).contains(&Reason::DisabledUserKept));
    let user = t.world.target_user_for(&t.a).expect("kept");
    assert_eq!(user["accountEnabled"], false);
}

#[test]
fn a_source_user_turned_guest_leaves_and_a_new_mail_flows() {
    let t = team("");
    t.world
        .source()
        .update_user(&t.a, json!({"userType": "Guest"}))
        .unwrap();
    t.world
        .source()
        .update_user(&t.b, json!({"mail": "bob.renamed@contoso.onmicrosoft.com"}))
        .unwrap();
    let tb = target_id_of(&t.world, &t.b);
    let report = converged(&t.world, &t.job);
    assert!(reasons_for(&report, &t.a).contains(&Reason::NotInternalUser));
    assert!(t.world.target_user_for(&t.a).is_none(), "deprovisioned");
    let b = t.world.target_user_for(&t.b).expect("kept");
    assert_eq!(text(&b, "id").unwrap(), tb, "the same user, not a new one");
    assert_eq!(
        text(&b, "mail").as_deref(),
        Some("bob.renamed@contoso.onmicrosoft.com")
    );
    let again = converged(&t.world, &t.job);
    assert!(again.plan.operations.is_empty(), "{:?}", kinds(&again));
}

#[test]
fn two_source_users_with_one_address_never_share_a_target_user() {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let twin = world
        .source()
        .add_user(json!({
            "userPrincipalName": "ada.twin@contoso.onmicrosoft.com",
            "mail": "ada.a@contoso.onmicrosoft.com",
            "displayName": "Ada Twin",
            "accountEnabled": true,
        }))
        .unwrap();
    let twin = text(&twin, "id").unwrap();
    let group = world.add_source_group("Team", &[&a, &twin]);
    let job = world.write_job(std::slice::from_ref(&group), "");
    let mut owners = Vec::new();
    for cycle in 0..3 {
        let report = world.run(&job, SyncRequest::default());
        let target = world.target().state();
        assert_eq!(target.users.len(), 1, "one address, one target user");
        owners.push(text(&target.users[0], &world.anchor_attribute()));
        assert_eq!(
            report.outcome,
            RunOutcome::Escrowed,
            "{:#?}",
            report.applied
        );
        if cycle == 0 {
            assert_eq!(report.applied.failed.len(), 1, "{:#?}", report.applied);
            assert!(
                report.applied.failed[0]
                    .message
                    .contains("ada.a@contoso.onmicrosoft.com")
            );
        }
    }
    let claimed: Vec<String> = world
        .open_state()
        .anchors()
        .unwrap()
        .into_iter()
        .filter(|(source, _)| *source == a || *source == twin)
        .map(|(_, target)| target)
        .collect();
    assert_eq!(
        claimed.len(),
        1,
        "the state gives the target user one source"
    );
    assert!(
        owners.windows(2).all(|w| w[0] == w[1]),
        "the target user's anchor flips between source users: {owners:?}"
    );
}

#[test]
fn flattened_groups_follow_changes_inside_nested_groups_by_delta() {
    let world = World::new(users_only());
    let a = world.add_source_user("ada.a", "Ada A");
    let b = world.add_source_user("bob.b", "Bob B");
    let deep = world.add_source_group("Deep", &[&b]);
    let inner = world.add_source_group("Inner", &[&deep]);
    let outer = world.add_source_group("Outer", &[&a, &inner]);
    let job = world.write_job(
        std::slice::from_ref(&outer),
        "[options]\nnested_groups = \"flatten\"\n",
    );
    converged(&world, &job);
    let tg = text(&world.target_group_for(&outer).unwrap(), "id").unwrap();
    assert_eq!(member_mails(&world.target().state(), &tg).len(), 2);

    // A user joins the deepest group; another leaves it.
    let c = world.add_source_user("cy.c", "Cy C");
    world.source().add_member(&deep, &c).unwrap();
    world.source().remove_member(&deep, &b).unwrap();
    let report = converged(&world, &job);
    assert!(!report.full_read);
    let want: BTreeSet<String> = ["ada.a", "cy.c"]
        .iter()
        .map(|x| format!("{x}@contoso.onmicrosoft.com"))
        .collect();
    assert_eq!(member_mails(&world.target().state(), &tg), want);
    assert!(world.target_user_for(&b).is_none(), "left the scope");
}

#[test]
fn a_target_user_deleted_by_hand_is_restored_or_recreated() {
    let t = team("");
    let (ta, tb) = (target_id_of(&t.world, &t.a), target_id_of(&t.world, &t.b));
    t.world.target().delete_user(&ta).unwrap();
    t.world.target().hard_delete(&tb).unwrap();
    let report = converged(&t.world, &t.job);
    let k = kinds(&report);
    assert!(k.contains(&"restoreUser"), "{k:?}");
    assert!(k.contains(&"createUser"), "{k:?}");
    assert_eq!(target_id_of(&t.world, &t.a), ta, "restored, not recreated");
    let new_b = target_id_of(&t.world, &t.b);
    assert_ne!(new_b, tb, "permanently gone: invited again");
    t.world.assert_converged(std::slice::from_ref(&t.group));
    let tg = text(&t.world.target_group_for(&t.group).unwrap(), "id").unwrap();
    assert_eq!(t.world.target().state().memberships[&tg].len(), 3);
    let again = converged(&t.world, &t.job);
    assert!(again.plan.operations.is_empty(), "{:?}", kinds(&again));
}

#[test]
fn a_target_group_renamed_or_deleted_by_hand_is_set_back() {
    let t = team("");
    let tg = text(&t.world.target_group_for(&t.group).unwrap(), "id").unwrap();
    t.world
        .target()
        .update_group(&tg, json!({"displayName": "Hand Renamed"}))
        .unwrap();
    let report = converged(&t.world, &t.job);
    assert_eq!(kinds(&report), vec!["updateGroup"]);
    let g = t.world.target_group_for(&t.group).unwrap();
    assert_eq!(text(&g, "displayName").as_deref(), Some("Team"));

    t.world.target().delete_group(&tg).unwrap();
    let report = converged(&t.world, &t.job);
    assert_eq!(kinds(&report), vec!["createGroup"]);
    let g = t.world.target_group_for(&t.group).expect("created again");
    assert_ne!(text(&g, "id").unwrap(), tg);
    t.world.assert_converged(std::slice::from_ref(&t.group));
}

#[test]
fn an_address_reused_by_a_new_source_user_gets_its_own_target_user() {
    let t = team("");
    let old_target = target_id_of(&t.world, &t.a);
    // Ada leaves; a newcomer gets her address.
    t.world.source().delete_user(&t.a).unwrap();
    let newcomer = t
        .world
        .source()
        .add_user(json!({
            "userPrincipalName": "ada.new@contoso.onmicrosoft.com",
            "mail": "ada.a@contoso.onmicrosoft.com",
            "displayName": "Ada Newcomer",
            "accountEnabled": true,
        }))
        .unwrap();
    let newcomer = text(&newcomer, "id").unwrap();
    t.world.source().add_member(&t.group, &newcomer).unwrap();
    t.world
        .converge(&t.job, 5, std::time::Duration::from_millis(1_100));
    let user = t.world.target_user_for(&newcomer).expect("provisioned");
    assert_ne!(text(&user, "id").unwrap(), old_target, "not Ada's old user");
    assert_eq!(text(&user, "displayName").as_deref(), Some("Ada Newcomer"));
    assert!(t.world.target_user_for(&t.a).is_none());
    let target = t.world.target().state();
    assert!(
        target
            .deleted_items
            .iter()
            .any(|d| text(&d.object, "id").as_deref() == Some(old_target.as_str())),
        "Ada's old user is soft-deleted, with her anchor"
    );
    t.world.assert_converged(std::slice::from_ref(&t.group));
}

#[test]
fn a_group_added_by_hand_to_a_managed_group_is_removed_from_it() {
    let t = team("");
    let tg = text(&t.world.target_group_for(&t.group).unwrap(), "id").unwrap();
    let local = t
        .world
        .target()
        .add_group(
            json!({"displayName": "Local Admins", "mailNickname": "local-admins",
            "securityEnabled": true, "mailEnabled": false}),
        )
        .unwrap();
    let local = text(&local, "id").unwrap();
    t.world.target().add_member(&tg, &local).unwrap();
    let report = converged(&t.world, &t.job);
    assert_eq!(kinds(&report), vec!["removeMember"]);
    let target = t.world.target().state();
    assert!(!target.memberships[&tg].contains(&local));
    assert!(
        target
            .groups
            .iter()
            .any(|g| text(g, "id").as_deref() == Some(local.as_str())),
        "the local group itself is never touched"
    );
}

#[test]
fn with_user_deprovision_none_users_leaving_scope_are_reported_and_kept() {
    let t = team("[options]\nuser_deprovision = \"none\"\n");
    t.world.source().remove_member(&t.group, &t.a).unwrap();
    let report = converged(&t.world, &t.job);
    assert_eq!(kinds(&report), vec!["removeMember"]);
    assert!(reasons_for(&report, &t.a).contains(&Reason::DeprovisionSkipped));
    let user = t.world.target_user_for(&t.a).expect("kept");
    assert_eq!(user["accountEnabled"], true);
}

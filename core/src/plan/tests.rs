//! Planner tests: one per rule of docs/planning.md, determinism, and the fixed-point property
//! (applying a plan then planning again gives an empty plan).

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::schema::{SynchronizationSchema, default_schema};
use crate::snapshot::{DirectoryObject, Snapshot};
use crate::value::Value;

const SRC: &str = "11111111-1111-1111-1111-111111111111";
const TGT: &str = "22222222-2222-2222-2222-222222222222";

pub(crate) fn as_of() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn src_user(id: &str, name: &str) -> DirectoryObject {
    let mail = format!("{}@contoso.com", name.to_lowercase().replace(' ', "."));
    DirectoryObject::new(id)
        .with("displayName", name)
        .with("mail", mail.as_str())
        .with("userPrincipalName", mail.as_str())
        .with("accountEnabled", true)
        .with("userType", "Member")
        .with("jobTitle", "Engineer")
}

/// A target B2B user that mirrors `src_user(id, name)` as the default schema maps it.
fn managed_user(target_id: &str, source_id: &str, name: &str) -> DirectoryObject {
    let mail = format!("{}@contoso.com", name.to_lowercase().replace(' ', "."));
    DirectoryObject::new(target_id)
        .with("displayName", name)
        .with("mail", mail.as_str())
        .with(
            "userPrincipalName",
            format!("{}#EXT#@fabrikam.onmicrosoft.com", mail.replace('@', "_")),
        )
        .with("accountEnabled", true)
        .with("userType", "Member")
        .with("creationType", "Invitation")
        .with("jobTitle", "Engineer")
        .with("showInAddressList", true)
        .with(DEFAULT_ANCHOR_ATTRIBUTE, format!("{SRC}/{source_id}"))
}

fn security_group(id: &str, name: &str, members: &[&str]) -> DirectoryObject {
    DirectoryObject::new(id)
        .with("displayName", name)
        .with("mailNickname", name.replace(' ', "").to_lowercase())
        .with("securityEnabled", true)
        .with("mailEnabled", false)
        .with("groupTypes", Value::Multi(vec![]))
        .with(
            "members",
            Value::Multi(members.iter().map(|m| Value::from(*m)).collect()),
        )
}

fn managed_group(id: &str, source_id: &str, name: &str, members: &[&str]) -> DirectoryObject {
    security_group(id, name, members)
        .with("securityEnabled", true)
        .with(DEFAULT_ANCHOR_ATTRIBUTE, format!("{SRC}/{source_id}"))
}

fn snapshot(tenant: &str, users: Vec<DirectoryObject>, groups: Vec<DirectoryObject>) -> Snapshot {
    Snapshot {
        tenant_id: tenant.into(),
        default_domain: Some("fabrikam.onmicrosoft.com".into()),
        users,
        groups,
        ..Snapshot::default()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) source: Snapshot,
    pub(crate) target: Snapshot,
    pub(crate) schema: SynchronizationSchema,
    pub(crate) scope: ScopeOptions,
    pub(crate) options: PlanOptions,
    pub(crate) state: LastKnownState,
}

impl Case {
    fn new(source: Snapshot, target: Snapshot) -> Self {
        Case {
            source,
            target,
            schema: default_schema(),
            scope: ScopeOptions::default(),
            options: PlanOptions::default(),
            state: LastKnownState::default(),
        }
    }

    fn users(mut self, ids: &[&str]) -> Self {
        self.scope.users = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    fn groups(mut self, ids: &[&str]) -> Self {
        self.scope.groups = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Gives the users' mapping a scoping filter that leaves the Legal department out.
    pub(crate) fn leave_legal_out_of_scope(&mut self) {
        let users = self.schema.synchronization_rules[0]
            .object_mappings
            .iter_mut()
            .find(|m| m.source_object_name == "User")
            .expect("a user mapping");
        users.scope = Some(
            serde_json::from_value(serde_json::json!({"groups": [{
                "name": "Not Legal",
                "clauses": [{
                    "operatorName": "NOT_EQUALS",
                    "sourceOperandName": "department",
                    "targetOperand": {"values": ["Legal"]}
                }]
            }]}))
            .expect("a scoping filter"),
        );
    }

    pub(crate) fn input(&self) -> PlanInput<'_> {
        PlanInput {
            source: &self.source,
            target: &self.target,
            schema: &self.schema,
            scope: &self.scope,
            options: &self.options,
            state: &self.state,
            as_of: as_of(),
            functions: None,
        }
    }

    fn plan(&self) -> Plan {
        plan(&self.input()).expect("plan")
    }

    /// Plans, applies the plan in memory, plans again: the second plan must be empty.
    fn converges(mut self) -> Plan {
        let first = self.plan();
        self.target = simulate(&self.target, &first.operations).expect("simulate");
        let second = self.plan();
        assert!(
            second.operations.is_empty(),
            "second plan not empty: {}",
            second.to_json_pretty()
        );
        first
    }
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.operations.iter().map(Operation::kind).collect()
}

fn reasons(plan: &Plan) -> Vec<Reason> {
    plan.report.iter().map(|r| r.reason).collect()
}

#[test]
fn new_user_in_an_assigned_group_is_invited_and_the_group_created_with_it() {
    let source = snapshot(
        SRC,
        vec![src_user("u1", "Ada Lovelace")],
        vec![security_group("g1", "Engineering", &["u1"])],
    );
    let case = Case::new(source, snapshot(TGT, vec![], vec![])).groups(&["g1"]);
    let plan = case.converges();
    assert_eq!(kinds(&plan), vec!["createUser", "createGroup"]);
    let Operation::CreateUser {
        invitation,
        attributes,
        ..
    } = &plan.operations[0]
    else {
        unreachable!()
    };
    assert_eq!(invitation.email, "ada.lovelace@contoso.com");
    assert_eq!(invitation.user_type, "Member");
    assert!(
        attributes
            .iter()
            .any(|a| a.attribute == DEFAULT_ANCHOR_ATTRIBUTE
                && a.new == Value::string(format!("{SRC}/u1")))
    );
    let Operation::CreateGroup {
        members,
        attributes,
        ..
    } = &plan.operations[1]
    else {
        unreachable!()
    };
    assert_eq!(members, &vec![ObjectRef::CreatedFrom("u1".into())]);
    assert!(attributes.iter().any(|a| a.attribute == "securityEnabled"));
}

#[test]
fn only_changed_attributes_are_updated_and_drift_is_reverted() {
    let mut target_user = managed_user("t1", "u1", "Ada Lovelace");
    target_user
        .attributes
        .insert("jobTitle".into(), "Changed in target".into());
    let mut source_user = src_user("u1", "Ada Lovelace");
    source_user
        .attributes
        .insert("department".into(), "Research".into());
    let case = Case::new(
        snapshot(SRC, vec![source_user], vec![]),
        snapshot(TGT, vec![target_user], vec![]),
    )
    .users(&["u1"]);
    let plan = case.converges();
    let Operation::UpdateUser {
        changes, disables, ..
    } = &plan.operations[0]
    else {
        panic!("{}", plan.to_json_pretty())
    };
    let names: Vec<&str> = changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(names, vec!["jobTitle", "department"]);
    assert_eq!(changes[0].old, Value::string("Changed in target"));
    assert_eq!(changes[0].new, Value::string("Engineer"));
    assert!(!disables);
}

#[test]
fn an_in_sync_user_gives_an_empty_plan() {
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        snapshot(TGT, vec![managed_user("t1", "u1", "Ada Lovelace")], vec![]),
    )
    .users(&["u1"]);
    assert!(case.plan().is_empty(), "{}", case.plan().to_json_pretty());
}

#[test]
fn object_add_only_mappings_are_not_updated() {
    // The default schema maps userType = "Member" only at creation.
    let target = managed_user("t1", "u1", "Ada Lovelace").with("userType", "Guest");
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        snapshot(TGT, vec![target], vec![]),
    )
    .users(&["u1"]);
    assert!(case.plan().is_empty());
}

#[test]
fn a_disabled_source_user_is_disabled_not_deleted() {
    let case = Case::new(
        snapshot(
            SRC,
            vec![src_user("u1", "Ada Lovelace").with("accountEnabled", false)],
            vec![],
        ),
        snapshot(TGT, vec![managed_user("t1", "u1", "Ada Lovelace")], vec![]),
    )
    .users(&["u1"]);
    let plan = case.converges();
    assert_eq!(kinds(&plan), vec!["updateUser"]);
    assert!(plan.operations[0].is_deprovisioning());
    assert_eq!(plan.summary.deprovisions, 1);
}

#[test]
fn a_disabled_source_user_is_not_created() {
    let case = Case::new(
        snapshot(
            SRC,
            vec![src_user("u1", "Ada Lovelace").with("accountEnabled", false)],
            vec![],
        ),
        snapshot(TGT, vec![], vec![]),
    )
    .users(&["u1"]);
    let plan = case.plan();
    assert!(plan.operations.is_empty());
    assert_eq!(reasons(&plan), vec![Reason::DisabledNotProvisioned]);
}

#[test]
fn deprovisioning_follows_the_option() {
    let target = snapshot(
        TGT,
        vec![managed_user("t1", "gone", "Ada Lovelace")],
        vec![],
    );
    let source = snapshot(SRC, vec![], vec![]);
    let mut case = Case::new(source, target);
    assert_eq!(kinds(&case.plan()), vec!["deleteUser"]);
    case.options.user_deprovision = UserDeprovision::Disable;
    assert_eq!(kinds(&case.plan()), vec!["disableUser"]);
    case.options.user_deprovision = UserDeprovision::None;
    let plan = case.plan();
    assert!(plan.operations.is_empty());
    assert_eq!(reasons(&plan), vec![Reason::DeprovisionSkipped]);
}

#[test]
fn an_unassigned_user_is_soft_deleted_and_reported_why() {
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        snapshot(TGT, vec![managed_user("t1", "u1", "Ada Lovelace")], vec![]),
    );
    let plan = case.converges();
    let Operation::DeleteUser { reason, .. } = &plan.operations[0] else {
        panic!()
    };
    assert!(reason.contains("left the scope"));
}

#[test]
fn a_user_back_within_30_days_is_restored_not_recreated() {
    let deleted = managed_user("t1", "u1", "Ada Lovelace")
        .with("deletedDateTime", "2026-11-10T00:00:00Z")
        .with("jobTitle", "Old title");
    let mut target = snapshot(TGT, vec![], vec![]);
    target.deleted_users = vec![deleted.clone()];
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        target.clone(),
    )
    .users(&["u1"]);
    let plan = case.converges();
    assert_eq!(kinds(&plan), vec!["restoreUser", "updateUser"]);

    // Deleted more than 30 days ago: Entra has purged it, so the user is created anew.
    let mut old = target;
    old.deleted_users = vec![deleted.with("deletedDateTime", "2026-09-01T00:00:00Z")];
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        old,
    )
    .users(&["u1"]);
    assert_eq!(kinds(&case.plan()), vec!["createUser"]);
}

#[test]
fn an_existing_b2b_user_is_matched_by_mail_and_anchored() {
    let mut existing = managed_user("t1", "x", "Ada Lovelace");
    existing.attributes.remove(DEFAULT_ANCHOR_ATTRIBUTE);
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        snapshot(TGT, vec![existing], vec![]),
    )
    .users(&["u1"]);
    let plan = case.converges();
    let Operation::UpdateUser {
        changes, target_id, ..
    } = &plan.operations[0]
    else {
        panic!()
    };
    assert_eq!(target_id, "t1");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].attribute, DEFAULT_ANCHOR_ATTRIBUTE);
}

#[test]
fn two_sources_matching_one_target_is_a_conflict_not_a_merge() {
    let mut existing = managed_user("t1", "x", "Ada Lovelace");
    existing.attributes.remove(DEFAULT_ANCHOR_ATTRIBUTE);
    let twin = src_user("u2", "Ada Twin").with("mail", "ada.lovelace@contoso.com");
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace"), twin], vec![]),
        snapshot(TGT, vec![existing], vec![]),
    )
    .users(&["u1", "u2"]);
    let plan = case.plan();
    assert!(plan.operations.is_empty(), "{}", plan.to_json_pretty());
    assert_eq!(
        reasons(&plan),
        vec![Reason::MatchConflict, Reason::MatchConflict]
    );
}

/// A user that comes into scope is planned with every user matched by anything but its anchor:
/// here it matches the target user another source user claimed, which a full plan reports as
/// a conflict for both (an incremental plan that left the claim alone would differ).
#[test]
fn a_user_coming_into_scope_is_matched_against_the_other_claims() {
    let mut existing = managed_user("t1", "x", "Ada Lovelace");
    existing.attributes.remove(DEFAULT_ANCHOR_ATTRIBUTE);
    let ada = || src_user("u1", "Ada Lovelace").with("department", "Sales");
    let twin = |department: &str| {
        src_user("u2", "Ada Twin")
            .with("mail", "ada.lovelace@contoso.com")
            .with("department", department)
    };
    let mut case = Case::new(
        snapshot(SRC, vec![ada(), twin("Legal")], vec![]),
        snapshot(TGT, vec![existing], vec![]),
    )
    .users(&["u1", "u2"]);
    case.leave_legal_out_of_scope();
    // First: Ada alone in scope claims t1.
    let (first, _, basis, _) = plan_incremental(&case.input(), None, None).expect("plan");
    assert_eq!(
        kinds(&first),
        vec!["updateUser"],
        "{}",
        first.to_json_pretty()
    );
    // Then the twin leaves Legal: both match t1.
    case.source = snapshot(SRC, vec![ada(), twin("Sales")], vec![]);
    let changes = Changes {
        source_users: vec!["u2".into()],
        ..Changes::default()
    };
    let (made, _, _, kind) = plan_incremental(&case.input(), basis, Some(&changes)).expect("plan");
    let full = case.plan();
    assert_eq!(
        reasons(&full),
        vec![Reason::MatchConflict, Reason::MatchConflict]
    );
    assert_eq!(made.to_json_pretty(), full.to_json_pretty(), "{kind:?}");
    // Ada's claim went: every group's plan reads the claimed users, so this one is planned in
    // full.
    assert_eq!(
        kind,
        PlanKind::Full {
            reason: Some("a user's target user changed".into())
        }
    );
}

#[test]
fn an_internal_target_user_is_never_matched() {
    let internal = DirectoryObject::new("t1")
        .with("mail", "ada.lovelace@contoso.com")
        .with("userPrincipalName", "ada@fabrikam.com")
        .with("userType", "Member");
    let case = Case::new(
        snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]),
        snapshot(TGT, vec![internal], vec![]),
    )
    .users(&["u1"]);
    let plan = case.plan();
    assert!(plan.operations.is_empty());
    assert_eq!(reasons(&plan), vec![Reason::InternalTargetUser]);
}

#[test]
fn objects_anchored_to_another_source_are_never_touched() {
    let foreign = managed_user("t1", "u1", "Ada Lovelace").with(
        DEFAULT_ANCHOR_ATTRIBUTE,
        "99999999-9999-9999-9999-999999999999/u1",
    );
    let case = Case::new(
        snapshot(SRC, vec![], vec![]),
        snapshot(TGT, vec![foreign], vec![]),
    );
    assert!(case.plan().is_empty());
}

#[test]
fn guests_and_filtered_users_are_reported() {
    let guest = src_user("u2", "Gail Guest").with("userType", "Guest").with(
        "userPrincipalName",
        "gail_partner.com#EXT#@contoso.onmicrosoft.com",
    );
    let case = Case::new(
        snapshot(
            SRC,
            vec![src_user("u1", "Ada Lovelace"), guest],
            vec![security_group("g1", "Eng", &["u1", "u2"])],
        ),
        snapshot(TGT, vec![], vec![]),
    )
    .groups(&["g1"]);
    let plan = case.plan();
    assert!(reasons(&plan).contains(&Reason::NotInternalUser));
    assert!(reasons(&plan).contains(&Reason::MemberNotInScope));
}

#[test]
fn nested_groups_are_skipped_or_flattened() {
    let source = snapshot(
        SRC,
        vec![
            src_user("u1", "Ada Lovelace"),
            src_user("u2", "Alan Turing"),
        ],
        vec![
            security_group("g1", "Eng", &["u1", "g2"]),
            security_group("g2", "Platform", &["u2"]),
        ],
    );
    let mut case = Case::new(source, snapshot(TGT, vec![], vec![])).groups(&["g1"]);
    let plan = case.plan();
    assert_eq!(kinds(&plan), vec!["createUser", "createGroup"]);
    assert!(reasons(&plan).contains(&Reason::NestedGroupSkipped));

    case.options.nested_groups = NestedGroups::Flatten;
    let plan = case.converges();
    assert_eq!(
        kinds(&plan),
        vec!["createUser", "createUser", "createGroup"]
    );
    let Operation::CreateGroup { members, .. } = &plan.operations[2] else {
        panic!()
    };
    assert_eq!(members.len(), 2);
}

#[test]
fn unsupported_group_kinds_are_reported_and_m365_can_sync_as_security() {
    let m365 = security_group("g1", "All Hands", &["u1"])
        .with("groupTypes", Value::Multi(vec!["Unified".into()]))
        .with("mailEnabled", true)
        .with("securityEnabled", false);
    let dl = security_group("g2", "News", &["u1"])
        .with("mailEnabled", true)
        .with("securityEnabled", false);
    let source = snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![m365, dl]);
    let mut case = Case::new(source, snapshot(TGT, vec![], vec![])).groups(&["g1", "g2"]);
    let plan = case.plan();
    assert_eq!(kinds(&plan), vec!["createUser"]);
    assert_eq!(
        reasons(&plan),
        vec![Reason::UnsupportedGroupType, Reason::UnsupportedGroupType]
    );
    case.options.m365_groups = M365Groups::AsSecurity;
    let plan = case.converges();
    assert_eq!(kinds(&plan), vec!["createUser", "createGroup"]);
    let Operation::CreateGroup { attributes, .. } = &plan.operations[1] else {
        panic!()
    };
    let get = |n: &str| {
        attributes
            .iter()
            .find(|a| a.attribute == n)
            .map(|a| a.new.clone())
    };
    assert!(get("mailEnabled").unwrap().same_as(&Value::Bool(false)));
    assert!(get("securityEnabled").unwrap().same_as(&Value::Bool(true)));
}

#[test]
fn group_name_conflicts_follow_the_option() {
    let source = snapshot(
        SRC,
        vec![src_user("u1", "Ada Lovelace")],
        vec![security_group("g1", "Finance", &["u1"])],
    );
    let target = snapshot(TGT, vec![], vec![security_group("t-fin", "Finance", &[])]);
    let mut case = Case::new(source, target).groups(&["g1"]);
    let plan = case.plan();
    assert_eq!(kinds(&plan), vec!["createUser"]);
    assert_eq!(reasons(&plan), vec![Reason::GroupNameConflict]);

    case.options.group_name_conflict = GroupNameConflict::Adopt;
    let plan = case.plan();
    assert_eq!(kinds(&plan), vec!["createUser", "updateGroup", "addMember"]);

    case.options.group_name_conflict = GroupNameConflict::Suffix;
    let plan = case.converges();
    let Operation::CreateGroup { attributes, .. } = &plan.operations[1] else {
        panic!()
    };
    let name = attributes
        .iter()
        .find(|a| a.attribute == "displayName")
        .unwrap();
    assert_eq!(name.new, Value::string("Finance (synced)"));
}

#[test]
fn memberships_follow_the_source_and_unmanaged_members_can_be_kept() {
    let source = snapshot(
        SRC,
        vec![
            src_user("u1", "Ada Lovelace"),
            src_user("u2", "Alan Turing"),
        ],
        vec![security_group("g1", "Eng", &["u2"])],
    );
    let target = snapshot(
        TGT,
        vec![
            managed_user("t1", "u1", "Ada Lovelace"),
            managed_user("t2", "u2", "Alan Turing"),
            DirectoryObject::new("local").with("userPrincipalName", "admin@fabrikam.com"),
        ],
        vec![managed_group("tg", "g1", "Eng", &["t1", "local"])],
    );
    let mut case = Case::new(source, target).users(&["u1"]).groups(&["g1"]);
    let plan = case.plan();
    assert_eq!(
        kinds(&plan),
        vec!["addMember", "removeMember", "removeMember"]
    );
    case.options.target_only_members = TargetOnlyMembers::KeepUnmanaged;
    let plan = case.converges();
    assert_eq!(kinds(&plan), vec!["addMember", "removeMember"]);
    let Operation::RemoveMember { member_id, .. } = &plan.operations[1] else {
        panic!()
    };
    assert_eq!(member_id, "t1");
}

#[test]
fn out_of_scope_groups_are_deleted_unless_configured() {
    let target = snapshot(TGT, vec![], vec![managed_group("tg", "gone", "Old", &[])]);
    let mut case = Case::new(snapshot(SRC, vec![], vec![]), target);
    assert_eq!(kinds(&case.plan()), vec!["deleteGroup"]);
    case.options.group_deprovision = GroupDeprovision::None;
    assert_eq!(reasons(&case.plan()), vec![Reason::DeprovisionSkipped]);
}

#[test]
fn the_deletion_threshold_refuses_the_whole_plan() {
    let users: Vec<DirectoryObject> = (0..6)
        .map(|i| managed_user(&format!("t{i}"), &format!("gone{i}"), &format!("User {i}")))
        .collect();
    let source = snapshot(SRC, vec![src_user("new", "New User")], vec![]);
    let mut case = Case::new(source, snapshot(TGT, users, vec![])).users(&["new"]);
    case.options.deletion_threshold = 5;
    let plan = case.plan();
    assert!(plan.operations.is_empty());
    let refused = plan.refused.as_ref().expect("refused");
    assert_eq!(refused.deprovisions, 6);
    assert_eq!(refused.would_deprovision.len(), 6);
    assert!(reasons(&plan).contains(&Reason::DeletionThresholdExceeded));

    case.options.deletion_threshold = 6;
    assert!(case.plan().refused.is_none());

    case.options.deletion_threshold_percent = Some(50.0);
    assert!(case.plan().refused.is_some());

    case.options.allow_deletes = true;
    assert_eq!(case.plan().operations.len(), 7);
}

#[test]
fn plans_are_deterministic() {
    let text = |c: &Case| c.plan().to_json_pretty();
    let source = snapshot(
        SRC,
        (0..50)
            .map(|i| src_user(&format!("u{i}"), &format!("User {i}")))
            .collect(),
        vec![security_group("g1", "Eng", &["u1", "u7", "u3"])],
    );
    let case = Case::new(source, snapshot(TGT, vec![], vec![]))
        .groups(&["g1"])
        .users(&["u9", "u2"]);
    assert_eq!(text(&case), text(&case));
}

#[test]
fn the_example_snapshots_plan_every_case_and_converge() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let source = Snapshot::load(&root.join("source.json")).unwrap();
    let target = Snapshot::load(&root.join("target.json")).unwrap();
    let job = crate::config::JobConfig::load(&root.join("job.toml")).unwrap();
    let schema = crate::schema::load_file(job.schema_path().unwrap()).unwrap();
    let mut case = Case::new(source, target);
    case.schema = schema;
    case.scope = job.scope.clone();
    case.options = job.options.clone();
    let plan = case.plan();
    let ops = kinds(&plan);
    for kind in [
        "restoreUser",
        "createUser",
        "updateUser",
        "createGroup",
        "updateGroup",
        "addMember",
        "removeMember",
        "deleteUser",
        "deleteGroup",
    ] {
        assert!(
            ops.contains(&kind),
            "no {kind} in {}",
            plan.to_json_pretty()
        );
    }
    let got = reasons(&plan);
    for reason in [
        Reason::AssignedObjectNotFound,
        Reason::ScopingFilter,
        Reason::NotInternalUser,
        Reason::DisabledNotProvisioned,
        Reason::UnsupportedGroupType,
        Reason::NestedGroupSkipped,
        Reason::MemberNotInScope,
        Reason::UnknownMember,
        Reason::MemberNotProvisioned,
        Reason::MatchConflict,
        Reason::InternalTargetUser,
        Reason::GroupNameConflict,
    ] {
        assert!(
            got.contains(&reason),
            "no {reason:?} in {}",
            plan.to_json_pretty()
        );
    }
    case.converges();
}

#[test]
fn a_plan_says_whether_it_read_the_time() {
    let source = snapshot(SRC, vec![src_user("u1", "Ada Lovelace")], vec![]);
    let target = snapshot(TGT, vec![managed_user("t1", "u1", "Ada Lovelace")], vec![]);
    let case = Case::new(source, target).users(&["u1"]);
    let (plan, timed) = plan_timed(&case.input()).expect("plan");
    assert!(!timed, "the default schema reads no time");
    assert_eq!(plan.to_json_pretty(), case.plan().to_json_pretty());
    let mut with_deleted = case;
    with_deleted.target.deleted_users =
        vec![managed_user("t9", "u9", "Gone").with("deletedDateTime", "2026-11-20T00:00:00Z")];
    assert!(plan_timed(&with_deleted.input()).expect("plan").1);
}

// ---- The fixed point, on generated tenants ----

const DEPARTMENTS: &[&str] = &["Sales", "R&D", "HR"];

prop_compose! {
    pub(crate) fn arb_case()(
        n_users in 1usize..14,
        seed in any::<u64>(),
        nested in any::<bool>(),
        m365 in any::<bool>(),
        deprovision in 0u8..3,
        conflict in 0u8..3,
        keep in any::<bool>(),
    ) -> Case {
        // A small deterministic generator from the seed keeps shrinking meaningful.
        let mut s = seed;
        let mut next = move |n: u64| { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (s >> 33) % n.max(1) };
        let mut users = Vec::new();
        for i in 0..n_users {
            let mut u = src_user(&format!("u{i}"), &format!("User {}", next(8)))
                .with("department", DEPARTMENTS[next(3) as usize])
                .with("accountEnabled", next(5) != 0);
            if next(6) == 0 {
                u = u.with("userType", "Guest").with("userPrincipalName", format!("g{i}_x.com#EXT#@contoso.com"));
            }
            users.push(u);
        }
        let n_groups = 1 + next(5) as usize;
        let mut groups = Vec::new();
        for g in 0..n_groups {
            let members: Vec<String> = (0..next(6)).map(|_| {
                if next(4) == 0 { format!("g{}", next(n_groups as u64)) } else { format!("u{}", next(n_users as u64)) }
            }).collect();
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            let mut grp = security_group(&format!("g{g}"), &format!("Group {}", next(4)), &refs);
            if next(5) == 0 { grp = grp.with("groupTypes", Value::Multi(vec!["Unified".into()])); }
            groups.push(grp);
        }
        let source = snapshot(SRC, users.clone(), groups);
        let mut t_users = Vec::new();
        let mut t_deleted = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let name = u.label();
            match next(6) {
                0 => t_users.push(managed_user(&format!("t{i}"), &u.id, &name).with("jobTitle", "Drifted")),
                1 => t_users.push(managed_user(&format!("t{i}"), &u.id, &name)),
                2 => { let mut m = managed_user(&format!("t{i}"), "x", &name); m.attributes.remove(DEFAULT_ANCHOR_ATTRIBUTE); t_users.push(m) }
                3 => t_deleted.push(managed_user(&format!("t{i}"), &u.id, &name).with("deletedDateTime", "2026-11-20T00:00:00Z")),
                _ => {}
            }
        }
        t_users.push(managed_user("t-gone", "deleted-source", "Gone User"));
        t_users.push(DirectoryObject::new("t-local").with("userPrincipalName", "local@fabrikam.com").with("mail", "user.1@contoso.com"));
        let mut t_groups = vec![security_group("tg-unmanaged", "Group 1", &["t-local"])];
        for g in 0..n_groups {
            if next(2) == 0 {
                t_groups.push(managed_group(&format!("tg{g}"), &format!("g{g}"), "Renamed", &["t-local", "t0"]));
            }
        }
        let mut target = snapshot(TGT, t_users, t_groups);
        target.deleted_users = t_deleted;
        let mut case = Case::new(source, target);
        case.scope.groups = (0..n_groups).filter(|_| next(3) != 0).map(|g| format!("g{g}")).collect();
        case.scope.users = (0..n_users).filter(|_| next(4) == 0).map(|u| format!("u{u}")).collect();
        case.options.nested_groups = if nested { NestedGroups::Flatten } else { NestedGroups::Skip };
        case.options.m365_groups = if m365 { M365Groups::AsSecurity } else { M365Groups::Skip };
        case.options.user_deprovision = [UserDeprovision::SoftDelete, UserDeprovision::Disable, UserDeprovision::None][deprovision as usize];
        case.options.group_name_conflict = [GroupNameConflict::Skip, GroupNameConflict::Adopt, GroupNameConflict::Suffix][conflict as usize];
        case.options.target_only_members = if keep { TargetOnlyMembers::KeepUnmanaged } else { TargetOnlyMembers::Remove };
        case.options.allow_deletes = true;
        case
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applying_a_plan_then_planning_again_gives_an_empty_plan(case in arb_case()) {
        let first = case.plan();
        let after = simulate(&case.target, &first.operations).expect("the plan applies to its own target");
        let again = Case { target: after, ..case };
        let second = again.plan();
        prop_assert!(second.operations.is_empty(), "first: {}\nsecond: {}", first.to_json_pretty(), second.to_json_pretty());
    }

    #[test]
    fn planning_is_deterministic(case in arb_case()) {
        prop_assert_eq!(case.plan().to_json_pretty(), case.plan().to_json_pretty());
    }
}

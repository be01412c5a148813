//! Assignment scoping ("sync only assigned users and groups") and group membership in scope.
//!
//! Users in scope: the assigned users and the members of the assigned groups (direct members;
//! transitive ones when nested groups are flattened), or every user in `all` mode; then only
//! internal members of the source that pass the user scoping filter. Groups in scope: the
//! assigned groups that are security groups (or Microsoft 365 groups synced as security groups)
//! and pass the group scoping filter.

use std::collections::BTreeSet;

use crate::snapshot::{DirectoryObject, GroupKind, IdSet, SnapshotIndex};

use super::model::{ObjectKind, Reason, ReportEntry};
use super::options::{M365Groups, NestedGroups, PlanOptions, ScopeMode, ScopeOptions};
use super::transform::CompiledObject;

/// A group in scope and the source user ids that should be its members.
#[derive(Debug)]
pub(crate) struct ScopedGroup<'s> {
    pub group: &'s DirectoryObject,
    pub members: Vec<&'s str>,
}

/// The outcome of scoping.
#[derive(Debug, Default)]
pub(crate) struct Scoped<'s> {
    /// Users in scope, by ascending id.
    pub users: Vec<&'s DirectoryObject>,
    /// Groups in scope, by ascending id.
    pub groups: Vec<ScopedGroup<'s>>,
}

pub(crate) fn resolve<'s>(
    index: &SnapshotIndex<'s>,
    all_users: &'s [DirectoryObject],
    scope: &ScopeOptions,
    options: &PlanOptions,
    users_map: &CompiledObject,
    groups_map: Option<&CompiledObject>,
    report: &mut Vec<ReportEntry>,
) -> Scoped<'s> {
    let flatten = options.nested_groups == NestedGroups::Flatten;
    let assigned_groups: BTreeSet<&str> = scope.groups.iter().map(String::as_str).collect();
    let assigned_users: BTreeSet<&str> = scope.users.iter().map(String::as_str).collect();

    for id in &assigned_users {
        if !index.users.contains_key(id) {
            report.push(entry(
                ObjectKind::User,
                Reason::AssignedObjectNotFound,
                id,
                id,
                "the assigned user does not exist in the source: remove it from [scope] users"
                    .into(),
            ));
        }
    }
    for id in &assigned_groups {
        if !index.groups.contains_key(id) {
            report.push(entry(
                ObjectKind::Group,
                Reason::AssignedObjectNotFound,
                id,
                id,
                "the assigned group does not exist in the source: remove it from [scope] groups"
                    .into(),
            ));
        }
    }

    // Candidate users: the assigned ones and the members of assigned groups.
    let mut candidates: IdSet<&'s str> = IdSet::default();
    match scope.mode {
        ScopeMode::All => candidates.extend(all_users.iter().map(|u| u.id.as_str())),
        ScopeMode::Assigned => {
            for id in &assigned_users {
                if let Some((k, _)) = index.users.get_key_value(*id) {
                    candidates.insert(*k);
                }
            }
            for gid in &assigned_groups {
                if let Some(g) = index.groups.get(gid).copied() {
                    candidates.extend(user_members(index, g, flatten));
                }
            }
        }
    }

    let mut candidates: Vec<&'s str> = candidates.into_iter().collect();
    candidates.sort_unstable();
    let mut in_scope: IdSet<&'s str> =
        IdSet::with_capacity_and_hasher(candidates.len(), Default::default());
    let mut users = Vec::with_capacity(candidates.len());
    for id in candidates {
        let user = index.users[id];
        if user.is_external_user() {
            report.push(entry(
                ObjectKind::User,
                Reason::NotInternalUser,
                id,
                &user.label(),
                "only internal members of the source are synchronized; guests and external users are not"
                    .into(),
            ));
            continue;
        }
        if let Some(why) = users_map.out_of_scope(user) {
            report.push(entry(
                ObjectKind::User,
                Reason::ScopingFilter,
                id,
                &user.label(),
                format!("out of scope: {why}"),
            ));
            continue;
        }
        in_scope.insert(id);
        users.push(user);
    }

    let mut groups = Vec::new();
    if let Some(groups_map) = groups_map {
        for gid in &assigned_groups {
            let Some(group) = index.groups.get(gid).copied() else {
                continue;
            };
            let kind = group.group_kind();
            let supported = kind == GroupKind::Security
                || (kind == GroupKind::Microsoft365
                    && options.m365_groups == M365Groups::AsSecurity);
            if !supported {
                let hint = match kind {
                    GroupKind::Microsoft365 => {
                        "set options.m365_groups = \"as-security\" to sync it as a security group"
                    }
                    _ => "only security groups can be created in the target through Graph",
                };
                report.push(entry(
                    ObjectKind::Group,
                    Reason::UnsupportedGroupType,
                    gid,
                    &group.label(),
                    format!("{} skipped: {hint}", kind.describe()),
                ));
                continue;
            }
            if let Some(why) = groups_map.out_of_scope(group) {
                report.push(entry(
                    ObjectKind::Group,
                    Reason::ScopingFilter,
                    gid,
                    &group.label(),
                    format!("out of scope: {why}"),
                ));
                continue;
            }
            let members = if groups_map.members {
                scoped_members(index, group, flatten, &in_scope, report)
            } else {
                Vec::new()
            };
            groups.push(ScopedGroup { group, members });
        }
    }
    Scoped { users, groups }
}

/// The user members of a group: direct ones, or every transitive one when flattening.
fn user_members<'s>(
    index: &SnapshotIndex<'s>,
    group: &'s DirectoryObject,
    flatten: bool,
) -> Vec<&'s str> {
    let mut out = Vec::new();
    let mut seen_groups: IdSet<&str> = IdSet::default();
    seen_groups.insert(group.id.as_str());
    let mut stack = vec![group];
    while let Some(g) = stack.pop() {
        for m in g.member_ids() {
            if let Some((id, _)) = index.users.get_key_value(m) {
                out.push(*id);
            } else if flatten
                && let Some(nested) = index.groups.get(m)
                && seen_groups.insert(nested.id.as_str())
            {
                stack.push(nested);
            }
        }
    }
    out
}

/// The in-scope user members a group should have, reporting every member left out.
fn scoped_members<'s>(
    index: &SnapshotIndex<'s>,
    group: &'s DirectoryObject,
    flatten: bool,
    in_scope: &IdSet<&'s str>,
    report: &mut Vec<ReportEntry>,
) -> Vec<&'s str> {
    let mut out: Vec<&'s str> = Vec::new();
    let mut seen_groups: IdSet<&str> = IdSet::default();
    seen_groups.insert(group.id.as_str());
    let mut stack = vec![group];
    while let Some(g) = stack.pop() {
        for m in g.member_ids() {
            if let Some((id, user)) = index.users.get_key_value(m) {
                if in_scope.contains(id) {
                    out.push(id);
                } else {
                    report.push(ReportEntry {
                        kind: ObjectKind::Membership,
                        reason: Reason::MemberNotInScope,
                        source_id: Some((*id).to_string()),
                        target_id: None,
                        display: format!("{} in {}", user.label(), group.label()),
                        detail: "the member is not in user scope (see its user entry), so it is not added to the target group".into(),
                    });
                }
            } else if let Some(nested) = index.groups.get(m) {
                if !flatten {
                    report.push(ReportEntry {
                        kind: ObjectKind::Membership,
                        reason: Reason::NestedGroupSkipped,
                        source_id: Some(nested.id.clone()),
                        target_id: None,
                        display: format!("{} in {}", nested.label(), group.label()),
                        detail: "nested groups are not synchronized; set options.nested_groups = \"flatten\" to add their users as direct members".into(),
                    });
                } else if seen_groups.insert(nested.id.as_str()) {
                    stack.push(nested);
                }
            } else {
                report.push(ReportEntry {
                    kind: ObjectKind::Membership,
                    reason: Reason::UnknownMember,
                    source_id: Some(m.to_string()),
                    target_id: None,
                    display: format!("{m} in {}", group.label()),
                    detail: "the member is neither a user nor a group (a device, contact or service principal?) and is not synchronized".into(),
                });
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn entry(kind: ObjectKind, reason: Reason, id: &str, display: &str, detail: String) -> ReportEntry {
    ReportEntry {
        kind,
        reason,
        source_id: Some(id.to_string()),
        target_id: None,
        display: display.to_string(),
        detail,
    }
}

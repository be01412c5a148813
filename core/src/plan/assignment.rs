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
use super::planner::{Tag, pass};
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
    /// In `assigned` mode without flattening: how each user came to be a candidate.
    pub candidacy: Option<Candidacy<'s>>,
}

/// Why users are candidates in `assigned` mode (direct members only): what an incremental plan
/// needs to tell whether a membership change moved a user in or out of scope.
#[derive(Debug, Default)]
pub(crate) struct Candidacy<'s> {
    /// Per user (by position in the source's users): how many times it is assigned, directly
    /// and through the assigned groups it is a direct member of.
    pub counts: Vec<u32>,
    /// Each existing assigned group's user members, by position, sorted.
    pub members: Vec<(&'s str, Vec<u32>)>,
}

/// The position of `object` in `all` (the index maps point into the snapshot's vectors).
pub(crate) fn position(all: &[DirectoryObject], object: &DirectoryObject) -> u32 {
    let offset = (object as *const DirectoryObject as usize) - (all.as_ptr() as usize);
    let i = offset / std::mem::size_of::<DirectoryObject>();
    debug_assert!(std::ptr::eq(&all[i], object));
    i as u32
}

/// The positions (in `all_users`) of the users that are direct members of `group`, sorted.
pub(crate) fn direct_user_members(
    index: &SnapshotIndex<'_>,
    all_users: &[DirectoryObject],
    group: &DirectoryObject,
) -> Vec<u32> {
    let mut out: Vec<u32> = group
        .member_ids()
        .filter_map(|m| index.users.get(m).map(|u| position(all_users, u)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn tagged(
    report: &mut Vec<(Tag, ReportEntry)>,
    pass: u8,
    key: &str,
    member: Option<&str>,
    entry: ReportEntry,
) {
    report.push((Tag::new(pass, key, member), entry));
}

/// Reports `object` left out of scope, in `pass`.
fn left_out(
    report: &mut Vec<(Tag, ReportEntry)>,
    pass: u8,
    kind: ObjectKind,
    object: &DirectoryObject,
    reason: Reason,
    detail: String,
) {
    let id = object.id.as_str();
    let e = entry(kind, reason, id, &object.label(), detail);
    tagged(report, pass, id, None, e);
}

pub(crate) fn resolve<'s>(
    index: &SnapshotIndex<'s>,
    all_users: &'s [DirectoryObject],
    scope: &ScopeOptions,
    options: &PlanOptions,
    users_map: &CompiledObject,
    groups_map: Option<&CompiledObject>,
    report: &mut Vec<(Tag, ReportEntry)>,
) -> Scoped<'s> {
    let flatten = options.nested_groups == NestedGroups::Flatten;
    let assigned_groups: BTreeSet<&str> = scope.groups.iter().map(String::as_str).collect();
    let assigned_users: BTreeSet<&str> = scope.users.iter().map(String::as_str).collect();

    for id in &assigned_users {
        if !index.users.contains_key(id) {
            tagged(
                report,
                pass::USER_NOT_FOUND,
                id,
                None,
                entry(
                    ObjectKind::User,
                    Reason::AssignedObjectNotFound,
                    id,
                    id,
                    "the assigned user does not exist in the source: remove it from [scope] users"
                        .into(),
                ),
            );
        }
    }
    for id in &assigned_groups {
        if !index.groups.contains_key(id) {
            tagged(report, pass::GROUP_NOT_FOUND, id, None, entry(
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
    let mut candidacy = None;
    let mut candidates: Vec<&'s str> = match scope.mode {
        ScopeMode::All => all_users.iter().map(|u| u.id.as_str()).collect(),
        ScopeMode::Assigned if !flatten => {
            // Counted per user, which an incremental plan keeps up to date.
            let mut c = Candidacy {
                counts: vec![0; all_users.len()],
                members: Vec::new(),
            };
            for id in &assigned_users {
                if let Some(u) = index.users.get(*id) {
                    c.counts[position(all_users, u) as usize] += 1;
                }
            }
            for gid in &assigned_groups {
                if let Some((&gid, &g)) = index.groups.get_key_value(*gid) {
                    let members = direct_user_members(index, all_users, g);
                    for &p in &members {
                        c.counts[p as usize] += 1;
                    }
                    c.members.push((gid, members));
                }
            }
            let ids = c
                .counts
                .iter()
                .zip(all_users)
                .filter(|(n, _)| **n > 0)
                .map(|(_, u)| u.id.as_str())
                .collect();
            candidacy = Some(c);
            ids
        }
        ScopeMode::Assigned => {
            let mut set: IdSet<&'s str> = IdSet::default();
            for id in &assigned_users {
                if let Some((k, _)) = index.users.get_key_value(*id) {
                    set.insert(*k);
                }
            }
            for gid in &assigned_groups {
                if let Some(g) = index.groups.get(gid).copied() {
                    set.extend(user_members(index, g, flatten));
                }
            }
            set.into_iter().collect()
        }
    };
    candidates.sort_unstable();
    let mut in_scope: IdSet<&'s str> =
        IdSet::with_capacity_and_hasher(candidates.len(), Default::default());
    let mut users = Vec::with_capacity(candidates.len());
    for id in candidates {
        let user = index.users[id];
        if scope_user(user, users_map, report) {
            in_scope.insert(id);
            users.push(user);
        }
    }

    let mut groups = Vec::new();
    if let Some(groups_map) = groups_map {
        for gid in &assigned_groups {
            let Some(group) = index.groups.get(gid).copied() else {
                continue;
            };
            let member_in_scope = |id: &str| in_scope.contains(id);
            if let Some(sg) =
                scope_group(index, group, options, groups_map, &member_in_scope, report)
            {
                groups.push(sg);
            }
        }
    }
    Scoped {
        users,
        groups,
        candidacy,
    }
}

/// Whether a candidate user is in scope (an internal member that passes the user scoping
/// filter); reports why when it is not.
pub(crate) fn scope_user(
    user: &DirectoryObject,
    users_map: &CompiledObject,
    report: &mut Vec<(Tag, ReportEntry)>,
) -> bool {
    match user_out_of_scope(user, users_map) {
        None => true,
        Some((reason, detail)) => {
            left_out(
                report,
                pass::SCOPE_USER,
                ObjectKind::User,
                user,
                reason,
                detail,
            );
            false
        }
    }
}

/// Why a candidate user is out of scope, if it is (what [`scope_user`] reports).
pub(crate) fn user_out_of_scope(
    user: &DirectoryObject,
    users_map: &CompiledObject,
) -> Option<(Reason, String)> {
    if user.is_external_user() {
        return Some((
            Reason::NotInternalUser,
            "only internal members of the source are synchronized; guests and external users are not"
                .into(),
        ));
    }
    users_map
        .out_of_scope(user)
        .map(|why| (Reason::ScopingFilter, format!("out of scope: {why}")))
}

/// An assigned group in scope (a supported kind that passes the group scoping filter) with the
/// members it should have, given which users are in scope; reports why when it is not, and
/// every member left out.
pub(crate) fn scope_group<'s>(
    index: &SnapshotIndex<'s>,
    group: &'s DirectoryObject,
    options: &PlanOptions,
    groups_map: &CompiledObject,
    in_scope: &dyn Fn(&str) -> bool,
    report: &mut Vec<(Tag, ReportEntry)>,
) -> Option<ScopedGroup<'s>> {
    let kind = group.group_kind();
    let supported = kind == GroupKind::Security
        || (kind == GroupKind::Microsoft365 && options.m365_groups == M365Groups::AsSecurity);
    if !supported {
        let hint = match kind {
            GroupKind::Microsoft365 => {
                "set options.m365_groups = \"as-security\" to sync it as a security group"
            }
            _ => "only security groups can be created in the target through Graph",
        };
        left_out(
            report,
            pass::SCOPE_GROUP,
            ObjectKind::Group,
            group,
            Reason::UnsupportedGroupType,
            format!("{} skipped: {hint}", kind.describe()),
        );
        return None;
    }
    if let Some(why) = groups_map.out_of_scope(group) {
        left_out(
            report,
            pass::SCOPE_GROUP,
            ObjectKind::Group,
            group,
            Reason::ScopingFilter,
            format!("out of scope: {why}"),
        );
        return None;
    }
    let flatten = options.nested_groups == NestedGroups::Flatten;
    let members = if groups_map.members {
        scoped_members(index, group, flatten, in_scope, report)
    } else {
        Vec::new()
    };
    Some(ScopedGroup { group, members })
}

/// The user members of a group: direct ones, or every transitive one when flattening.
pub(crate) fn user_members<'s>(
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
    in_scope: &dyn Fn(&str) -> bool,
    report: &mut Vec<(Tag, ReportEntry)>,
) -> Vec<&'s str> {
    let gid = group.id.as_str();
    let mut out: Vec<&'s str> = Vec::new();
    let mut seen_groups: IdSet<&str> = IdSet::default();
    seen_groups.insert(group.id.as_str());
    let mut stack = vec![group];
    while let Some(g) = stack.pop() {
        for m in g.member_ids() {
            if let Some((id, user)) = index.users.get_key_value(m) {
                if in_scope(id) {
                    out.push(id);
                } else {
                    tagged(report, pass::SCOPE_GROUP, gid, Some(id), ReportEntry {
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
                    tagged(report, pass::SCOPE_GROUP, gid, Some(&nested.id), ReportEntry {
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
                tagged(report, pass::SCOPE_GROUP, gid, None, ReportEntry {
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

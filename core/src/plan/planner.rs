//! The planning steps, run in order: compile the schema, resolve scope, index the target,
//! match and diff users, match and diff groups and memberships, deprovision what left the
//! scope, check the deletion threshold, order the operations.

use std::collections::BTreeMap;

use chrono::Duration;

use crate::snapshot::{DirectoryObject, IdMap, IdSet, SnapshotIndex};
use crate::value::Value;

use super::assignment::{self, ScopedGroup};
use super::model::{
    AttributeChange, Invitation, ObjectKind, ObjectRef, Operation, Plan, Reason, Refusal,
    ReportEntry, Summary,
};
use super::options::{
    GroupDeprovision, GroupNameConflict, RESTORE_WINDOW_DAYS, TargetOnlyMembers, UserDeprovision,
};
use super::transform::{
    Apply, CompiledMapping, CompiledObject, Desired, EvalFailure, Evaluator, TargetValues,
};
use super::{PlanError, PlanInput};

/// Operations by stage; concatenated in this order at the end.
#[derive(Default)]
struct Buckets {
    restore_users: Vec<Operation>,
    create_users: Vec<Operation>,
    update_users: Vec<Operation>,
    restore_groups: Vec<Operation>,
    create_groups: Vec<Operation>,
    update_groups: Vec<Operation>,
    add_members: Vec<Operation>,
    remove_members: Vec<Operation>,
    disable_users: Vec<Operation>,
    delete_users: Vec<Operation>,
    delete_groups: Vec<Operation>,
}

impl Buckets {
    fn into_ordered(self) -> Vec<Operation> {
        [
            self.restore_users,
            self.create_users,
            self.update_users,
            self.restore_groups,
            self.create_groups,
            self.update_groups,
            self.add_members,
            self.remove_members,
            self.disable_users,
            self.delete_users,
            self.delete_groups,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// How a source object is matched to the target.
enum Match<'t> {
    /// By its anchor: already managed.
    Anchored(&'t DirectoryObject),
    /// Its anchored target object is soft-deleted and still restorable.
    Restore(&'t DirectoryObject),
    /// Matched by the state cache or a matching attribute: the anchor gets written.
    Claimed(&'t DirectoryObject),
    /// Nothing in the target: create it.
    Create,
    /// Skipped (reported).
    Skip,
}

/// Target objects by the source id in their anchor.
struct AnchorIndex<'t> {
    live: IdMap<&'t str, &'t DirectoryObject>,
    deleted: IdMap<&'t str, &'t DirectoryObject>,
}

impl<'t> AnchorIndex<'t> {
    /// The live anchored objects as (source id, target object), by target id.
    fn managed(&self) -> Vec<(&'t str, &'t DirectoryObject)> {
        let mut managed: Vec<(&'t str, &'t DirectoryObject)> =
            self.live.iter().map(|(k, v)| (*k, *v)).collect();
        managed.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        managed
    }
}

pub(crate) struct Planner<'a> {
    input: &'a PlanInput<'a>,
    users_map: CompiledObject,
    groups_map: Option<CompiledObject>,
    report: Vec<ReportEntry>,
    ops: Buckets,
    /// Source user id -> its target user (existing or created in this plan).
    user_refs: IdMap<&'a str, ObjectRef>,
    /// Display names for membership operations.
    source_users: IdMap<&'a str, &'a DirectoryObject>,
    target_users: IdMap<&'a str, &'a DirectoryObject>,
    source_tenant: &'a str,
}

impl<'a> Planner<'a> {
    pub(super) fn new(input: &'a PlanInput<'a>) -> Result<Self, PlanError> {
        if input.source.tenant_id.is_empty() {
            return Err(PlanError::MissingSourceTenant);
        }
        let users_map =
            CompiledObject::compile(input.schema, "User")?.ok_or_else(|| PlanError::Schema {
                message: "the schema has no enabled object mapping for source object User".into(),
            })?;
        let groups_map = CompiledObject::compile(input.schema, "Group")?;
        Ok(Planner {
            input,
            users_map,
            groups_map,
            report: Vec::new(),
            ops: Buckets::default(),
            user_refs: IdMap::default(),
            source_users: input
                .source
                .users
                .iter()
                .map(|u| (u.id.as_str(), u))
                .collect(),
            target_users: input
                .target
                .users
                .iter()
                .map(|u| (u.id.as_str(), u))
                .collect(),
            source_tenant: &input.source.tenant_id,
        })
    }

    pub(super) fn run(self) -> Result<Plan, PlanError> {
        self.run_timed().map(|(plan, _)| plan)
    }

    /// Plans, and says whether the plan depends on the time (`as_of`): an expression read it,
    /// or a deleted object's restore window was weighed.
    pub(super) fn run_timed(mut self) -> Result<(Plan, bool), PlanError> {
        let input = self.input;
        let source_index = input.source.index();
        let target_index = input.target.index();
        let scoped = assignment::resolve(
            &source_index,
            &input.source.users,
            input.scope,
            input.options,
            &self.users_map,
            self.groups_map.as_ref(),
            &mut self.report,
        );
        let evaluator = Evaluator {
            as_of: input.as_of,
            functions: input.functions,
            target_values: TargetValues::new(&input.target.users),
            default_domain: input.target.default_domain.clone(),
            clock_read: std::sync::atomic::AtomicBool::new(false),
        };

        let user_anchors = self.anchor_index(
            &input.target.users,
            &input.target.deleted_users,
            ObjectKind::User,
        );
        let group_anchors = self.anchor_index(
            &input.target.groups,
            &input.target.deleted_groups,
            ObjectKind::Group,
        );

        let users_kept = self.plan_users(&scoped.users, &evaluator, &user_anchors, &target_index);
        self.deprovision_users(&users_kept, &user_anchors, &source_index);

        if let Some(groups_map) = self.groups_map.take() {
            let groups_kept = self.plan_groups(
                &groups_map,
                &scoped.groups,
                &evaluator,
                &group_anchors,
                &user_anchors,
            );
            self.deprovision_groups(&groups_map, &groups_kept, &group_anchors, &source_index);
        }

        let managed = user_anchors.live.len() + group_anchors.live.len();
        let timed = evaluator
            .clock_read
            .load(std::sync::atomic::Ordering::Relaxed)
            || !input.target.deleted_users.is_empty()
            || !input.target.deleted_groups.is_empty();
        Ok((
            self.finish(scoped.users.len(), scoped.groups.len(), managed),
            timed,
        ))
    }

    fn anchor_of<'t>(&self, object: &'t DirectoryObject) -> Option<&'t str> {
        anchor_source_id(
            object,
            &self.input.options.anchor_attribute,
            self.source_tenant,
        )
    }

    /// True when the object carries any anchor (ours, or another job's).
    fn has_any_anchor(&self, object: &DirectoryObject) -> bool {
        object.text(&self.input.options.anchor_attribute).is_some()
    }

    fn anchor_value(&self, source_id: &str) -> String {
        format!("{}/{}", self.source_tenant, source_id)
    }

    fn anchor_change(&self, source_id: &str, current: Option<&DirectoryObject>) -> AttributeChange {
        let attribute = self.input.options.anchor_attribute.clone();
        AttributeChange {
            old: current.map(|c| c.get(&attribute)).unwrap_or_default(),
            new: Value::String(self.anchor_value(source_id)),
            attribute,
            redact: false,
        }
    }

    fn anchor_index<'t>(
        &mut self,
        live: &'t [DirectoryObject],
        deleted: &'t [DirectoryObject],
        kind: ObjectKind,
    ) -> AnchorIndex<'t> {
        let mut index = AnchorIndex {
            live: IdMap::default(),
            deleted: IdMap::default(),
        };
        let mut sorted: Vec<&DirectoryObject> = live.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        for object in sorted {
            if let Some(source_id) = self.anchor_of(object) {
                if let Some(first) = index.live.get(source_id) {
                    self.report.push(entry(
                        kind,
                        Reason::DuplicateAnchor,
                        source_id,
                        Some(&object.id),
                        object.label(),
                        format!(
                            "target objects {} and {} both carry the anchor of source object {source_id}; only {} is managed: delete the duplicate",
                            first.id, object.id, first.id
                        ),
                    ));
                } else {
                    index.live.insert(source_id, object);
                }
            }
        }
        let window = Duration::days(RESTORE_WINDOW_DAYS);
        for object in deleted {
            if let Some(source_id) = self.anchor_of(object) {
                let restorable = object
                    .deleted_at()
                    .is_none_or(|at| self.input.as_of - at <= window);
                let newer = index
                    .deleted
                    .get(source_id)
                    .is_none_or(|prev| prev.deleted_at() < object.deleted_at());
                if restorable && newer && !index.live.contains_key(source_id) {
                    index.deleted.insert(source_id, object);
                }
            }
        }
        index
    }

    /// Finds the target object for one source object, in Entra's order: anchor, restorable
    /// deleted object, the state's anchor cache, then matching attributes by priority.
    #[allow(clippy::too_many_arguments)]
    fn find_match<'t>(
        &mut self,
        kind: ObjectKind,
        source: &DirectoryObject,
        compiled: &CompiledObject,
        desired: &[Desired],
        anchors: &AnchorIndex<'t>,
        live_by_id: &IdMap<&str, &'t DirectoryObject>,
        match_index: &mut MatchIndex<'t>,
    ) -> Match<'t> {
        let sid = source.id.as_str();
        if let Some(t) = anchors.live.get(sid) {
            return Match::Anchored(t);
        }
        if let Some(t) = anchors.deleted.get(sid) {
            return Match::Restore(t);
        }
        if let Some(tid) = self.input.state.anchors.get(sid)
            && let Some(t) = live_by_id.get(tid.as_str())
            && !self.has_any_anchor(t)
        {
            return Match::Claimed(t);
        }
        for &i in &compiled.matching {
            let mapping = &compiled.mappings[i];
            let Some(value) = desired[i].value.as_ref().and_then(Value::as_text) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            let candidates = match_index.lookup(self, &mapping.target, &value);
            match candidates.as_slice() {
                [] => continue,
                [t] => {
                    if kind == ObjectKind::User && !t.is_external_user() {
                        self.report.push(entry(
                            kind,
                            Reason::InternalTargetUser,
                            sid,
                            Some(&t.id),
                            source.label(),
                            format!(
                                "{} = '{value}' matches an internal user of the target; tenantsync only manages external users, so this user is neither matched nor created: resolve it in the target",
                                mapping.target
                            ),
                        ));
                        return Match::Skip;
                    }
                    return Match::Claimed(t);
                }
                many => {
                    let ids: Vec<&str> = many.iter().map(|t| t.id.as_str()).collect();
                    self.report.push(entry(
                        kind,
                        Reason::AmbiguousMatch,
                        sid,
                        None,
                        source.label(),
                        format!(
                            "{} = '{value}' matches {} target objects ({}); nothing is matched or created until only one remains",
                            mapping.target,
                            ids.len(),
                            ids.join(", ")
                        ),
                    ));
                    return Match::Skip;
                }
            }
        }
        Match::Create
    }

    /// Drops claims where two or more source objects matched the same target object.
    fn resolve_claims<'t>(
        &mut self,
        kind: ObjectKind,
        matches: &mut [(&DirectoryObject, Match<'t>)],
    ) {
        let mut claims: IdMap<&str, Vec<usize>> = IdMap::default();
        for (i, (_, m)) in matches.iter().enumerate() {
            if let Match::Claimed(t) = m {
                claims.entry(t.id.as_str()).or_default().push(i);
            }
        }
        let mut conflicted: Vec<(usize, String, String)> = Vec::new();
        for (tid, idx) in claims {
            if idx.len() > 1 {
                let names: Vec<String> = idx.iter().map(|&i| matches[i].0.label()).collect();
                for &i in &idx {
                    conflicted.push((i, tid.to_string(), names.join(", ")));
                }
            }
        }
        conflicted.sort();
        for (i, tid, names) in conflicted {
            let source = matches[i].0;
            self.report.push(entry(
                kind,
                Reason::MatchConflict,
                &source.id,
                Some(&tid),
                source.label(),
                format!(
                    "source objects {names} all match target object {tid}; none is matched or created (no merge): make their matching attributes unique"
                ),
            ));
            matches[i].1 = Match::Skip;
        }
    }

    /// Plans the in-scope users; returns the source ids that stay managed (in scope, even when
    /// skipped for a conflict or an error), which are never deprovisioned.
    fn plan_users(
        &mut self,
        users: &[&'a DirectoryObject],
        evaluator: &Evaluator<'_>,
        anchors: &AnchorIndex<'a>,
        target_index: &SnapshotIndex<'a>,
    ) -> IdSet<&'a str> {
        let kept: IdSet<&'a str> = users.iter().map(|u| u.id.as_str()).collect();
        let mut evaluated: Vec<(&'a DirectoryObject, Vec<Desired>)> =
            Vec::with_capacity(users.len());
        for &user in users {
            match evaluator.evaluate_all(user, &self.users_map) {
                Ok(d) => evaluated.push((user, d)),
                Err(e) => self.report_eval_error(ObjectKind::User, user, e),
            }
        }
        let compiled = std::mem::replace(&mut self.users_map, empty_compiled());
        let mut match_index = MatchIndex::new(&self.input.target.users);
        let mut matches: Vec<(&DirectoryObject, Match<'a>)> = Vec::with_capacity(evaluated.len());
        for (user, desired) in &evaluated {
            let m = self.find_match(
                ObjectKind::User,
                user,
                &compiled,
                desired,
                anchors,
                &target_index.users,
                &mut match_index,
            );
            matches.push((user, m));
        }
        self.resolve_claims(ObjectKind::User, &mut matches);

        for ((user, m), (_, desired)) in matches.into_iter().zip(&evaluated) {
            let sid = user.id.as_str();
            match m {
                Match::Skip => {}
                Match::Anchored(t) => {
                    self.user_refs
                        .insert(sid, ObjectRef::TargetId(t.id.clone()));
                    if compiled.update {
                        let changes = diff(&compiled.mappings, desired, t, None);
                        self.push_user_update(t, user, changes);
                    }
                }
                Match::Claimed(t) => {
                    self.user_refs
                        .insert(sid, ObjectRef::TargetId(t.id.clone()));
                    let mut changes = if compiled.update {
                        diff(&compiled.mappings, desired, t, None)
                    } else {
                        Vec::new()
                    };
                    changes.push(self.anchor_change(sid, Some(t)));
                    self.push_user_update(t, user, changes);
                }
                Match::Restore(t) => {
                    self.user_refs
                        .insert(sid, ObjectRef::TargetId(t.id.clone()));
                    self.ops.restore_users.push(Operation::RestoreUser {
                        target_id: t.id.clone(),
                        source_id: sid.to_string(),
                        display: user.label(),
                    });
                    if compiled.update {
                        let changes = diff(&compiled.mappings, desired, t, None);
                        self.push_user_update(t, user, changes);
                    }
                }
                Match::Create => self.create_user(&compiled, user, desired),
            }
        }
        self.users_map = compiled;
        kept
    }

    fn push_user_update(
        &mut self,
        target: &DirectoryObject,
        source: &DirectoryObject,
        changes: Vec<AttributeChange>,
    ) {
        if changes.is_empty() {
            return;
        }
        let disables = changes.iter().any(|c| {
            c.attribute == "accountEnabled"
                && c.new.as_bool() == Some(false)
                && c.old.as_bool() != Some(false)
        });
        self.ops.update_users.push(Operation::UpdateUser {
            target_id: target.id.clone(),
            source_id: source.id.clone(),
            display: source.label(),
            changes,
            disables,
        });
    }

    fn create_user(
        &mut self,
        compiled: &CompiledObject,
        user: &'a DirectoryObject,
        desired: &[Desired],
    ) {
        let sid = user.id.as_str();
        if !compiled.add {
            self.report.push(user_entry(
                user,
                Reason::CreationDisabled,
                "the user mapping's flowTypes lack Add, so new users are not created".into(),
            ));
            return;
        }
        if user.flag("accountEnabled") == Some(false) {
            self.report.push(user_entry(
                user,
                Reason::DisabledNotProvisioned,
                "the source user is disabled; it is created once it is enabled, as Entra does"
                    .into(),
            ));
            return;
        }
        let desired_text = |name: &str| {
            compiled
                .mappings
                .iter()
                .zip(desired)
                .find(|(m, _)| m.target == name)
                .and_then(|(_, d)| d.value.as_ref())
                .and_then(Value::as_text)
                .filter(|s| !s.is_empty())
        };
        let Some(email) = desired_text("mail")
            .or_else(|| user.text("mail"))
            .or_else(|| user.text("userPrincipalName"))
        else {
            self.report.push(user_entry(
                user,
                Reason::NoInvitationAddress,
                "the user has no mail and no userPrincipalName to invite; give it a mail address in the source".into(),
            ));
            return;
        };
        let mut attributes = creation_attributes(&compiled.mappings, desired);
        attributes.push(self.anchor_change(sid, None));
        self.user_refs
            .insert(sid, ObjectRef::CreatedFrom(sid.to_string()));
        self.ops.create_users.push(Operation::CreateUser {
            source_id: sid.to_string(),
            display: user.label(),
            invitation: Invitation {
                email,
                display_name: desired_text("displayName"),
                user_type: desired_text("userType").unwrap_or_else(|| "Member".to_string()),
            },
            attributes,
        });
    }

    fn deprovision_users(
        &mut self,
        kept: &IdSet<&str>,
        anchors: &AnchorIndex<'a>,
        source_index: &SnapshotIndex<'a>,
    ) {
        for (sid, target) in anchors.managed() {
            if kept.contains(sid) {
                continue;
            }
            let source = source_index.users.get(sid).copied();
            let reason = match source {
                None => "the source user was deleted".to_string(),
                Some(_) => "the source user left the scope".to_string(),
            };
            let display = target.label();
            let skip = |why: &str| {
                entry(
                    ObjectKind::User,
                    Reason::DeprovisionSkipped,
                    sid,
                    Some(&target.id),
                    display.clone(),
                    format!("{reason}, but {why}"),
                )
            };
            if !self.users_map.delete {
                self.report.push(skip(
                    "the user mapping's flowTypes lack Delete, so it is kept",
                ));
                continue;
            }
            match self.input.options.user_deprovision {
                UserDeprovision::None => {
                    self.report
                        .push(skip("options.user_deprovision = \"none\" keeps it"));
                }
                UserDeprovision::Disable => {
                    if target.flag("accountEnabled") != Some(false) {
                        self.ops.disable_users.push(Operation::DisableUser {
                            target_id: target.id.clone(),
                            source_id: sid.to_string(),
                            display,
                            reason,
                        });
                    }
                }
                UserDeprovision::SoftDelete => {
                    let source_disabled =
                        source.and_then(|s| s.flag("accountEnabled")) == Some(false);
                    if source_disabled && target.flag("accountEnabled") == Some(false) {
                        self.report.push(entry(
                            ObjectKind::User,
                            Reason::DisabledUserKept,
                            sid,
                            Some(&target.id),
                            display,
                            "the user was already disabled and synced before it left the scope, so it is kept disabled, as Entra does".into(),
                        ));
                    } else {
                        self.ops.delete_users.push(Operation::DeleteUser {
                            target_id: target.id.clone(),
                            source_id: sid.to_string(),
                            display,
                            reason,
                        });
                    }
                }
            }
        }
    }

    fn plan_groups(
        &mut self,
        compiled: &CompiledObject,
        groups: &[ScopedGroup<'a>],
        evaluator: &Evaluator<'_>,
        anchors: &AnchorIndex<'a>,
        user_anchors: &AnchorIndex<'a>,
    ) -> IdSet<&'a str> {
        let kept: IdSet<&'a str> = groups.iter().map(|g| g.group.id.as_str()).collect();
        let target_groups = &self.input.target.groups;
        let live_by_id: IdMap<&str, &DirectoryObject> =
            target_groups.iter().map(|g| (g.id.as_str(), g)).collect();
        // Users this job manages once the plan is applied: anchored ones and those matched now.
        let mut managed_users: IdSet<String> =
            user_anchors.live.values().map(|u| u.id.clone()).collect();
        for r in self.user_refs.values() {
            if let ObjectRef::TargetId(id) = r {
                managed_users.insert(id.clone());
            }
        }
        let mut match_index = MatchIndex::new(target_groups);
        let suffix = self.input.options.group_name_suffix.clone();

        let mut evaluated = Vec::with_capacity(groups.len());
        for sg in groups {
            match evaluator.evaluate_all(sg.group, compiled) {
                Ok(d) => evaluated.push((sg, d)),
                Err(e) => self.report_eval_error(ObjectKind::Group, sg.group, e),
            }
        }
        let mut matches: Vec<(&DirectoryObject, Match<'a>)> = Vec::with_capacity(evaluated.len());
        let mut renamed: IdSet<&str> = IdSet::default();
        for (sg, desired) in &evaluated {
            let mut m = self.find_match(
                ObjectKind::Group,
                sg.group,
                compiled,
                desired,
                anchors,
                &live_by_id,
                &mut match_index,
            );
            if matches!(m, Match::Create) {
                m = self.check_group_name(
                    compiled,
                    sg.group,
                    desired,
                    &mut match_index,
                    &mut renamed,
                );
            }
            matches.push((sg.group, m));
        }
        self.resolve_claims(ObjectKind::Group, &mut matches);

        for ((group, m), (sg, desired)) in matches.into_iter().zip(&evaluated) {
            let sid = group.id.as_str();
            let members = self.member_refs(sg);
            match m {
                Match::Skip => {}
                Match::Create => {
                    if !compiled.add {
                        self.report.push(entry(
                            ObjectKind::Group,
                            Reason::CreationDisabled,
                            sid,
                            None,
                            group.label(),
                            "the group mapping's flowTypes lack Add, so new groups are not created"
                                .into(),
                        ));
                        continue;
                    }
                    let mut attributes = creation_attributes(&compiled.mappings, desired);
                    if renamed.contains(sid) {
                        for a in &mut attributes {
                            if a.attribute == "displayName"
                                && let Some(name) = a.new.as_text()
                            {
                                a.new = Value::String(format!("{name}{suffix}"));
                            }
                        }
                    }
                    complete_group_attributes(&mut attributes, group);
                    attributes.push(self.anchor_change(sid, None));
                    self.ops.create_groups.push(Operation::CreateGroup {
                        source_id: sid.to_string(),
                        display: group.label(),
                        attributes,
                        members: members.into_iter().map(|(r, _)| r).collect(),
                    });
                }
                Match::Anchored(t) | Match::Claimed(t) | Match::Restore(t) => {
                    if matches!(m, Match::Restore(_)) {
                        self.ops.restore_groups.push(Operation::RestoreGroup {
                            target_id: t.id.clone(),
                            source_id: sid.to_string(),
                            display: group.label(),
                        });
                    }
                    let mut changes = if compiled.update {
                        diff(&compiled.mappings, desired, t, Some(&suffix))
                    } else {
                        Vec::new()
                    };
                    if matches!(m, Match::Claimed(_)) {
                        changes.push(self.anchor_change(sid, Some(t)));
                    }
                    if !changes.is_empty() {
                        self.ops.update_groups.push(Operation::UpdateGroup {
                            target_id: t.id.clone(),
                            source_id: sid.to_string(),
                            display: group.label(),
                            changes,
                        });
                    }
                    if compiled.members {
                        self.diff_members(t, &group.label(), &members, &managed_users);
                    }
                }
            }
        }
        kept
    }

    /// What to do when no target group matched: check the name against unmanaged groups.
    fn check_group_name<'t>(
        &mut self,
        compiled: &CompiledObject,
        group: &'a DirectoryObject,
        desired: &[Desired],
        match_index: &mut MatchIndex<'t>,
        renamed: &mut IdSet<&'a str>,
    ) -> Match<'t> {
        let name = compiled
            .mappings
            .iter()
            .zip(desired)
            .find(|(m, _)| m.target == "displayName")
            .and_then(|(_, d)| d.value.as_ref())
            .and_then(Value::as_text);
        let Some(name) = name else {
            return Match::Create;
        };
        let taken = match_index.lookup(self, "displayName", &name);
        if taken.is_empty() {
            return Match::Create;
        }
        let ids: Vec<&str> = taken.iter().map(|t| t.id.as_str()).collect();
        match self.input.options.group_name_conflict {
            GroupNameConflict::Adopt if taken.len() == 1 => Match::Claimed(taken[0]),
            GroupNameConflict::Suffix => {
                renamed.insert(group.id.as_str());
                Match::Create
            }
            policy => {
                let detail = if policy == GroupNameConflict::Adopt {
                    format!(
                        "the name '{name}' is taken by {} unmanaged target groups ({}); adopt needs exactly one",
                        ids.len(),
                        ids.join(", ")
                    )
                } else {
                    format!(
                        "the name '{name}' is taken in the target by group {} that this job does not manage; set options.group_name_conflict to \"adopt\" or \"suffix\", or rename one of them",
                        ids.join(", ")
                    )
                };
                self.report.push(entry(
                    ObjectKind::Group,
                    Reason::GroupNameConflict,
                    &group.id,
                    ids.first().copied(),
                    group.label(),
                    detail,
                ));
                Match::Skip
            }
        }
    }

    /// The target references of a group's in-scope members; members without a target user
    /// (skipped for a conflict or an error) are reported.
    fn member_refs(&mut self, sg: &ScopedGroup<'a>) -> Vec<(ObjectRef, &'a str)> {
        let mut refs = Vec::with_capacity(sg.members.len());
        for m in &sg.members {
            match self.user_refs.get(m) {
                Some(r) => refs.push((r.clone(), *m)),
                None => self.report.push(entry(
                    ObjectKind::Membership,
                    Reason::MemberNotProvisioned,
                    m,
                    None,
                    format!("{m} in {}", sg.group.label()),
                    "the member is in scope but has no target user in this plan (see its user entry); it is added once it does".into(),
                )),
            }
        }
        refs
    }

    fn diff_members(
        &mut self,
        target: &DirectoryObject,
        group_name: &str,
        desired: &[(ObjectRef, &'a str)],
        managed_users: &IdSet<String>,
    ) {
        let current: IdSet<&str> = target.member_ids().collect();
        let mut wanted: IdSet<&str> = IdSet::default();
        for (r, source_id) in desired {
            let missing = match r {
                ObjectRef::TargetId(id) => wanted.insert(id) && !current.contains(id.as_str()),
                ObjectRef::CreatedFrom(_) => true,
            };
            if missing {
                self.ops.add_members.push(Operation::AddMember {
                    group: ObjectRef::TargetId(target.id.clone()),
                    member: r.clone(),
                    display: format!("{} in {group_name}", self.source_label(source_id)),
                });
            }
        }
        let mut extra: Vec<&str> = current
            .iter()
            .copied()
            .filter(|m| !wanted.contains(m))
            .collect();
        extra.sort();
        for m in extra {
            if self.input.options.target_only_members == TargetOnlyMembers::KeepUnmanaged
                && !managed_users.contains(m)
            {
                continue;
            }
            let name = self
                .target_users
                .get(m)
                .map_or_else(|| m.to_string(), |u| u.label());
            self.ops.remove_members.push(Operation::RemoveMember {
                group_id: target.id.clone(),
                member_id: m.to_string(),
                display: format!("{name} in {group_name}"),
            });
        }
    }

    fn deprovision_groups(
        &mut self,
        compiled: &CompiledObject,
        kept: &IdSet<&str>,
        anchors: &AnchorIndex<'a>,
        source_index: &SnapshotIndex<'a>,
    ) {
        for (sid, target) in anchors.managed() {
            if kept.contains(sid) {
                continue;
            }
            let reason = if source_index.groups.contains_key(sid) {
                "the source group left the scope"
            } else {
                "the source group was deleted"
            };
            let why = if !compiled.delete {
                Some("the group mapping's flowTypes lack Delete")
            } else if self.input.options.group_deprovision == GroupDeprovision::None {
                Some("options.group_deprovision = \"none\"")
            } else {
                None
            };
            match why {
                Some(why) => self.report.push(entry(
                    ObjectKind::Group,
                    Reason::DeprovisionSkipped,
                    sid,
                    Some(&target.id),
                    target.label(),
                    format!("{reason}, but {why} keeps it"),
                )),
                None => self.ops.delete_groups.push(Operation::DeleteGroup {
                    target_id: target.id.clone(),
                    source_id: sid.to_string(),
                    display: target.label(),
                    reason: reason.to_string(),
                }),
            }
        }
    }

    fn source_label(&self, source_id: &str) -> String {
        self.source_users
            .get(source_id)
            .map_or_else(|| source_id.to_string(), |u| u.label())
    }

    fn report_eval_error(
        &mut self,
        kind: ObjectKind,
        object: &DirectoryObject,
        error: EvalFailure,
    ) {
        self.report.push(entry(
            kind,
            error.reason,
            &object.id,
            None,
            object.label(),
            format!(
                "{}; the object is left as it is in the target",
                error.message
            ),
        ));
    }

    fn finish(mut self, users_in_scope: usize, groups_in_scope: usize, managed: usize) -> Plan {
        let options = self.input.options;
        let operations = std::mem::take(&mut self.ops).into_ordered();
        let deprovisions: Vec<Operation> = operations
            .iter()
            .filter(|o| o.is_deprovisioning())
            .cloned()
            .collect();
        let count = deprovisions.len();
        let over_count = count as u64 > options.deletion_threshold;
        let over_percent = options
            .deletion_threshold_percent
            .is_some_and(|p| managed > 0 && (count as f64) * 100.0 / (managed as f64) > p);
        let mut summary = Summary {
            users_in_scope,
            groups_in_scope,
            deprovisions: count,
            ..Summary::default()
        };
        let (operations, refused) = if (over_count || over_percent) && !options.allow_deletes {
            let limit = if over_count {
                format!("the threshold of {}", options.deletion_threshold)
            } else {
                format!(
                    "{}% of the {managed} managed objects",
                    options.deletion_threshold_percent.unwrap_or_default()
                )
            };
            let message = format!(
                "the plan would delete or disable {count} objects, more than {limit}; nothing was applied. Check the report; if these deletions are intended, run again with --allow-deletes (or raise deletion_threshold)"
            );
            self.report.push(ReportEntry {
                kind: ObjectKind::User,
                reason: Reason::DeletionThresholdExceeded,
                source_id: None,
                target_id: None,
                display: "deletion threshold".into(),
                detail: message.clone(),
            });
            (
                Vec::new(),
                Some(Refusal {
                    message,
                    deprovisions: count,
                    threshold: options.deletion_threshold,
                    would_deprovision: deprovisions,
                }),
            )
        } else {
            (operations, None)
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for o in &operations {
            *counts.entry(o.kind().to_string()).or_default() += 1;
        }
        summary.operations = counts;
        for r in &self.report {
            let code = serde_json::to_value(r.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *summary.reported.entry(code).or_default() += 1;
        }
        Plan {
            operations,
            report: self.report,
            summary,
            refused,
        }
    }
}

/// Target objects by the lower-cased text of one attribute, among those that carry no anchor
/// (anchored objects are matched by anchor only). Built once per attribute.
struct MatchIndex<'t> {
    objects: &'t [DirectoryObject],
    by_attribute: IdMap<String, IdMap<String, Vec<&'t DirectoryObject>>>,
}

impl<'t> MatchIndex<'t> {
    fn new(objects: &'t [DirectoryObject]) -> Self {
        MatchIndex {
            objects,
            by_attribute: IdMap::default(),
        }
    }

    fn lookup(
        &mut self,
        planner: &Planner<'_>,
        attribute: &str,
        value: &str,
    ) -> Vec<&'t DirectoryObject> {
        let objects = self.objects;
        let index = self
            .by_attribute
            .entry(attribute.to_string())
            .or_insert_with(|| {
                let mut map: IdMap<String, Vec<&'t DirectoryObject>> = IdMap::default();
                for o in objects {
                    if planner.has_any_anchor(o) {
                        continue;
                    }
                    for v in o.get(attribute).as_list() {
                        if let Some(t) = v.as_text().filter(|t| !t.is_empty()) {
                            map.entry(t.to_lowercase()).or_default().push(o);
                        }
                    }
                }
                map
            });
        index
            .get(&value.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }
}

/// The ids of the source users and groups in scope (the objects the planner matches, and so
/// the only ones for which it can restore a deleted target object).
pub(crate) fn in_scope(input: &PlanInput<'_>) -> Result<IdSet<String>, PlanError> {
    let mut planner = Planner::new(input)?;
    let index = input.source.index();
    let scoped = assignment::resolve(
        &index,
        &input.source.users,
        input.scope,
        input.options,
        &planner.users_map,
        planner.groups_map.as_ref(),
        &mut planner.report,
    );
    Ok(scoped
        .users
        .iter()
        .map(|u| u.id.clone())
        .chain(scoped.groups.iter().map(|g| g.group.id.clone()))
        .collect())
}

/// The source object id in a target object's anchor (`<source tenant>/<source id>`), when the
/// anchor names `source_tenant`.
pub(crate) fn anchor_source_id<'t>(
    object: &'t DirectoryObject,
    attribute: &str,
    source_tenant: &str,
) -> Option<&'t str> {
    let text = match object.attributes.get(attribute)? {
        Value::String(s) => s.as_str(),
        Value::Multi(v) => match v.first()? {
            Value::String(s) => s.as_str(),
            _ => return None,
        },
        _ => return None,
    };
    let (tenant, id) = text.split_once('/')?;
    (tenant.eq_ignore_ascii_case(source_tenant) && !id.is_empty()).then_some(id)
}

fn empty_compiled() -> CompiledObject {
    CompiledObject {
        mappings: Vec::new(),
        matching: Vec::new(),
        filter: None,
        add: false,
        update: false,
        delete: false,
        members: false,
    }
}

/// A report entry about one source object and, when there is one, the target object it
/// concerns; `display` names the object for people and `detail` says what happened and what to
/// do.
fn entry(
    kind: ObjectKind,
    reason: Reason,
    source_id: &str,
    target_id: Option<&str>,
    display: String,
    detail: String,
) -> ReportEntry {
    ReportEntry {
        kind,
        reason,
        source_id: Some(source_id.to_string()),
        target_id: target_id.map(str::to_string),
        display,
        detail,
    }
}

/// A report entry about one source user that concerns no target object.
fn user_entry(user: &DirectoryObject, reason: Reason, detail: String) -> ReportEntry {
    entry(
        ObjectKind::User,
        reason,
        &user.id,
        None,
        user.label(),
        detail,
    )
}

/// The attributes of a new object: every mapping with a value.
fn creation_attributes(mappings: &[CompiledMapping], desired: &[Desired]) -> Vec<AttributeChange> {
    mappings
        .iter()
        .zip(desired)
        .filter_map(|(m, d)| {
            let v = d.value.as_ref()?;
            (!v.is_null_or_empty()).then(|| AttributeChange {
                attribute: m.target.clone(),
                old: Value::Null,
                new: v.clone(),
                redact: d.redact,
            })
        })
        .collect()
}

/// Graph requires these on a new security group; fill what the schema does not map.
fn complete_group_attributes(attributes: &mut Vec<AttributeChange>, group: &DirectoryObject) {
    let mut ensure = |name: &str, value: Value| {
        if !attributes.iter().any(|a| a.attribute == name) {
            attributes.push(AttributeChange {
                attribute: name.to_string(),
                old: Value::Null,
                new: value,
                redact: false,
            });
        }
    };
    ensure("mailEnabled", Value::Bool(false));
    ensure("securityEnabled", Value::Bool(true));
    let nickname: String = group
        .label()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(56)
        .collect();
    ensure(
        "mailNickname",
        Value::String(if nickname.is_empty() {
            group.id.replace('-', "")
        } else {
            nickname
        }),
    );
}

/// The changes that bring an existing target object to the desired values, following each
/// mapping's flowType and flowBehavior. `suffix`: a group display name may carry the conflict
/// suffix and still count as equal.
fn diff(
    mappings: &[CompiledMapping],
    desired: &[Desired],
    current: &DirectoryObject,
    suffix: Option<&str>,
) -> Vec<AttributeChange> {
    let mut changes = Vec::new();
    let mut any_change = false;
    for (m, d) in mappings.iter().zip(desired) {
        let Some(new) = d.value.as_ref() else {
            continue;
        };
        if m.apply == Apply::ObjectAddOnly {
            continue;
        }
        let old = current.get_ref(&m.target);
        let change = |new: Value| AttributeChange {
            attribute: m.target.clone(),
            old: old.clone(),
            new,
            redact: d.redact,
        };
        if new.is_null_or_empty() {
            if m.flow_nulls && !old.is_null_or_empty() {
                changes.push(change(Value::Null));
                any_change = true;
            }
            continue;
        }
        match m.apply {
            Apply::ObjectAddOnly => {}
            Apply::AttributeAddOnly => {
                if old.is_null_or_empty() {
                    changes.push(change(new.clone()));
                    any_change = true;
                }
            }
            Apply::ValueAddOnly => {
                let mut merged = old.as_list();
                let mut added = false;
                for v in new.as_list() {
                    if !merged.iter().any(|x| x.same_as(&v)) {
                        merged.push(v);
                        added = true;
                    }
                }
                if added {
                    changes.push(change(Value::Multi(merged)));
                    any_change = true;
                }
            }
            Apply::Always => {
                let equal = new.same_as(old)
                    || (m.target == "displayName"
                        && suffix.is_some_and(|s| {
                            new.as_text().map(|n| format!("{n}{s}")) == old.as_text()
                        }));
                if !equal {
                    changes.push(change(new.clone()));
                    any_change = true;
                }
            }
        }
    }
    if any_change {
        // FlowAlways: written with every update of the object, changed or not.
        for (m, d) in mappings.iter().zip(desired) {
            if m.flow_always
                && m.apply == Apply::Always
                && !changes.iter().any(|c| c.attribute == m.target)
                && let Some(v) = d.value.as_ref().filter(|v| !v.is_null_or_empty())
            {
                changes.push(AttributeChange {
                    attribute: m.target.clone(),
                    old: current.get(&m.target),
                    new: v.clone(),
                    redact: d.redact,
                });
            }
        }
    }
    changes
}

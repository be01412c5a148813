//! The planning steps, run in order: compile the schema, resolve scope, index the target,
//! match and diff users, match and diff groups and memberships, deprovision what left the
//! scope, check the deletion threshold, order the operations.

use std::collections::BTreeMap;
use std::rc::Rc;

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

/// The stages operations are applied in; a plan lists its operations stage by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    RestoreUsers,
    CreateUsers,
    UpdateUsers,
    RestoreGroups,
    CreateGroups,
    UpdateGroups,
    AddMembers,
    RemoveMembers,
    DisableUsers,
    DeleteUsers,
    DeleteGroups,
}

/// How many [`Stage`]s there are.
pub(crate) const STAGES: usize = 11;

/// The passes of the planner, in the order they run. Within a pass, the planner takes its
/// objects in the order of a key (a source id, or a target id for duplicate anchors and
/// deprovisioning), so every plan lists its report entries by (pass, key) and its operations by
/// (stage, pass, key): the order [`super::incremental`] restores when it splices the objects it
/// planned again into the previous plan.
pub(crate) mod pass {
    /// Assigned users that do not exist.
    pub const USER_NOT_FOUND: u8 = 0;
    /// Assigned groups that do not exist.
    pub const GROUP_NOT_FOUND: u8 = 1;
    /// Candidate users left out of scope.
    pub const SCOPE_USER: u8 = 2;
    /// Assigned groups left out of scope, and their members left out.
    pub const SCOPE_GROUP: u8 = 3;
    /// Target users carrying the same anchor.
    pub const DUPLICATE_USER: u8 = 4;
    /// Target groups carrying the same anchor.
    pub const DUPLICATE_GROUP: u8 = 5;
    /// Users whose mappings failed.
    pub const USER_EVAL: u8 = 6;
    /// Users matched to an internal user, or ambiguously.
    pub const USER_MATCH: u8 = 7;
    /// Users claiming the same target user.
    pub const USER_CONFLICT: u8 = 8;
    /// Each user's operations.
    pub const USER: u8 = 9;
    /// Managed users out of scope.
    pub const USER_DEPROVISION: u8 = 10;
    /// Groups whose mappings failed.
    pub const GROUP_EVAL: u8 = 11;
    /// Groups matched ambiguously, or whose name is taken.
    pub const GROUP_MATCH: u8 = 12;
    /// Groups claiming the same target group.
    pub const GROUP_CONFLICT: u8 = 13;
    /// Each group's operations and memberships.
    pub const GROUP: u8 = 14;
    /// Managed groups out of scope.
    pub const GROUP_DEPROVISION: u8 = 15;
}

/// Where an operation or a report entry comes from: its pass, the key the pass orders by, the
/// source object it belongs to when that is not the key (deprovisioning is keyed by target id),
/// and another object whose name or reference it carries (a member).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tag {
    pub pass: u8,
    pub key: Box<str>,
    pub unit: Option<Box<str>>,
    pub member: Option<Box<str>>,
}

impl Tag {
    /// A tag for an entry of `pass` about `key`, naming `member`.
    pub(crate) fn new(pass: u8, key: &str, member: Option<&str>) -> Tag {
        Tag {
            pass,
            key: key.into(),
            unit: None,
            member: member.map(Into::into),
        }
    }

    /// The source object the entry belongs to.
    pub(crate) fn unit(&self) -> &str {
        self.unit.as_deref().unwrap_or(&self.key)
    }
}

/// The pass and key the planner is at, made into a [`Tag`] for what it records there.
#[derive(Clone, Copy)]
struct At<'a> {
    pass: u8,
    key: &'a str,
    unit: Option<&'a str>,
}

impl<'a> At<'a> {
    fn new(pass: u8, key: &'a str) -> Self {
        At {
            pass,
            key,
            unit: None,
        }
    }

    fn tag(&self, member: Option<&str>) -> Tag {
        Tag {
            pass: self.pass,
            key: self.key.into(),
            unit: self.unit.map(Into::into),
            member: member.map(Into::into),
        }
    }
}

/// Operations by stage, each with its tag; concatenated in stage order at the end.
pub(crate) type Buckets = [Vec<(Tag, Operation)>; STAGES];

/// Everything a planner run made, tagged: what [`super::incremental`] keeps between cycles.
#[derive(Debug, Default)]
pub(crate) struct Tagged {
    pub report: Vec<(Tag, ReportEntry)>,
    pub ops: Buckets,
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
pub(crate) struct AnchorIndex<'t> {
    pub live: IdMap<&'t str, &'t DirectoryObject>,
    pub deleted: IdMap<&'t str, &'t DirectoryObject>,
}

impl<'t> AnchorIndex<'t> {
    /// The live anchored objects as (source id, target object), by target id: all of them, or
    /// those of the source ids in `only`.
    fn managed_of(&self, only: Option<&[&str]>) -> Vec<(&'t str, &'t DirectoryObject)> {
        let mut managed: Vec<(&'t str, &'t DirectoryObject)> = match only {
            None => self.live.iter().map(|(k, v)| (*k, *v)).collect(),
            Some(ids) => ids
                .iter()
                .filter_map(|&sid| self.live.get_key_value(sid).map(|(&k, &v)| (k, v)))
                .collect(),
        };
        managed.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        managed
    }
}

pub(crate) struct Planner<'a> {
    pub(super) input: &'a PlanInput<'a>,
    pub(super) users_map: CompiledObject,
    pub(super) groups_map: Option<CompiledObject>,
    /// What this run made, tagged.
    pub(super) out: Tagged,
    /// The pass and key being planned.
    at: At<'a>,
    /// Source user id -> its target user (existing or created in this plan).
    pub(super) user_refs: IdMap<&'a str, ObjectRef>,
    /// In an incremental run, the target users of the users not planned again.
    pub(super) known_refs: Option<IdMap<Box<str>, ObjectRef>>,
    /// In-scope users and groups matched by anything but their anchor (claimed, created,
    /// skipped, or failed): the ones a change to an unanchored target object can affect.
    pub(super) open_users: Vec<&'a str>,
    pub(super) open_groups: Vec<&'a str>,
    pub(super) source: Rc<SnapshotIndex<'a>>,
    pub(super) target: Rc<SnapshotIndex<'a>>,
    source_tenant: &'a str,
}

/// What a full run leaves besides the plan: what an incremental run starts from.
pub(crate) struct FullRun<'a> {
    pub scoped: assignment::Scoped<'a>,
    pub user_anchors: AnchorIndex<'a>,
    pub group_anchors: AnchorIndex<'a>,
    pub managed_users: IdSet<String>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(input: &'a PlanInput<'a>) -> Result<Self, PlanError> {
        let (source, target) = (input.source.index(), input.target.index());
        Self::with_indexes(input, Rc::new(source), Rc::new(target))
    }

    /// A new planner for the same input, sharing this one's indexes of the snapshots (for a
    /// full run after an incremental one gave up).
    pub(super) fn renew(&self) -> Result<Self, PlanError> {
        Self::with_indexes(self.input, Rc::clone(&self.source), Rc::clone(&self.target))
    }

    fn with_indexes(
        input: &'a PlanInput<'a>,
        source: Rc<SnapshotIndex<'a>>,
        target: Rc<SnapshotIndex<'a>>,
    ) -> Result<Self, PlanError> {
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
            out: Tagged::default(),
            at: At::new(0, ""),
            user_refs: IdMap::default(),
            known_refs: None,
            open_users: Vec::new(),
            open_groups: Vec::new(),
            source,
            target,
            source_tenant: &input.source.tenant_id,
        })
    }

    pub(super) fn run(self) -> Result<Plan, PlanError> {
        self.run_timed().map(|(plan, _)| plan)
    }

    /// Plans, and says whether the plan depends on the time (`as_of`): an expression read it,
    /// or a deleted object's restore window was weighed.
    pub(super) fn run_timed(mut self) -> Result<(Plan, bool), PlanError> {
        let evaluator = self.evaluator();
        let run = self.plan_all(&evaluator);
        let timed = self.timed(&evaluator);
        let managed = run.user_anchors.live.len() + run.group_anchors.live.len();
        let (users, groups) = (run.scoped.users.len(), run.scoped.groups.len());
        drop(run);
        Ok((self.finish_plan(users, groups, managed), timed))
    }

    /// The evaluator of this run's expressions.
    pub(super) fn evaluator(&self) -> Evaluator<'a> {
        Evaluator {
            as_of: self.input.as_of,
            functions: self.input.functions,
            target_values: TargetValues::new(&self.input.target.users),
            default_domain: self.input.target.default_domain.clone(),
            clock_read: std::sync::atomic::AtomicBool::new(false),
            target_read: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The plan depends on `as_of`: an expression read the time, or the target's deleted
    /// objects were weighed against the restore window.
    pub(super) fn timed(&self, evaluator: &Evaluator<'_>) -> bool {
        evaluator
            .clock_read
            .load(std::sync::atomic::Ordering::Relaxed)
            || !self.input.target.deleted_users.is_empty()
            || !self.input.target.deleted_groups.is_empty()
    }

    /// Every pass over every object.
    pub(super) fn plan_all(&mut self, evaluator: &Evaluator<'a>) -> FullRun<'a> {
        let scoped = self.resolve();
        let (user_anchors, group_anchors) = self.anchor_indexes();

        let kept: IdSet<&str> = scoped.users.iter().map(|u| u.id.as_str()).collect();
        self.plan_users(&scoped.users, evaluator, &user_anchors);
        self.deprovision_users(&|sid| kept.contains(sid), &user_anchors, None);

        let mut managed_users = IdSet::default();
        if let Some(groups_map) = self.groups_map.take() {
            managed_users = self.managed_users(&user_anchors);
            self.plan_groups(
                &groups_map,
                &scoped.groups,
                evaluator,
                &group_anchors,
                &managed_users,
            );
            let kept: IdSet<&str> = scoped.groups.iter().map(|g| g.group.id.as_str()).collect();
            self.deprovision_groups(&groups_map, &|sid| kept.contains(sid), &group_anchors, None);
            self.groups_map = Some(groups_map);
        }
        FullRun {
            scoped,
            user_anchors,
            group_anchors,
            managed_users,
        }
    }

    /// Which users and groups are in scope, reporting why the others are not.
    fn resolve(&mut self) -> assignment::Scoped<'a> {
        let (input, source) = (self.input, Rc::clone(&self.source));
        assignment::resolve(
            &source,
            &input.source.users,
            input.scope,
            input.options,
            &self.users_map,
            self.groups_map.as_ref(),
            &mut self.out.report,
        )
    }

    /// Users this job manages once the plan is applied: anchored ones and those matched now.
    pub(super) fn managed_users(&self, user_anchors: &AnchorIndex<'_>) -> IdSet<String> {
        let mut managed: IdSet<String> = user_anchors.live.values().map(|u| u.id.clone()).collect();
        for r in self.user_refs.values() {
            if let ObjectRef::TargetId(id) = r {
                managed.insert(id.clone());
            }
        }
        managed
    }

    /// Sets the pass and key what follows is recorded under.
    pub(super) fn at(&mut self, pass: u8, key: &'a str, unit: Option<&'a str>) {
        self.at = At { pass, key, unit };
    }

    /// Records a report entry at the current pass and key.
    fn note(&mut self, entry: ReportEntry) {
        let tag = self.at.tag(None);
        self.out.report.push((tag, entry));
    }

    /// Records a report entry that names `member`.
    fn note_member(&mut self, entry: ReportEntry, member: &str) {
        let tag = self.at.tag(Some(member));
        self.out.report.push((tag, entry));
    }

    /// Records an operation at the current pass and key.
    fn op(&mut self, stage: Stage, op: Operation) {
        let tag = self.at.tag(None);
        self.out.ops[stage as usize].push((tag, op));
    }

    /// Records an operation that names `member`.
    fn op_member(&mut self, stage: Stage, op: Operation, member: &str) {
        let tag = self.at.tag(Some(member));
        self.out.ops[stage as usize].push((tag, op));
    }

    pub(super) fn anchor_of<'t>(&self, object: &'t DirectoryObject) -> Option<&'t str> {
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

    /// The target's users and groups by the source id in their anchor, duplicates reported.
    pub(super) fn anchor_indexes(&mut self) -> (AnchorIndex<'a>, AnchorIndex<'a>) {
        let target = self.input.target;
        let users = self.anchor_index(&target.users, &target.deleted_users, ObjectKind::User);
        let groups = self.anchor_index(&target.groups, &target.deleted_groups, ObjectKind::Group);
        (users, groups)
    }

    fn anchor_index(
        &mut self,
        live: &'a [DirectoryObject],
        deleted: &'a [DirectoryObject],
        kind: ObjectKind,
    ) -> AnchorIndex<'a> {
        let pass = match kind {
            ObjectKind::User => pass::DUPLICATE_USER,
            _ => pass::DUPLICATE_GROUP,
        };
        let mut index = AnchorIndex {
            live: IdMap::default(),
            deleted: IdMap::default(),
        };
        let mut sorted: Vec<&DirectoryObject> = live.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        for object in sorted {
            if let Some(source_id) = self.anchor_of(object) {
                if let Some(first) = index.live.get(source_id) {
                    self.at(pass, &object.id, Some(source_id));
                    self.note(entry(
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
                        self.note(entry(
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
                    self.note(entry(
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
        matches: &mut [(&'a DirectoryObject, Match<'t>)],
    ) {
        let pass = match kind {
            ObjectKind::User => pass::USER_CONFLICT,
            _ => pass::GROUP_CONFLICT,
        };
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
            self.at(pass, &source.id, None);
            self.note(entry(
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

    /// Plans the given in-scope users (all of them, or in an incremental run those planned
    /// again).
    pub(super) fn plan_users(
        &mut self,
        users: &[&'a DirectoryObject],
        evaluator: &Evaluator<'_>,
        anchors: &AnchorIndex<'a>,
    ) {
        let mut evaluated: Vec<(&'a DirectoryObject, Vec<Desired>)> =
            Vec::with_capacity(users.len());
        for &user in users {
            match evaluator.evaluate_all(user, &self.users_map) {
                Ok(d) => evaluated.push((user, d)),
                Err(e) => {
                    self.at(pass::USER_EVAL, &user.id, None);
                    self.report_eval_error(ObjectKind::User, user, e);
                    self.open_users.push(&user.id);
                }
            }
        }
        let compiled = std::mem::replace(&mut self.users_map, empty_compiled());
        let target = Rc::clone(&self.target);
        let mut match_index = MatchIndex::new(&self.input.target.users);
        let mut matches: Vec<(&'a DirectoryObject, Match<'a>)> =
            Vec::with_capacity(evaluated.len());
        for (user, desired) in &evaluated {
            self.at(pass::USER_MATCH, &user.id, None);
            let m = self.find_match(
                ObjectKind::User,
                user,
                &compiled,
                desired,
                anchors,
                &target.users,
                &mut match_index,
            );
            matches.push((user, m));
        }
        self.resolve_claims(ObjectKind::User, &mut matches);

        for ((user, m), (_, desired)) in matches.into_iter().zip(&evaluated) {
            let sid = user.id.as_str();
            self.at(pass::USER, sid, None);
            if !matches!(m, Match::Anchored(_) | Match::Restore(_)) {
                self.open_users.push(sid);
            }
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
                    self.op(
                        Stage::RestoreUsers,
                        Operation::RestoreUser {
                            target_id: t.id.clone(),
                            source_id: sid.to_string(),
                            display: user.label(),
                        },
                    );
                    if compiled.update {
                        let changes = diff(&compiled.mappings, desired, t, None);
                        self.push_user_update(t, user, changes);
                    }
                }
                Match::Create => self.create_user(&compiled, user, desired),
            }
        }
        self.users_map = compiled;
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
        self.op(
            Stage::UpdateUsers,
            Operation::UpdateUser {
                target_id: target.id.clone(),
                source_id: source.id.clone(),
                display: source.label(),
                changes,
                disables,
            },
        );
    }

    fn create_user(
        &mut self,
        compiled: &CompiledObject,
        user: &'a DirectoryObject,
        desired: &[Desired],
    ) {
        let sid = user.id.as_str();
        if !compiled.add {
            self.note(user_entry(
                user,
                Reason::CreationDisabled,
                "the user mapping's flowTypes lack Add, so new users are not created".into(),
            ));
            return;
        }
        if user.flag("accountEnabled") == Some(false) {
            self.note(user_entry(
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
            self.note(user_entry(
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
        self.op(
            Stage::CreateUsers,
            Operation::CreateUser {
                source_id: sid.to_string(),
                display: user.label(),
                invitation: Invitation {
                    email,
                    display_name: desired_text("displayName"),
                    user_type: desired_text("userType").unwrap_or_else(|| "Member".to_string()),
                },
                attributes,
            },
        );
    }

    /// Deprovisions the managed users that are not kept (in scope): all of them, or those of
    /// `only`.
    pub(super) fn deprovision_users(
        &mut self,
        kept: &dyn Fn(&str) -> bool,
        anchors: &AnchorIndex<'a>,
        only: Option<&[&str]>,
    ) {
        let source_index = Rc::clone(&self.source);
        for (sid, target) in anchors.managed_of(only) {
            if kept(sid) {
                continue;
            }
            self.at(pass::USER_DEPROVISION, &target.id, Some(sid));
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
                self.note(skip(
                    "the user mapping's flowTypes lack Delete, so it is kept",
                ));
                continue;
            }
            match self.input.options.user_deprovision {
                UserDeprovision::None => {
                    self.note(skip("options.user_deprovision = \"none\" keeps it"));
                }
                UserDeprovision::Disable => {
                    if target.flag("accountEnabled") != Some(false) {
                        self.op(
                            Stage::DisableUsers,
                            Operation::DisableUser {
                                target_id: target.id.clone(),
                                source_id: sid.to_string(),
                                display,
                                reason,
                            },
                        );
                    }
                }
                UserDeprovision::SoftDelete => {
                    let source_disabled =
                        source.and_then(|s| s.flag("accountEnabled")) == Some(false);
                    if source_disabled && target.flag("accountEnabled") == Some(false) {
                        self.note(entry(
                            ObjectKind::User,
                            Reason::DisabledUserKept,
                            sid,
                            Some(&target.id),
                            display,
                            "the user was already disabled and synced before it left the scope, so it is kept disabled, as Entra does".into(),
                        ));
                    } else {
                        self.op(
                            Stage::DeleteUsers,
                            Operation::DeleteUser {
                                target_id: target.id.clone(),
                                source_id: sid.to_string(),
                                display,
                                reason,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Plans the given in-scope groups and their memberships (all of them, or in an
    /// incremental run those planned again). `managed_users`: see [`Planner::managed_users`].
    pub(super) fn plan_groups(
        &mut self,
        compiled: &CompiledObject,
        groups: &[ScopedGroup<'a>],
        evaluator: &Evaluator<'_>,
        anchors: &AnchorIndex<'a>,
        managed_users: &IdSet<String>,
    ) {
        let target_groups = &self.input.target.groups;
        let target = Rc::clone(&self.target);
        let mut match_index = MatchIndex::new(target_groups);
        let suffix = self.input.options.group_name_suffix.clone();

        let mut evaluated = Vec::with_capacity(groups.len());
        for sg in groups {
            match evaluator.evaluate_all(sg.group, compiled) {
                Ok(d) => evaluated.push((sg, d)),
                Err(e) => {
                    self.at(pass::GROUP_EVAL, &sg.group.id, None);
                    self.report_eval_error(ObjectKind::Group, sg.group, e);
                    self.open_groups.push(&sg.group.id);
                }
            }
        }
        let mut matches: Vec<(&'a DirectoryObject, Match<'a>)> =
            Vec::with_capacity(evaluated.len());
        let mut renamed: IdSet<&str> = IdSet::default();
        for (sg, desired) in &evaluated {
            self.at(pass::GROUP_MATCH, &sg.group.id, None);
            let mut m = self.find_match(
                ObjectKind::Group,
                sg.group,
                compiled,
                desired,
                anchors,
                &target.groups,
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
            self.at(pass::GROUP, sid, None);
            if !matches!(m, Match::Anchored(_) | Match::Restore(_)) {
                self.open_groups.push(sid);
            }
            let members = self.member_refs(sg);
            match m {
                Match::Skip => {}
                Match::Create => {
                    if !compiled.add {
                        self.note(entry(
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
                    self.op(
                        Stage::CreateGroups,
                        Operation::CreateGroup {
                            source_id: sid.to_string(),
                            display: group.label(),
                            attributes,
                            members: members.into_iter().map(|(r, _)| r).collect(),
                        },
                    );
                }
                Match::Anchored(t) | Match::Claimed(t) | Match::Restore(t) => {
                    if matches!(m, Match::Restore(_)) {
                        self.op(
                            Stage::RestoreGroups,
                            Operation::RestoreGroup {
                                target_id: t.id.clone(),
                                source_id: sid.to_string(),
                                display: group.label(),
                            },
                        );
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
                        self.op(
                            Stage::UpdateGroups,
                            Operation::UpdateGroup {
                                target_id: t.id.clone(),
                                source_id: sid.to_string(),
                                display: group.label(),
                                changes,
                            },
                        );
                    }
                    if compiled.members {
                        self.diff_members(t, &group.label(), &members, managed_users);
                    }
                }
            }
        }
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
                self.note(entry(
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
            let known = || self.known_refs.as_ref().and_then(|k| k.get(*m));
            match self.user_refs.get(m).or_else(known) {
                Some(r) => refs.push((r.clone(), *m)),
                None => self.note_member(entry(
                    ObjectKind::Membership,
                    Reason::MemberNotProvisioned,
                    m,
                    None,
                    format!("{m} in {}", sg.group.label()),
                    "the member is in scope but has no target user in this plan (see its user entry); it is added once it does".into(),
                ), m),
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
                let display = format!("{} in {group_name}", self.source_label(source_id));
                self.op_member(
                    Stage::AddMembers,
                    Operation::AddMember {
                        group: ObjectRef::TargetId(target.id.clone()),
                        member: r.clone(),
                        display,
                    },
                    source_id,
                );
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
                .target
                .users
                .get(m)
                .map_or_else(|| m.to_string(), |u| u.label());
            self.op_member(
                Stage::RemoveMembers,
                Operation::RemoveMember {
                    group_id: target.id.clone(),
                    member_id: m.to_string(),
                    display: format!("{name} in {group_name}"),
                },
                m,
            );
        }
    }

    /// Deprovisions the managed groups that are not kept (in scope): all of them, or those of
    /// `only`.
    pub(super) fn deprovision_groups(
        &mut self,
        compiled: &CompiledObject,
        kept: &dyn Fn(&str) -> bool,
        anchors: &AnchorIndex<'a>,
        only: Option<&[&str]>,
    ) {
        let source_index = Rc::clone(&self.source);
        for (sid, target) in anchors.managed_of(only) {
            if kept(sid) {
                continue;
            }
            self.at(pass::GROUP_DEPROVISION, &target.id, Some(sid));
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
                Some(why) => self.note(entry(
                    ObjectKind::Group,
                    Reason::DeprovisionSkipped,
                    sid,
                    Some(&target.id),
                    target.label(),
                    format!("{reason}, but {why} keeps it"),
                )),
                None => self.op(
                    Stage::DeleteGroups,
                    Operation::DeleteGroup {
                        target_id: target.id.clone(),
                        source_id: sid.to_string(),
                        display: target.label(),
                        reason: reason.to_string(),
                    },
                ),
            }
        }
    }

    fn source_label(&self, source_id: &str) -> String {
        self.source
            .users
            .get(source_id)
            .map_or_else(|| source_id.to_string(), |u| u.label())
    }

    fn report_eval_error(
        &mut self,
        kind: ObjectKind,
        object: &DirectoryObject,
        error: EvalFailure,
    ) {
        self.note(entry(
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

    /// The plan of everything this run made.
    pub(super) fn finish_plan(
        self,
        users_in_scope: usize,
        groups_in_scope: usize,
        managed: usize,
    ) -> Plan {
        let Tagged { report, ops } = self.out;
        let operations = ops.into_iter().flatten().map(|(_, o)| o).collect();
        let report = report.into_iter().map(|(_, r)| r).collect();
        finish(
            self.input.options,
            operations,
            report,
            users_in_scope,
            groups_in_scope,
            managed,
        )
    }
}

/// The plan of these operations (in stage order) and report entries: the deletion threshold
/// weighed, and the summary counted.
pub(super) fn finish(
    options: &super::PlanOptions,
    operations: Vec<Operation>,
    mut report: Vec<ReportEntry>,
    users_in_scope: usize,
    groups_in_scope: usize,
    managed: usize,
) -> Plan {
    {
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
            report.push(ReportEntry {
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
        for r in &report {
            let code = serde_json::to_value(r.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *summary.reported.entry(code).or_default() += 1;
        }
        Plan {
            operations,
            report,
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
    let scoped = Planner::new(input)?.resolve();
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

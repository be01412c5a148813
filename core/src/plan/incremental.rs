//! Incremental planning: a plan made from what the previous plan made, planning again only the
//! objects that changed and those that depend on them.
//!
//! A full planner run keeps a [`Basis`]: its operations and report entries, each tagged with the
//! pass that made it, the key that pass orders by and the object it belongs to (see
//! [`Tag`]), and what the planner knew of every object (which users are in scope and why, the
//! target user of each, which objects are matched by anything but their anchor, the anchors).
//! Given the ids the delta rounds reported changed since ([`Changes`]), the next plan:
//!
//! 1. plans again the **users** that changed in the source, those whose anchored target user
//!    changed, those that became or stopped being candidates, and (when any of them, or an
//!    unanchored target user, is concerned, or a user comes into scope) every user matched by
//!    anything but its anchor, since the matching index may have moved; those that move in or
//!    out of scope update the scope the basis keeps;
//! 2. deprovisions again those of them that are managed and out of scope;
//! 3. plans again the **groups** that changed in the source, those whose anchored target group
//!    changed, those with a member that moved in or out of scope, those whose operations or
//!    report entries name a user or group planned again or a target user that changed (a
//!    member's name, a member's target user), and, likewise,
//!    every group matched by anything but its anchor when one of them is concerned;
//! 4. splices what it made into the basis's lists in place of what those objects had made, in
//!    the order a full run makes them (the pass, then the key), and weighs the deletion
//!    threshold and counts the summary over the result.
//!
//! The duplicate-anchor check and the index of anchors are made again in full (one pass over
//! the target's objects, without evaluating anything).
//!
//! It falls back to a full run whenever its shortcut could differ from one: the schema, scope,
//! options, kept anchors, target default domain or deleted objects changed; a source object was
//! created or deleted; a user moved to another target user, left the scope while claimed, or
//! came into it claimed or restored; a group moved in or out of scope; a target object gained, lost or changed its anchor; nested groups are
//! flattened and a group changed; more than a fifth of the source changed; an expression read
//! the time or asked whether a value exists in the target; plugins are loaded. The property
//! test in `tests.rs` (`incremental_and_full_planning_agree`) checks over generated tenants and
//! random changes on both sides that the incremental plan equals the full plan.

use std::collections::{BTreeMap, BTreeSet};

use crate::schema::SynchronizationSchema;
use crate::snapshot::{DirectoryObject, IdMap, IdSet};

use super::assignment::{self, ScopedGroup};
use super::model::{ObjectRef, Plan};
use super::options::{NestedGroups, PlanOptions, ScopeMode, ScopeOptions};
use super::planner::{self, AnchorIndex, FullRun, Planner, Tag, Tagged, pass};
use super::{PlanError, PlanInput};

/// The ids the delta rounds reported since the observation a [`Basis`] was planned from:
/// changed, new and removed objects alike, per collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Changes {
    /// Source users.
    pub source_users: Vec<String>,
    /// Source groups (attributes or members).
    pub source_groups: Vec<String>,
    /// Target users.
    pub target_users: Vec<String>,
    /// Target groups (attributes or members).
    pub target_groups: Vec<String>,
}

impl Changes {
    fn len(&self) -> usize {
        self.source_users.len()
            + self.source_groups.len()
            + self.target_users.len()
            + self.target_groups.len()
    }
}

/// How a plan was made. In JSON: `{"kind": "full", "reason": "a source user was created"}`
/// or `{"kind": "incremental", "users": 9, "groups": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PlanKind {
    /// Every object was planned; `reason` says why when an incremental plan was possible.
    Full {
        /// Why the previous plan could not be the start of this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Only these many users and groups were planned again.
    Incremental {
        /// Users planned again.
        users: usize,
        /// Groups planned again.
        groups: usize,
    },
}

impl std::fmt::Display for PlanKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanKind::Full { reason: None } => f.write_str("planned in full"),
            PlanKind::Full {
                reason: Some(why), ..
            } => write!(f, "planned in full: {why}"),
            PlanKind::Incremental { users, groups } => write!(
                f,
                "planned incrementally: {users} users and {groups} groups planned again"
            ),
        }
    }
}

/// A plan kept with no more than this many operations keeps no basis: applying it changes
/// that many target objects, so the next cycle would plan them all again anyway.
const BASIS_MAX_OPERATIONS: usize = 20_000;

/// How users came to be candidates for the scope.
#[derive(Debug)]
enum Candidates {
    /// Every source user.
    All,
    /// `assigned` mode, direct members: per user (by position), how many times assigned;
    /// per assigned group, its user members by position.
    Counted {
        counts: Vec<u32>,
        members: IdMap<Box<str>, Vec<u32>>,
    },
    /// `assigned` mode, flattened: fixed as long as no group changes (which plans in full);
    /// the candidates left out of scope (the others are in scope).
    Fixed { out_of_scope: IdSet<Box<str>> },
}

/// What a plan was made from and what it made: the start of the next, incremental, plan.
#[derive(Debug)]
pub(crate) struct Basis {
    schema: SynchronizationSchema,
    scope: ScopeOptions,
    options: PlanOptions,
    source_tenant: String,
    default_domain: Option<String>,
    state_anchors: BTreeMap<String, String>,
    deleted_users: Vec<DirectoryObject>,
    deleted_groups: Vec<DirectoryObject>,
    /// Source user ids by position.
    user_ids: Vec<Box<str>>,
    group_ids: IdSet<Box<str>>,
    candidates: Candidates,
    in_scope: IdSet<Box<str>>,
    groups_in_scope: IdSet<Box<str>>,
    user_refs: IdMap<Box<str>, ObjectRef>,
    open_users: IdSet<Box<str>>,
    open_groups: IdSet<Box<str>>,
    managed_users: IdSet<String>,
    users: Anchors,
    groups: Anchors,
    tagged: Tagged,
}

/// The anchors of one kind of target object.
#[derive(Debug, Default)]
struct Anchors {
    /// Live target id -> the source id in its anchor (the managed object of that source id).
    source_of: IdMap<Box<str>, Box<str>>,
    /// Source id -> its managed live target id.
    target_of: IdMap<Box<str>, Box<str>>,
    /// (source id, target id) of the restorable deleted objects, sorted.
    deleted: Vec<(Box<str>, Box<str>)>,
}

impl Anchors {
    fn of(index: &AnchorIndex<'_>) -> Anchors {
        let mut a = Anchors {
            deleted: deleted_pairs(index),
            ..Anchors::default()
        };
        for (sid, t) in &index.live {
            a.source_of.insert(t.id.as_str().into(), (*sid).into());
            a.target_of.insert((*sid).into(), t.id.as_str().into());
        }
        a
    }
}

fn deleted_pairs(index: &AnchorIndex<'_>) -> Vec<(Box<str>, Box<str>)> {
    let mut v: Vec<(Box<str>, Box<str>)> = index
        .deleted
        .iter()
        .map(|(sid, t)| ((*sid).into(), t.id.as_str().into()))
        .collect();
    v.sort();
    v
}

/// The options that shape what each object's operations are: the deletion threshold is weighed
/// over the whole plan each time, so it is left out.
fn shaping(options: &PlanOptions) -> PlanOptions {
    PlanOptions {
        deletion_threshold: 0,
        deletion_threshold_percent: None,
        allow_deletes: false,
        ..options.clone()
    }
}

fn boxed<'s>(ids: impl IntoIterator<Item = &'s str>) -> IdSet<Box<str>> {
    ids.into_iter().map(Into::into).collect()
}

/// A plan, incremental from `basis` and `changes` when both are given and nothing calls for
/// a full run; with the basis of the next plan (none when it could not be used) and how it was
/// made. The boolean says whether the plan depends on `as_of` (see [`super::plan_timed`]).
pub(crate) fn plan(
    input: &PlanInput<'_>,
    basis: Option<Basis>,
    changes: Option<&Changes>,
) -> Result<(Plan, bool, Option<Basis>, PlanKind), PlanError> {
    let mut reason = None;
    let mut planner = Planner::new(input)?;
    if let (Some(mut basis), Some(changes)) = (basis, changes) {
        let evaluator = planner.evaluator();
        match incremental(&mut planner, &evaluator, &mut basis, changes) {
            Ok((users, groups)) => {
                let timed = planner.timed(&evaluator);
                let reusable = !read_more(&evaluator);
                let plan = splice(&mut basis, planner, input);
                let kind = PlanKind::Incremental { users, groups };
                return Ok((plan, timed, reusable.then_some(basis), kind));
            }
            Err(why) => {
                reason = Some(why.to_string());
                planner = planner.renew()?;
            }
        }
    }
    let evaluator = planner.evaluator();
    let run = planner.plan_all(&evaluator);
    let timed = planner.timed(&evaluator);
    let keep = !read_more(&evaluator) && input.functions.is_none();
    let managed = run.user_anchors.live.len() + run.group_anchors.live.len();
    let (users, groups) = (run.scoped.users.len(), run.scoped.groups.len());
    let operations: usize = planner.out.ops.iter().map(Vec::len).sum();
    if !keep || operations > BASIS_MAX_OPERATIONS {
        drop(run);
        let plan = planner.finish_plan(users, groups, managed);
        return Ok((plan, timed, None, PlanKind::Full { reason }));
    }
    let plan = untagged(&planner.out, input.options, users, groups, managed);
    let basis = basis_of(input, planner, run);
    Ok((plan, timed, Some(basis), PlanKind::Full { reason }))
}

/// An expression read the time or the target's values: its object then depends on more than
/// the objects an incremental plan follows.
fn read_more(evaluator: &super::transform::Evaluator<'_>) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    evaluator.clock_read.load(Relaxed) || evaluator.target_read.load(Relaxed)
}

/// The plan of tagged lists, which stay as they are.
fn untagged(
    tagged: &Tagged,
    options: &PlanOptions,
    users: usize,
    groups: usize,
    managed: usize,
) -> Plan {
    let operations = tagged
        .ops
        .iter()
        .flatten()
        .map(|(_, o)| o.clone())
        .collect();
    let report = tagged.report.iter().map(|(_, r)| r.clone()).collect();
    planner::finish(options, operations, report, users, groups, managed)
}

fn basis_of(input: &PlanInput<'_>, planner: Planner<'_>, run: FullRun<'_>) -> Basis {
    let candidates = match (&input.scope.mode, run.scoped.candidacy) {
        (ScopeMode::All, _) => Candidates::All,
        (ScopeMode::Assigned, Some(c)) => Candidates::Counted {
            counts: c.counts,
            members: c
                .members
                .into_iter()
                .map(|(g, m)| (Box::from(g), m))
                .collect(),
        },
        (ScopeMode::Assigned, None) => Candidates::Fixed {
            out_of_scope: boxed(
                planner
                    .out
                    .report
                    .iter()
                    .filter(|(t, _)| t.pass == pass::SCOPE_USER)
                    .map(|(t, _)| &*t.key),
            ),
        },
    };
    Basis {
        schema: input.schema.clone(),
        scope: input.scope.clone(),
        options: shaping(input.options),
        source_tenant: input.source.tenant_id.clone(),
        default_domain: input.target.default_domain.clone(),
        state_anchors: input.state.anchors.clone(),
        deleted_users: input.target.deleted_users.clone(),
        deleted_groups: input.target.deleted_groups.clone(),
        user_ids: input
            .source
            .users
            .iter()
            .map(|u| u.id.as_str().into())
            .collect(),
        group_ids: boxed(input.source.groups.iter().map(|g| g.id.as_str())),
        candidates,
        in_scope: boxed(run.scoped.users.iter().map(|u| u.id.as_str())),
        groups_in_scope: boxed(run.scoped.groups.iter().map(|g| g.group.id.as_str())),
        user_refs: planner
            .user_refs
            .iter()
            .map(|(k, v)| (Box::from(*k), v.clone()))
            .collect(),
        open_users: boxed(planner.open_users.iter().copied()),
        open_groups: boxed(planner.open_groups.iter().copied()),
        managed_users: run.managed_users,
        users: Anchors::of(&run.user_anchors),
        groups: Anchors::of(&run.group_anchors),
        tagged: planner.out,
    }
}

#[cfg(test)]
impl Basis {
    /// Asserts that the kept lists are in a full run's order, which splicing relies on.
    pub(crate) fn check_order(&self) {
        let key = |t: &Tag| (t.pass, t.key.clone());
        assert!(
            self.tagged.report.is_sorted_by_key(|(t, _)| key(t)),
            "report entries out of order"
        );
        for stage in &self.tagged.ops {
            assert!(
                stage.is_sorted_by_key(|(t, _)| key(t)),
                "operations out of order"
            );
        }
    }
}

/// The basis was made from the same schema, scope, options, anchors and deleted objects.
fn same_context(basis: &Basis, input: &PlanInput<'_>) -> Result<(), &'static str> {
    let checks = [
        (input.functions.is_none(), "plugins are loaded"),
        (
            basis.source_tenant == input.source.tenant_id
                && basis.default_domain == input.target.default_domain,
            "the tenants changed",
        ),
        (
            basis.scope == *input.scope
                && basis.options == shaping(input.options)
                && basis.schema == *input.schema,
            "the job changed",
        ),
        (
            basis.deleted_users == input.target.deleted_users
                && basis.deleted_groups == input.target.deleted_groups,
            "the target's deleted objects changed",
        ),
        (
            basis.state_anchors == input.state.anchors,
            "the kept anchors changed",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(why),
        None => Ok(()),
    }
}

/// The basis does not match the observation (which the checks before make impossible).
const STALE: &str = "the basis does not match the source";

/// Plans again what `changes` concern, into `planner.out`; returns how many users and groups
/// that was, or why only a full run gives the same plan.
fn incremental<'a>(
    p: &mut Planner<'a>,
    evaluator: &super::transform::Evaluator<'a>,
    basis: &mut Basis,
    changes: &Changes,
) -> Result<(usize, usize), &'static str> {
    let input = p.input;
    same_context(basis, input)?;
    if changes.len() > (input.source.users.len() / 5).max(50) {
        return Err("more than a fifth of the source changed");
    }
    let source = std::rc::Rc::clone(&p.source);
    let target = std::rc::Rc::clone(&p.target);
    let all_users = &input.source.users;

    // Source objects that changed; none may be new or gone.
    if all_users.len() != basis.user_ids.len() || input.source.groups.len() != basis.group_ids.len()
    {
        return Err("a source object was created or deleted");
    }
    let mut users: BTreeSet<&'a str> = BTreeSet::new();
    for id in &changes.source_users {
        let (&k, &u) = source
            .users
            .get_key_value(id.as_str())
            .ok_or("a source user was deleted")?;
        if *basis.user_ids[assignment::position(all_users, u) as usize] != **id {
            return Err("a source user was created");
        }
        users.insert(k);
    }
    let mut groups: BTreeSet<&'a str> = BTreeSet::new();
    for id in &changes.source_groups {
        let (&k, _) = source
            .groups
            .get_key_value(id.as_str())
            .ok_or("a source group was deleted")?;
        if !basis.group_ids.contains(id.as_str()) {
            return Err("a source group was created");
        }
        groups.insert(k);
    }
    let flatten = input.options.nested_groups == NestedGroups::Flatten;
    if flatten && !groups.is_empty() {
        return Err("nested groups are flattened and a group changed");
    }
    // Membership changes of assigned groups: a user that becomes or stops being a candidate
    // is planned again (it may move in or out of scope, below).
    let mut recounted: Vec<u32> = Vec::new();
    if let Candidates::Counted { counts, members } = &mut basis.candidates {
        for g in &groups {
            let Some(old) = members.get_mut(*g) else {
                continue;
            };
            let new = assignment::direct_user_members(&source, all_users, source.groups[g]);
            let (gone, added) = sorted_difference(old, &new);
            for p in gone {
                counts[p as usize] -= 1;
                if counts[p as usize] == 0 {
                    recounted.push(p);
                }
            }
            for p in added {
                if counts[p as usize] == 0 {
                    recounted.push(p);
                }
                counts[p as usize] += 1;
            }
            *old = new;
        }
    }
    users.extend(recounted.iter().map(|&p| all_users[p as usize].id.as_str()));

    // The anchors, indexed again; no target object may gain, lose or change its anchor.
    let (user_anchors, group_anchors) = p.anchor_indexes();
    if deleted_pairs(&user_anchors) != basis.users.deleted
        || deleted_pairs(&group_anchors) != basis.groups.deleted
    {
        return Err("the target's deleted objects changed");
    }
    let open_users = concerned(
        p,
        &basis.users,
        &user_anchors,
        &target.users,
        &changes.target_users,
        &mut users,
    )?;
    let open_groups = concerned(
        p,
        &basis.groups,
        &group_anchors,
        &target.groups,
        &changes.target_groups,
        &mut groups,
    )?;

    // Users matched by anything but their anchor depend on every unanchored target user, and
    // on one another (two claiming the same target user); a user coming into scope may be
    // matched so too.
    let candidate = |basis: &Basis, u: &str, user: &DirectoryObject| match &basis.candidates {
        Candidates::All => true,
        Candidates::Counted { counts, .. } => {
            counts[assignment::position(all_users, user) as usize] > 0
        }
        Candidates::Fixed { out_of_scope } => {
            basis.in_scope.contains(u) || out_of_scope.contains(u)
        }
    };
    let comes_in = |u: &str| {
        source.users.get(u).is_some_and(|&user| {
            !basis.in_scope.contains(u)
                && candidate(basis, u, user)
                && assignment::user_out_of_scope(user, &p.users_map).is_none()
        })
    };
    if open_users
        || users.iter().any(|u| basis.open_users.contains(*u))
        || users.iter().any(|u| comes_in(u))
    {
        for u in &basis.open_users {
            users.insert(source.users.get_key_value(&**u).ok_or(STALE)?.0);
        }
    }
    // Scope: the users planned again that move in or out of it.
    let mut scoped: Vec<&'a DirectoryObject> = Vec::new();
    let (mut moved_in, mut moved_out): (IdSet<&'a str>, IdSet<&'a str>) = Default::default();
    for &u in &users {
        let Some(&user) = source.users.get(u) else {
            continue;
        };
        let now = candidate(basis, u, user)
            && assignment::scope_user(user, &p.users_map, &mut p.out.report);
        match (basis.in_scope.contains(u), now) {
            (false, true) => moved_in.insert(u),
            (true, false) => moved_out.insert(u),
            _ => false,
        };
        if now {
            scoped.push(user);
        }
    }
    for &u in &moved_out {
        // A user claimed (matched by attributes) counts among the managed target users, which
        // every group's plan reads.
        if let Some(ObjectRef::TargetId(t)) = basis.user_refs.get(u)
            && basis.users.target_of.get(u).map(|t| &**t) != Some(t.as_str())
        {
            return Err("a user matched by more than its anchor left the scope");
        }
        basis.in_scope.remove(u);
        if let Candidates::Fixed { out_of_scope } = &mut basis.candidates {
            out_of_scope.insert(u.into());
        }
    }
    for &u in &moved_in {
        basis.in_scope.insert(u.into());
        if let Candidates::Fixed { out_of_scope } = &mut basis.candidates {
            out_of_scope.remove(u);
        }
    }
    p.known_refs = Some(std::mem::take(&mut basis.user_refs));
    p.plan_users(&scoped, evaluator, &user_anchors);
    let known = p.known_refs.as_mut().ok_or(STALE)?;
    for u in &scoped {
        let id = u.id.as_str();
        let now = p.user_refs.get(id);
        if !moved_in.contains(id) {
            if now != known.get(id) {
                return Err("a user's target user changed");
            }
            continue;
        }
        match now {
            Some(ObjectRef::TargetId(t)) if !basis.managed_users.contains(t) => {
                return Err(
                    "a user came into scope matched to a target user by more than its anchor",
                );
            }
            Some(r) => {
                known.insert(id.into(), r.clone());
            }
            None => {}
        }
    }
    for &u in &moved_out {
        known.remove(u);
    }
    let dirty_users: Vec<&str> = users.iter().copied().collect();
    p.deprovision_users(
        &|sid| basis.in_scope.contains(sid),
        &user_anchors,
        Some(&dirty_users),
    );

    // Groups with a member that moved in or out of scope.
    if !moved_in.is_empty() || !moved_out.is_empty() {
        for gid in &input.scope.groups {
            let Some((&k, &g)) = source.groups.get_key_value(gid.as_str()) else {
                continue;
            };
            let members = assignment::user_members(&source, g, flatten);
            if members
                .iter()
                .any(|m| moved_in.contains(m) || moved_out.contains(m))
            {
                groups.insert(k);
            }
        }
    }
    // Groups whose entries name what was planned again or a target user that changed.
    let named: IdSet<&str> = users
        .iter()
        .chain(&groups)
        .copied()
        .chain(changes.target_users.iter().map(String::as_str))
        .collect();
    let entries = basis.tagged.report.iter().map(|(t, _)| t);
    let ops = basis.tagged.ops.iter().flatten().map(|(t, _)| t);
    for tag in entries.chain(ops) {
        if matches!(tag.pass, pass::SCOPE_GROUP | pass::GROUP)
            && tag.member.as_deref().is_some_and(|m| named.contains(m))
        {
            groups.insert(source.groups.get_key_value(&*tag.key).ok_or(STALE)?.0);
        }
    }
    if open_groups || groups.iter().any(|g| basis.open_groups.contains(*g)) {
        for g in &basis.open_groups {
            groups.insert(source.groups.get_key_value(&**g).ok_or(STALE)?.0);
        }
    }
    let assigned: BTreeSet<&str> = input.scope.groups.iter().map(String::as_str).collect();
    let mut scoped_groups: Vec<ScopedGroup<'a>> = Vec::new();
    if let Some(groups_map) = p.groups_map.take() {
        for &g in &groups {
            let Some(&group) = source.groups.get(g).filter(|_| assigned.contains(g)) else {
                continue;
            };
            let sg = assignment::scope_group(
                &source,
                group,
                input.options,
                &groups_map,
                &|id| basis.in_scope.contains(id),
                &mut p.out.report,
            );
            if sg.is_some() != basis.groups_in_scope.contains(g) {
                return Err("a group moved in or out of scope");
            }
            scoped_groups.extend(sg);
        }
        p.plan_groups(
            &groups_map,
            &scoped_groups,
            evaluator,
            &group_anchors,
            &basis.managed_users,
        );
        let dirty_groups: Vec<&str> = groups.iter().copied().collect();
        p.deprovision_groups(
            &groups_map,
            &|sid| basis.groups_in_scope.contains(sid),
            &group_anchors,
            Some(&dirty_groups),
        );
        p.groups_map = Some(groups_map);
    }
    basis.user_refs = p.known_refs.take().unwrap_or_default();

    // What the next plan starts from: which of them are matched by anything but the anchor.
    for u in &users {
        basis.open_users.remove(*u);
    }
    basis
        .open_users
        .extend(p.open_users.iter().map(|&u| Box::from(u)));
    for g in &groups {
        basis.open_groups.remove(*g);
    }
    basis
        .open_groups
        .extend(p.open_groups.iter().map(|&g| Box::from(g)));
    replace_entries(basis, &users, &groups);
    Ok((scoped.len(), scoped_groups.len()))
}

/// Adds to `planned` the source object of each changed target object of one kind (`changed`,
/// looked up in `objects`) that keeps its anchor; returns whether an unanchored one changed.
/// Fails when one gained, lost or changed its anchor.
fn concerned<'a>(
    p: &Planner<'a>,
    basis: &Anchors,
    index: &AnchorIndex<'a>,
    objects: &IdMap<&'a str, &'a DirectoryObject>,
    changed: &[String],
    planned: &mut BTreeSet<&'a str>,
) -> Result<bool, &'static str> {
    let mut unanchored = false;
    for id in changed {
        match same_anchor(p, basis, index, objects.get(id.as_str()), id).ok_or(MOVED_ANCHOR)? {
            Some(sid) => {
                planned.insert(sid);
            }
            None => unanchored = true,
        }
    }
    Ok(unanchored)
}

const MOVED_ANCHOR: &str = "a target object gained, lost or changed its anchor";

/// Whether a changed target object keeps the anchor it had (`Some(source id)` when anchored,
/// `Some(None)` when it was and stays unanchored), or `None` when it gained, lost or changed it.
fn same_anchor<'a>(
    p: &Planner<'a>,
    basis: &Anchors,
    index: &AnchorIndex<'a>,
    now: Option<&&'a DirectoryObject>,
    id: &str,
) -> Option<Option<&'a str>> {
    let before = basis.source_of.get(id).map(|s| &**s);
    let after = now.and_then(|t| p.anchor_of(t));
    // A duplicate anchor counts as no anchor in `source_of`, which keeps it on the full path.
    let managed_now = after.filter(|sid| index.live.get(sid).is_some_and(|t| t.id == id));
    if before != managed_now || after != managed_now {
        return None;
    }
    if let Some(sid) = managed_now
        && basis.target_of.get(sid).map(|t| &**t) != Some(id)
    {
        return None;
    }
    Some(managed_now)
}

/// `(in old only, in new only)` of two sorted lists.
fn sorted_difference(old: &[u32], new: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let (mut gone, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                gone.push(*a);
                i += 1;
            }
            (Some(_), Some(b)) => {
                added.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                gone.push(*a);
                i += 1;
            }
            (None, Some(b)) => {
                added.push(*b);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    (gone, added)
}

/// Drops from the basis the entries of the users and groups planned again, and the duplicate
/// anchors (checked again in full).
fn replace_entries(basis: &mut Basis, users: &BTreeSet<&str>, groups: &BTreeSet<&str>) {
    let stale = |t: &Tag| match t.pass {
        pass::DUPLICATE_USER | pass::DUPLICATE_GROUP => true,
        pass::SCOPE_USER
        | pass::USER_EVAL
        | pass::USER_MATCH
        | pass::USER_CONFLICT
        | pass::USER
        | pass::USER_DEPROVISION => users.contains(t.unit()),
        pass::SCOPE_GROUP
        | pass::GROUP_EVAL
        | pass::GROUP_MATCH
        | pass::GROUP_CONFLICT
        | pass::GROUP
        | pass::GROUP_DEPROVISION => groups.contains(t.unit()),
        _ => false,
    };
    basis.tagged.report.retain(|(t, _)| !stale(t));
    for stage in &mut basis.tagged.ops {
        stage.retain(|(t, _)| !stale(t));
    }
}

/// Adds what the planner made to the basis's lists, in a full run's order, and makes the plan.
fn splice(basis: &mut Basis, planner: Planner<'_>, input: &PlanInput<'_>) -> Plan {
    let order = |a: &Tag, b: &Tag| (a.pass, &a.key).cmp(&(b.pass, &b.key));
    let Tagged { report, ops } = planner.out;
    basis.tagged.report.extend(report);
    basis.tagged.report.sort_by(|a, b| order(&a.0, &b.0));
    for (stage, new) in basis.tagged.ops.iter_mut().zip(ops) {
        if !new.is_empty() {
            stage.extend(new);
            stage.sort_by(|a, b| order(&a.0, &b.0));
        }
    }
    let managed = basis.users.target_of.len() + basis.groups.target_of.len();
    untagged(
        &basis.tagged,
        input.options,
        basis.in_scope.len(),
        basis.groups_in_scope.len(),
        managed,
    )
}

//! Observe: read the source and the target (each a delta round applied to its cached objects,
//! or a full round) into snapshots, and the target's soft-deleted objects when a plan can need
//! them. A quiet cycle sends four requests (a delta round of users and of groups per side), all
//! at once when every collection has a delta link ([`prefetch`]), and writes only the rows that
//! changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use crate::graph::delta::{DeltaObject, DeltaResource, DeltaRound, RemovedReason};
use crate::graph::{DeltaLink, GraphClient, GraphRequest, delta_or_full, list_all};
use crate::plan::anchor_source_id;
use crate::schema::SynchronizationSchema;
use crate::snapshot::{DirectoryObject, IdSet, Snapshot};
use crate::state::{Side, StateStore};
use crate::value::Value;

use super::SyncError;

/// Properties every read of users includes, whatever the schema maps.
const USER_BASE: &[&str] = &[
    "displayName",
    "mail",
    "userPrincipalName",
    "accountEnabled",
    "userType",
    "creationType",
    "externalUserState",
];

/// Properties every read of groups includes.
const GROUP_BASE: &[&str] = &[
    "displayName",
    "description",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
];

/// What each read selects: the essentials, and every attribute the schema reads or writes.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub source_users: Vec<String>,
    pub source_groups: Vec<String>,
    pub target_users: Vec<String>,
    pub target_groups: Vec<String>,
}

/// The collections a side is read as, in order, with the delta resource of each.
const COLLECTIONS: [(&str, DeltaResource); 2] = [
    ("users", DeltaResource::Users),
    ("groups", DeltaResource::Groups),
];

impl Selection {
    /// What the reads of `side`'s users and groups select.
    fn of(&self, side: Side) -> [&[String]; 2] {
        match side {
            Side::Source => [&self.source_users, &self.source_groups],
            Side::Target => [&self.target_users, &self.target_groups],
        }
    }

    pub(super) fn new(schema: &SynchronizationSchema, anchor: &str) -> Selection {
        let mut su: BTreeSet<String> = USER_BASE.iter().map(|s| s.to_string()).collect();
        let mut sg: BTreeSet<String> = GROUP_BASE.iter().map(|s| s.to_string()).collect();
        let mut tu = su.clone();
        let mut tg = sg.clone();
        for (object, source, target) in [("User", &mut su, &mut tu), ("Group", &mut sg, &mut tg)] {
            let Some((_, mapping)) = schema.object_mapping(object) else {
                continue;
            };
            for am in &mapping.attribute_mappings {
                if am.target_attribute_name != "members" {
                    target.insert(am.target_attribute_name.clone());
                }
                if let Some(src) = &am.source
                    && let Ok(e) = crate::expr::Expr::from_mapping_source(src)
                {
                    source.extend(
                        e.attributes()
                            .into_iter()
                            .filter(|a| a != "members" && a != "objectId" && a != "id"),
                    );
                }
            }
            if let Some(scope) = &mapping.scope {
                for g in &scope.groups {
                    for c in &g.clauses {
                        source.insert(c.source_operand_name.clone());
                    }
                }
            }
        }
        tu.insert(anchor.to_string());
        tg.insert(anchor.to_string());
        Selection {
            source_users: su.into_iter().collect(),
            source_groups: sg.into_iter().collect(),
            target_users: tu.into_iter().collect(),
            target_groups: tg.into_iter().collect(),
        }
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Turns Graph JSON properties into attributes; `null` stays absent.
fn attributes(props: &Map<String, Json>) -> BTreeMap<String, Value> {
    props
        .iter()
        .filter(|(k, v)| !v.is_null() && !k.starts_with('@') && k.as_str() != "id")
        .map(|(k, v)| (k.clone(), Value::from_json(v)))
        .collect()
}

/// One Graph object (JSON) as a directory object.
pub(crate) fn object_from_json(item: &Json) -> Option<DirectoryObject> {
    let map = item.as_object()?;
    let id = map.get("id")?.as_str()?.to_string();
    Some(DirectoryObject {
        id,
        attributes: attributes(map),
    })
}

/// How one side was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SideRead {
    /// A full round of users or groups (first run, `--full`, a periodic reconciliation, an
    /// expired delta token, or a lost cache).
    pub full: bool,
    /// Objects that changed (delta) or were read (full).
    pub changed: usize,
    /// Requests sent to `/directory/deletedItems` (target only): none unless a full read or a
    /// restore candidate needs them.
    pub deleted_items_read: bool,
    /// Every collection came from this engine's memory and its round reported nothing: the
    /// snapshot equals the one the engine's previous cycle observed.
    pub unchanged: bool,
}

/// How the source was read (kept under its earlier name).
pub(crate) type SourceRead = SideRead;

/// The caches as the last cycle of one engine left them, keyed by delta-link kind, each with the
/// link it is current for: a later cycle of the same engine uses them when the state store holds
/// that same link (nothing else moved it), and reads the store otherwise.
///
/// A delta round's merged objects are not copied here: the cycle's snapshots are the cache, and
/// [`Memo::keep`] takes them back once the cycle is over (a copy of every object per cycle was
/// the largest cost of a quiet cycle at 100,000 users). A cycle that does not hand them back
/// (a dry run, a refusal, an error) leaves the next one to read the state store.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    entries: HashMap<String, (String, Vec<DirectoryObject>)>,
    /// The links the current cycle's delta rounds left, by kind: what [`Memo::keep`] files
    /// the handed-back objects under.
    pending: HashMap<String, String>,
}

impl Memo {
    /// The kept objects of `kind` when they are current for `link`.
    fn take(&mut self, kind: &str, link: &str) -> Option<Vec<DirectoryObject>> {
        match self.entries.remove(kind) {
            Some((l, objects)) if l == link => Some(objects),
            _ => None,
        }
    }

    /// This cycle's delta round of `kind` left `link`: its objects come back by [`Memo::keep`].
    fn expect(&mut self, kind: &str, link: &str) {
        self.pending.insert(kind.to_string(), link.to_string());
    }

    /// Takes back the snapshots a cycle observed, for the kinds its delta rounds read.
    pub(crate) fn keep(&mut self, source: Snapshot, target: Snapshot) {
        for (kind, objects) in [
            (link_kind(Side::Source, "users"), source.users),
            (link_kind(Side::Source, "groups"), source.groups),
            (link_kind(Side::Target, "users"), target.users),
            (link_kind(Side::Target, "groups"), target.groups),
        ] {
            if let Some(link) = self.pending.remove(&kind) {
                self.entries.insert(kind, (link, objects));
            }
        }
        self.pending.clear();
    }

    /// Forgets everything (the state was reset or replaced).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.pending.clear();
    }
}

/// One collection read: its objects now, and what the round reported removed.
struct KindRead {
    objects: Vec<DirectoryObject>,
    full: bool,
    changed: usize,
    /// Objects the round reported soft-deleted (`@removed` with reason `changed`), as the cache
    /// last held them.
    soft_deleted: Vec<DirectoryObject>,
    /// Ids the round reported present again or deleted for good.
    not_soft_deleted: Vec<String>,
    /// The round soft-deleted an object the cache did not hold.
    unknown_soft_deleted: bool,
    /// The ids the round reported, when it was applied to this engine's memory of the previous
    /// cycle's observation (what an incremental plan follows).
    ids: Option<Vec<String>>,
}

/// The ids one side's delta rounds reported (users, groups), when both were applied to this
/// engine's memory of its previous observation.
pub(crate) type ChangedIds = Option<[Vec<String>; 2]>;

fn changed_ids(reads: &mut [KindRead; 2]) -> ChangedIds {
    let [users, groups] = reads;
    Some([users.ids.take()?, groups.ids.take()?])
}

/// Reads one collection (`users` or `groups` of `side`): a delta round from the kept link
/// applied to the cached objects, or a full round when `full`, when no link is kept, or when
/// Graph says the link expired. Only the rows that changed are written back, with the new link,
/// in one transaction.
#[allow(clippy::too_many_arguments)]
async fn read_kind(
    client: &GraphClient,
    state: &mut StateStore,
    memo: &mut Memo,
    prefetched: &mut Prefetched,
    side: Side,
    kind: &str,
    resource: DeltaResource,
    select: &[String],
    full: bool,
    now: DateTime<Utc>,
) -> Result<KindRead, SyncError> {
    let link_kind = link_kind(side, kind);
    memo.pending.remove(&link_kind);
    let (link, round) = match prefetched.0.remove(&link_kind) {
        Some((link, round)) => (Some(link), round),
        None => {
            let link = if full {
                None
            } else {
                state.delta_link(&link_kind)?
            };
            let since = link.clone().map(DeltaLink);
            let round = delta_or_full(client, resource, &refs(select), since.as_ref()).await?;
            (link, round)
        }
    };
    let new_link = round.delta_link.0.clone();
    if round.full {
        // The round is consumed as it is turned into objects, so the two are not held whole at
        // once; the memory cache is left to delta rounds (a full read is the large one).
        let changed = round.objects.len();
        let objects = objects_of_full_round(round.objects);
        let all: Vec<&DirectoryObject> = objects.iter().collect();
        state.write_cache(
            side,
            kind,
            &all,
            &[],
            true,
            Some((&link_kind, &new_link)),
            now,
        )?;
        return Ok(KindRead {
            changed,
            objects,
            full: true,
            soft_deleted: Vec::new(),
            not_soft_deleted: Vec::new(),
            unknown_soft_deleted: false,
            ids: None,
        });
    }
    let link = link.expect("a delta round starts from a kept link");
    let (cached, remembered) = match memo.take(&link_kind, &link) {
        Some(objects) => (objects, true),
        None => (state.cached(side, kind)?, false),
    };
    let merged = merge_round(cached, &round.objects);
    let changed: Vec<&DirectoryObject> =
        merged.changed.iter().map(|&i| &merged.objects[i]).collect();
    let removed: Vec<&str> = merged.removed.iter().map(String::as_str).collect();
    state.write_cache(
        side,
        kind,
        &changed,
        &removed,
        false,
        Some((&link_kind, &new_link)),
        now,
    )?;
    memo.expect(&link_kind, &new_link);
    let ids = remembered.then(|| round.objects.iter().map(|o| o.id.clone()).collect());
    Ok(KindRead {
        ids,
        changed: round.objects.len(),
        objects: merged.objects,
        full: false,
        soft_deleted: merged.soft_deleted,
        not_soft_deleted: merged.not_soft_deleted,
        unknown_soft_deleted: merged.unknown_soft_deleted,
    })
}

/// The objects of a full round (no token: every object present once, none removed), sorted by
/// id, consuming the round as it goes. The same as [`apply_changes`] on an empty cache.
pub(crate) fn objects_of_full_round(round: Vec<DeltaObject>) -> Vec<DirectoryObject> {
    let mut objects: Vec<DirectoryObject> = Vec::with_capacity(round.len());
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for change in round {
        if change.removed.is_some() {
            removed.insert(change.id);
            continue;
        }
        let mut object = DirectoryObject::new(change.id.clone());
        merge_change(&mut object, &change);
        objects.push(object);
    }
    objects.sort_by(|a, b| a.id.cmp(&b.id));
    objects.dedup_by(|b, a| a.id == b.id);
    objects.retain(|o| !removed.contains(&o.id));
    objects
}

/// A delta round applied to cached objects (sorted by id).
#[derive(Debug)]
pub(crate) struct Merged {
    /// The objects now, sorted by id.
    pub objects: Vec<DirectoryObject>,
    /// Indexes in `objects` of those the round changed or added: the rows to write.
    pub changed: Vec<usize>,
    /// Ids the round removed: the rows to delete.
    pub removed: Vec<String>,
    /// Objects the round reported soft-deleted, as the cache last held them.
    pub soft_deleted: Vec<DirectoryObject>,
    /// Ids the round reported present or deleted for good (no longer soft-deleted).
    pub not_soft_deleted: Vec<String>,
    /// The round reported soft-deleted an object the cache did not hold (created since the
    /// cache was written, by this job or by hand): its anchor is unknown.
    pub unknown_soft_deleted: bool,
}

/// Applies one delta round to the cached objects of a collection (sorted by id, as the cache
/// and [`apply_changes`] keep them), saying which rows changed.
pub(crate) fn merge_round(cached: Vec<DirectoryObject>, round: &[DeltaObject]) -> Merged {
    let mut soft_deleted = Vec::new();
    let mut not_soft_deleted = Vec::new();
    let mut unknown_soft_deleted = false;
    for change in round {
        match change.removed {
            Some(RemovedReason::Changed) => {
                match cached.binary_search_by(|o| o.id.as_str().cmp(&change.id)) {
                    Ok(i) => soft_deleted.push(cached[i].clone()),
                    Err(_) => unknown_soft_deleted = true,
                }
            }
            _ => not_soft_deleted.push(change.id.clone()),
        }
    }
    let objects = apply_changes(cached, round);
    let mut changed = Vec::new();
    let mut removed = Vec::new();
    for change in round {
        match objects.binary_search_by(|o| o.id.as_str().cmp(&change.id)) {
            Ok(i) => changed.push(i),
            Err(_) => removed.push(change.id.clone()),
        }
    }
    changed.sort_unstable();
    changed.dedup();
    removed.sort_unstable();
    removed.dedup();
    Merged {
        objects,
        changed,
        removed,
        soft_deleted,
        not_soft_deleted,
        unknown_soft_deleted,
    }
}

/// How a delta round of the target changes the deleted objects the job knows of: objects
/// reported soft-deleted that carry an anchor are added (stamped `deleted_at`), and ids reported
/// present again or deleted for good are dropped.
pub(crate) fn known_deleted_changes(
    soft_deleted: Vec<DirectoryObject>,
    not_soft_deleted: &[String],
    anchor: &str,
    deleted_at: DateTime<Utc>,
) -> (Vec<DirectoryObject>, Vec<String>) {
    let stamp = Value::String(deleted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let added = soft_deleted
        .into_iter()
        .filter(|o| o.attributes.contains_key(anchor))
        .map(|mut o| {
            o.attributes.insert("deletedDateTime".into(), stamp.clone());
            o
        })
        .collect();
    (added, not_soft_deleted.to_vec())
}

/// The delta-link kind of a side's collection: the source's are `users` and `groups` (as
/// before the target had links), the target's `target.users` and `target.groups`.
fn link_kind(side: Side, kind: &str) -> String {
    match side {
        Side::Source => kind.to_string(),
        Side::Target => format!("target.{kind}"),
    }
}

/// The four delta rounds of a cycle (users and groups of each side), fetched at once, by
/// delta-link kind, with the link each started from.
#[derive(Debug, Default)]
pub(crate) struct Prefetched(HashMap<String, (String, DeltaRound)>);

/// When every collection has a kept delta link (a watched job's cycles), sends the four delta
/// rounds at once, both tenants and both collections, instead of one after the other: a
/// quiet cycle then waits for one round trip, not four. Without a link somewhere (a first or
/// full read: large rounds, read one at a time to bound memory) nothing is fetched here.
pub(crate) async fn prefetch(
    source: &GraphClient,
    target: &GraphClient,
    state: &StateStore,
    selection: &Selection,
) -> Result<Prefetched, SyncError> {
    let mut reads = Vec::with_capacity(4);
    for (client, side) in [(source, Side::Source), (target, Side::Target)] {
        for ((kind, resource), select) in COLLECTIONS.into_iter().zip(selection.of(side)) {
            let link_kind = link_kind(side, kind);
            let Some(link) = state.delta_link(&link_kind)? else {
                return Ok(Prefetched::default());
            };
            reads.push((client, resource, select, link_kind, link));
        }
    }
    let rounds = futures_util::future::try_join_all(reads.iter().map(
        |(client, resource, select, _, link)| async move {
            let since = DeltaLink(link.clone());
            delta_or_full(client, *resource, &refs(select), Some(&since)).await
        },
    ))
    .await?;
    Ok(Prefetched(
        reads
            .into_iter()
            .zip(rounds)
            .map(|((_, _, _, link_kind, link), round)| (link_kind, (link, round)))
            .collect(),
    ))
}

/// Reads the source: a delta round from the kept link (fetched by [`prefetch`] or here)
/// applied to the cached objects, or a full round. The cache and the new links are saved
/// before returning.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn source(
    client: &GraphClient,
    state: &mut StateStore,
    memo: &mut Memo,
    prefetched: &mut Prefetched,
    selection: &Selection,
    tenant_id: &str,
    full: bool,
    now: DateTime<Utc>,
) -> Result<(Snapshot, SourceRead, ChangedIds), SyncError> {
    let (snapshot, read, mut reads) = read_side(
        client,
        state,
        memo,
        prefetched,
        Side::Source,
        selection,
        tenant_id,
        full,
        now,
    )
    .await?;
    Ok((snapshot, read, changed_ids(&mut reads)))
}

/// Reads one side's users and groups ([`read_kind`] each) into a snapshot of that side, with
/// how they were read and, per collection (users, then groups), what the round reported beside
/// the objects (which moved into the snapshot).
#[allow(clippy::too_many_arguments)]
async fn read_side(
    client: &GraphClient,
    state: &mut StateStore,
    memo: &mut Memo,
    prefetched: &mut Prefetched,
    side: Side,
    selection: &Selection,
    tenant_id: &str,
    full: bool,
    now: DateTime<Utc>,
) -> Result<(Snapshot, SideRead, [KindRead; 2]), SyncError> {
    let mut snapshot = Snapshot {
        tenant_id: tenant_id.to_string(),
        ..Snapshot::default()
    };
    let mut read = SideRead {
        unchanged: true,
        ..SideRead::default()
    };
    let mut reads = Vec::with_capacity(2);
    for ((kind, resource), select) in COLLECTIONS.into_iter().zip(selection.of(side)) {
        let mut r = read_kind(
            client, state, memo, prefetched, side, kind, resource, select, full, now,
        )
        .await?;
        read.full |= r.full;
        read.changed += r.changed;
        // Read from this engine's memory with an empty round.
        read.unchanged &= r.ids.as_ref().is_some_and(Vec::is_empty);
        let objects = std::mem::take(&mut r.objects);
        match resource {
            DeltaResource::Users => snapshot.users = objects,
            DeltaResource::Groups => snapshot.groups = objects,
        }
        reads.push(r);
    }
    let reads: [KindRead; 2] = reads
        .try_into()
        .unwrap_or_else(|_| unreachable!("two collections read"));
    Ok((snapshot, read, reads))
}

/// Applies one delta round's objects to the cached ones (by id; removed objects go away,
/// properties are merged, `members@delta` adds and removes members). The result is sorted by
/// id. A round much smaller than the cache (a quiet cycle's) is applied in place.
pub(crate) fn apply_changes(
    cached: Vec<DirectoryObject>,
    changes: &[DeltaObject],
) -> Vec<DirectoryObject> {
    let sorted = cached.windows(2).all(|w| w[0].id < w[1].id);
    if sorted && changes.len().saturating_mul(16) <= cached.len() {
        apply_in_place(cached, changes)
    } else {
        apply_by_map(cached, changes)
    }
}

/// [`apply_changes`] on a cache sorted by id, object by object (binary search, insert).
pub(crate) fn apply_in_place(
    cached: Vec<DirectoryObject>,
    changes: &[DeltaObject],
) -> Vec<DirectoryObject> {
    {
        let mut objects = cached;
        for change in changes {
            match objects.binary_search_by(|o| o.id.as_str().cmp(&change.id)) {
                Ok(i) if change.removed.is_some() => {
                    objects.remove(i);
                }
                Err(_) if change.removed.is_some() => {}
                Ok(i) => merge_change(&mut objects[i], change),
                Err(i) => {
                    let mut object = DirectoryObject::new(&change.id);
                    merge_change(&mut object, change);
                    objects.insert(i, object);
                }
            }
        }
        objects
    }
}

/// [`apply_changes`] through a map by id, for large rounds or an unsorted cache.
pub(crate) fn apply_by_map(
    cached: Vec<DirectoryObject>,
    changes: &[DeltaObject],
) -> Vec<DirectoryObject> {
    let mut by_id: BTreeMap<String, DirectoryObject> =
        cached.into_iter().map(|o| (o.id.clone(), o)).collect();
    for change in changes {
        if change.removed.is_some() {
            by_id.remove(&change.id);
            continue;
        }
        let object = by_id
            .entry(change.id.clone())
            .or_insert_with(|| DirectoryObject::new(&change.id));
        merge_change(object, change);
    }
    by_id.into_values().collect()
}

/// Merges one present object's changes: properties (`null` clears one) and members.
fn merge_change(object: &mut DirectoryObject, change: &DeltaObject) {
    for (k, v) in &change.properties {
        if k == "members" {
            continue;
        }
        if v.is_null() {
            object.attributes.remove(k);
        } else {
            object.attributes.insert(k.clone(), Value::from_json(v));
        }
    }
    if !change.members_added.is_empty() || !change.members_removed.is_empty() {
        let mut members: Vec<String> = object.member_ids().map(str::to_string).collect();
        let removed: BTreeSet<&str> = change
            .members_removed
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        members.retain(|m| !removed.contains(m.as_str()));
        let mut present: BTreeSet<String> = members.iter().cloned().collect();
        for m in &change.members_added {
            if present.insert(m.id.clone()) {
                members.push(m.id.clone());
            }
        }
        object.attributes.insert(
            "members".into(),
            Value::Multi(members.into_iter().map(Value::String).collect()),
        );
    }
}

/// The cache kinds of the target's soft-deleted objects that carry an anchor, as far as this
/// job knows them: the deleted items of the last full read, and what target delta rounds
/// reported soft-deleted since.
const DELETED_KINDS: [&str; 2] = ["deleted_users", "deleted_groups"];

/// Reads the target: its users and its groups with their direct members, by delta from the kept
/// links (or in full), and its soft-deleted users and groups only when a plan can need them.
///
/// Deleted items matter to the planner only for a source object with no live target object
/// carrying its anchor: it restores the deleted object that does. So they are read when the
/// target was read in full, or when a deleted object this job knows of (from the last full
/// read or from `@removed` in a target delta round since) carries the anchor of a source object
/// that has no live anchored target object and is in scope (`in_scope`). Otherwise the snapshot's deleted lists are empty,
/// which plans the same (`incremental_and_full_observation_plan_the_same` in the tests).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn target(
    client: &GraphClient,
    state: &mut StateStore,
    memo: &mut Memo,
    prefetched: &mut Prefetched,
    selection: &Selection,
    tenant_id: &str,
    full: bool,
    now: DateTime<Utc>,
    source: &Snapshot,
    anchor: &str,
    in_scope: &dyn Fn(&Snapshot) -> Option<IdSet<String>>,
) -> Result<(Snapshot, SideRead, ChangedIds), SyncError> {
    let (mut snapshot, mut read, mut reads) = read_side(
        client,
        state,
        memo,
        prefetched,
        Side::Target,
        selection,
        tenant_id,
        full,
        now,
    )
    .await?;
    let ids = changed_ids(&mut reads);
    let [users, groups] = reads;
    // A full read reads the deleted items, which become what the job knows of them; a delta
    // round keeps the known deleted objects current with what it reported, and reads the
    // deleted items only when a restore may need them.
    let needed = read.full || {
        let unknown_soft_deleted = users.unknown_soft_deleted || groups.unknown_soft_deleted;
        let mut soft_deleted = [users.soft_deleted, groups.soft_deleted];
        let not_soft_deleted = [users.not_soft_deleted, groups.not_soft_deleted];
        let mut known: Vec<DirectoryObject> = Vec::new();
        for (i, kind) in DELETED_KINDS.iter().enumerate() {
            let (added, gone) = known_deleted_changes(
                std::mem::take(&mut soft_deleted[i]),
                &not_soft_deleted[i],
                anchor,
                now,
            );
            if !added.is_empty() || !gone.is_empty() {
                let added: Vec<&DirectoryObject> = added.iter().collect();
                let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
                state.write_cache(Side::Target, kind, &added, &gone, false, None, now)?;
            }
            known.extend(state.cached(Side::Target, kind)?);
        }
        // An object soft-deleted before the cache ever held it (created since) has an anchor
        // the job cannot know without reading the deleted items.
        unknown_soft_deleted || deleted_items_needed(source, &snapshot, &known, anchor, in_scope)
    };
    if needed {
        read_deleted_items(
            client,
            state,
            selection,
            anchor,
            now,
            &mut snapshot,
            &mut read,
        )
        .await?;
    }
    Ok((snapshot, read, ids))
}

/// Reads the target's deleted items into `snapshot`; the anchored ones replace what the job
/// knew of deleted objects.
async fn read_deleted_items(
    client: &GraphClient,
    state: &mut StateStore,
    selection: &Selection,
    anchor: &str,
    now: DateTime<Utc>,
    snapshot: &mut Snapshot,
    read: &mut SideRead,
) -> Result<(), SyncError> {
    let (users, groups) = deleted_items(client, selection).await?;
    read.deleted_items_read = true;
    read.unchanged = false;
    for (kind, list) in DELETED_KINDS.iter().zip([&users, &groups]) {
        let anchored: Vec<&DirectoryObject> = list
            .iter()
            .filter(|o| o.attributes.contains_key(anchor))
            .collect();
        state.write_cache(Side::Target, kind, &anchored, &[], true, None, now)?;
    }
    snapshot.deleted_users = users;
    snapshot.deleted_groups = groups;
    Ok(())
}

/// The source ids whose anchor a known deleted object carries while no live target object
/// does: the source objects for which the planner would restore a deleted object, if they are
/// in scope.
pub(crate) fn restore_candidates<'s>(
    source: &'s Snapshot,
    target: &Snapshot,
    known_deleted: &[DirectoryObject],
    anchor: &str,
) -> Vec<&'s str> {
    if known_deleted.is_empty() {
        return Vec::new();
    }
    let tenant = source.tenant_id.as_str();
    let live: IdSet<&str> = target
        .users
        .iter()
        .chain(&target.groups)
        .filter_map(|o| anchor_source_id(o, anchor, tenant))
        .collect();
    let deleted: IdSet<&str> = known_deleted
        .iter()
        .filter_map(|o| anchor_source_id(o, anchor, tenant))
        .filter(|sid| !live.contains(sid))
        .collect();
    source
        .users
        .iter()
        .chain(&source.groups)
        .map(|o| o.id.as_str())
        .filter(|id| deleted.contains(id))
        .collect()
}

/// Whether the deleted items must be read: a restore candidate is in scope (`in_scope` says
/// which source objects are; when it fails, they are read).
pub(crate) fn deleted_items_needed(
    source: &Snapshot,
    target: &Snapshot,
    known_deleted: &[DirectoryObject],
    anchor: &str,
    in_scope: &dyn Fn(&Snapshot) -> Option<IdSet<String>>,
) -> bool {
    let candidates = restore_candidates(source, target, known_deleted, anchor);
    if candidates.is_empty() {
        return false;
    }
    match in_scope(source) {
        Some(scoped) => candidates.iter().any(|id| scoped.contains(*id)),
        None => true,
    }
}

/// The target's soft-deleted users and groups (`/directory/deletedItems`), with what the
/// planner reads of them.
async fn deleted_items(
    client: &GraphClient,
    selection: &Selection,
) -> Result<(Vec<DirectoryObject>, Vec<DirectoryObject>), SyncError> {
    let deleted_select = |fields: &[String]| {
        let mut f: Vec<&str> = refs(fields);
        f.push("deletedDateTime");
        f.push("id");
        f.sort_unstable();
        f.dedup();
        f.join(",")
    };
    let users = list_all(
        client,
        GraphRequest::get(format!(
            "/directory/deletedItems/microsoft.graph.user?$select={}",
            deleted_select(&selection.target_users)
        )),
    )
    .await?;
    let groups = list_all(
        client,
        GraphRequest::get(format!(
            "/directory/deletedItems/microsoft.graph.group?$select={}",
            deleted_select(&selection.target_groups)
        )),
    )
    .await?;
    Ok((
        users.iter().filter_map(object_from_json).collect(),
        groups.iter().filter_map(object_from_json).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_cache_takes_back_only_what_this_cycles_delta_rounds_read() {
        let ids = |objects: Option<Vec<DirectoryObject>>| {
            objects.map(|o| o.into_iter().map(|o| o.id).collect::<Vec<_>>())
        };
        let mut memo = Memo::default();
        // A delta round of the source's users and of the target's groups; the other two
        // collections were read in full (nothing pending for them).
        memo.expect("users", "L1");
        memo.expect("target.groups", "T1");
        let source = Snapshot {
            users: vec![DirectoryObject::new("u1")],
            groups: vec![DirectoryObject::new("g1")],
            ..Snapshot::default()
        };
        let target = Snapshot {
            users: vec![DirectoryObject::new("tu")],
            groups: vec![DirectoryObject::new("tg")],
            ..Snapshot::default()
        };
        memo.keep(source.clone(), target.clone());
        assert_eq!(ids(memo.take("users", "L1")), Some(vec!["u1".to_string()]));
        assert_eq!(
            ids(memo.take("target.groups", "T1")),
            Some(vec!["tg".to_string()])
        );
        assert_eq!(
            ids(memo.take("groups", "G")),
            None,
            "read in full: not kept"
        );
        assert_eq!(ids(memo.take("target.users", "U")), None);
        // Kept under one link, asked under another (someone else moved the state): not used.
        memo.expect("users", "L2");
        memo.keep(source.clone(), target.clone());
        assert_eq!(ids(memo.take("users", "L3")), None);
        // A cycle that never handed its snapshots back leaves nothing to the next keep.
        memo.expect("users", "L4");
        memo.clear();
        memo.keep(source, target);
        assert_eq!(ids(memo.take("users", "L4")), None);
    }
    use crate::graph::delta::MemberRef;

    fn change(id: &str, props: Json) -> DeltaObject {
        DeltaObject {
            id: id.into(),
            removed: None,
            properties: props.as_object().cloned().unwrap_or_default(),
            members_added: vec![],
            members_removed: vec![],
        }
    }

    #[test]
    fn delta_changes_merge_into_the_cache() {
        let cached = vec![
            DirectoryObject::new("u1")
                .with("displayName", "Ada")
                .with("jobTitle", "Eng"),
            DirectoryObject::new("u2").with("displayName", "Alan"),
            DirectoryObject::new("g1")
                .with("members", Value::Multi(vec!["u1".into(), "u2".into()])),
        ];
        let mut g = change("g1", serde_json::json!({}));
        g.members_added = vec![MemberRef {
            id: "u3".into(),
            odata_type: None,
        }];
        g.members_removed = vec![MemberRef {
            id: "u1".into(),
            odata_type: None,
        }];
        let mut gone = change("u2", serde_json::json!({}));
        gone.removed = Some(RemovedReason::Changed);
        let changes = vec![
            change(
                "u1",
                serde_json::json!({"displayName": "Ada L.", "jobTitle": null}),
            ),
            gone,
            g,
            change("u3", serde_json::json!({"displayName": "Grace"})),
        ];
        let out = apply_changes(cached, &changes);
        let ids: Vec<&str> = out.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, vec!["g1", "u1", "u3"]);
        assert_eq!(out[1].text("displayName").as_deref(), Some("Ada L."));
        assert!(out[1].text("jobTitle").is_none());
        let members: Vec<&str> = out[0].member_ids().collect();
        assert_eq!(members, vec!["u2", "u3"]);
    }
}

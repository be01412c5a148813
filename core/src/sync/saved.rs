//! Saved plans: a plan made now, reviewed (or approved) by people, and applied later exactly as
//! it was shown.
//!
//! A saved plan carries, beside its operations, the version of every object those operations
//! touch as the plan saw it: each source object (a group with its members), each target object,
//! each membership edge it adds or removes, and the absence of the objects it creates. Applying
//! it reads both tenants again and refuses, naming the objects, when any of those versions moved:
//! the plan would no longer do what was approved.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{ObjectRef, Operation, Plan};
use crate::snapshot::{DirectoryObject, Snapshot};

use super::SyncError;

/// The saved plan format this version writes and reads.
pub(crate) const SAVED_PLAN_FORMAT: u32 = 1;

/// A plan with what it needs to be applied later: the job it belongs to, the schema it was
/// made under, and the versions of the objects it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// The saved plan format (`1`).
    pub format: u32,
    /// The tenantsync version that made it.
    pub tenantsync_version: String,
    /// The source tenant id.
    pub source_tenant: String,
    /// The target tenant id.
    pub target_tenant: String,
    /// When the tenants were read for it.
    pub created_at: DateTime<Utc>,
    /// SHA-256 of the synchronization schema it was made under.
    pub schema_sha256: String,
    /// The attribute that holds anchors in the target.
    pub anchor_attribute: String,
    /// The one source object it provisions (`sync --only`), when it is an on-demand plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// The plan itself.
    pub plan: Plan,
    /// The version of each object the operations touch, by key (`source/user/<id>`,
    /// `target/group/<id>`, `target/member/<group>/<member>`, `target/anchor/<anchor>`).
    pub objects: BTreeMap<String, ObjectVersion>,
}

/// An object as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectVersion {
    /// For people: the object's name, or the operation's.
    pub display: String,
    /// A SHA-256 of the object's attributes (for an edge: `present`; for an anchor: the id
    /// of the target object carrying it); `None` when the object did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One object that moved since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleObject {
    /// The object's key (see [`SavedPlan::objects`]).
    pub key: String,
    /// For people.
    pub display: String,
    /// What happened: `changed`, `appeared` or `disappeared`.
    pub change: String,
}

impl std::fmt::Display for StaleObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (side, rest) = self.key.split_once('/').unwrap_or(("", &self.key));
        let what = match rest.split('/').next().unwrap_or("") {
            "member" => "membership",
            "anchor" => "object anchored to",
            other => other,
        };
        let id = rest.split_once('/').map_or(rest, |(_, id)| id);
        write!(f, "{side} {what} {} ({id}) {}", self.display, self.change)
    }
}

impl SavedPlan {
    /// Reads a saved plan from its JSON, refusing other formats with what to do.
    pub fn from_json(text: &str) -> Result<SavedPlan, SyncError> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<u32>,
        }
        let head: Head = serde_json::from_str(text).map_err(|e| {
            SyncError::Invalid(format!(
                "this is not a saved plan ({e}): make one with `tenantsync sync --dry-run --save-plan FILE`"
            ))
        })?;
        match head.format {
            Some(SAVED_PLAN_FORMAT) => {}
            Some(other) => {
                return Err(SyncError::Invalid(format!(
                    "this saved plan has format {other}, and this tenantsync reads format {SAVED_PLAN_FORMAT}: make the plan again with this version"
                )));
            }
            None => {
                return Err(SyncError::Invalid(
                    "this is not a saved plan (it has no \"format\"): make one with `tenantsync sync --dry-run --save-plan FILE`".into(),
                ));
            }
        }
        serde_json::from_str(text).map_err(|e| {
            SyncError::Invalid(format!(
                "the saved plan is damaged ({e}): make it again with `tenantsync sync --dry-run --save-plan FILE`"
            ))
        })
    }

    /// The saved plan as pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("saved plans always serialize")
    }

    /// The objects whose version differs in `now` (the same operations' objects, read again).
    pub fn stale_objects(&self, now: &BTreeMap<String, ObjectVersion>) -> Vec<StaleObject> {
        let mut stale = Vec::new();
        for (key, then) in &self.objects {
            let current = now.get(key).and_then(|v| v.version.as_ref());
            let change = match (&then.version, current) {
                (a, b) if a.as_ref() == b => continue,
                (None, Some(_)) => "appeared",
                (Some(_), None) => "disappeared",
                _ => "changed",
            };
            stale.push(StaleObject {
                key: key.clone(),
                display: then.display.clone(),
                change: change.into(),
            });
        }
        stale
    }
}

/// The versions of every object `operations` touch, as `source` and `target` show them.
pub(crate) fn object_versions(
    operations: &[Operation],
    source: &Snapshot,
    target: &Snapshot,
    anchor_attribute: &str,
) -> BTreeMap<String, ObjectVersion> {
    let index = Index::new(source, target, anchor_attribute);
    let mut out = BTreeMap::new();
    let mut put = |key: String, display: &str, version: Option<String>| {
        out.entry(key).or_insert_with(|| ObjectVersion {
            display: display.to_string(),
            version,
        });
    };
    for op in operations {
        let display = op.display();
        if let Some(id) = op.source_id() {
            let (key, version) = index.source(id);
            put(key, display, version);
        }
        if let Some(id) = op.target_id() {
            let (key, version) = index.target(id);
            put(key, display, version);
        }
        match op {
            Operation::CreateUser { source_id, .. } | Operation::CreateGroup { source_id, .. } => {
                let anchor = format!("{}/{source_id}", source.tenant_id).to_ascii_lowercase();
                let carrier = index.anchored.get(&anchor).cloned();
                put(format!("target/anchor/{anchor}"), display, carrier);
            }
            Operation::AddMember { group, member, .. } => {
                for r in [group, member] {
                    match r {
                        ObjectRef::CreatedFrom(s) => {
                            let (key, version) = index.source(s);
                            put(key, display, version);
                        }
                        ObjectRef::TargetId(t) => {
                            if let Some(s) = index.source_of_target(t) {
                                let (key, version) = index.source(&s);
                                put(key, display, version);
                            }
                        }
                    }
                }
                if let (ObjectRef::TargetId(g), ObjectRef::TargetId(m)) = (group, member) {
                    put(index.edge_key(g, m), display, index.edge(g, m));
                }
            }
            Operation::RemoveMember {
                group_id,
                member_id,
                ..
            } => {
                if let Some(s) = index.source_of_target(group_id) {
                    let (key, version) = index.source(&s);
                    put(key, display, version);
                }
                put(
                    index.edge_key(group_id, member_id),
                    display,
                    index.edge(group_id, member_id),
                );
            }
            _ => {}
        }
    }
    out
}

/// Lookups over both snapshots, by lower-cased id.
struct Index<'a> {
    source_users: BTreeMap<String, &'a DirectoryObject>,
    source_groups: BTreeMap<String, &'a DirectoryObject>,
    /// Target objects with their kind and whether they are soft-deleted.
    target: BTreeMap<String, (&'static str, bool, &'a DirectoryObject)>,
    /// Anchor value (`<tenant>/<source id>`, lower case) to the target id carrying it.
    anchored: BTreeMap<String, String>,
    /// The source tenant, lower case, for reading anchors back.
    source_tenant: String,
    anchor_attribute: &'a str,
}

impl<'a> Index<'a> {
    fn new(source: &'a Snapshot, target: &'a Snapshot, anchor_attribute: &'a str) -> Self {
        let by_id = |list: &'a [DirectoryObject]| {
            list.iter()
                .map(|o| (o.id.to_ascii_lowercase(), o))
                .collect::<BTreeMap<_, _>>()
        };
        let mut t = BTreeMap::new();
        for (kind, deleted, list) in [
            ("user", false, &target.users),
            ("group", false, &target.groups),
            ("user", true, &target.deleted_users),
            ("group", true, &target.deleted_groups),
        ] {
            for o in list {
                t.insert(o.id.to_ascii_lowercase(), (kind, deleted, o));
            }
        }
        let anchored = t
            .values()
            .filter_map(|(_, _, o)| {
                o.text(anchor_attribute)
                    .filter(|a| !a.is_empty())
                    .map(|a| (a.to_ascii_lowercase(), o.id.to_ascii_lowercase()))
            })
            .collect();
        Index {
            source_users: by_id(&source.users),
            source_groups: by_id(&source.groups),
            target: t,
            anchored,
            source_tenant: source.tenant_id.to_ascii_lowercase(),
            anchor_attribute,
        }
    }

    /// A source object's key and version (a group's members are part of it).
    fn source(&self, id: &str) -> (String, Option<String>) {
        let id = id.to_ascii_lowercase();
        if let Some(o) = self.source_users.get(&id) {
            (format!("source/user/{id}"), Some(version(o, true)))
        } else if let Some(o) = self.source_groups.get(&id) {
            (format!("source/group/{id}"), Some(version(o, true)))
        } else {
            (format!("source/object/{id}"), None)
        }
    }

    /// A target object's key and version (without members: those are edges of their own).
    fn target(&self, id: &str) -> (String, Option<String>) {
        let id = id.to_ascii_lowercase();
        match self.target.get(&id) {
            Some((kind, deleted, o)) => {
                let v = version(o, false);
                let v = if *deleted { format!("deleted:{v}") } else { v };
                (format!("target/{kind}/{id}"), Some(v))
            }
            None => (format!("target/object/{id}"), None),
        }
    }

    fn edge_key(&self, group: &str, member: &str) -> String {
        format!(
            "target/member/{}/{}",
            group.to_ascii_lowercase(),
            member.to_ascii_lowercase()
        )
    }

    /// `present` when `member` is a member of the target group `group`.
    fn edge(&self, group: &str, member: &str) -> Option<String> {
        let (_, _, g) = self.target.get(&group.to_ascii_lowercase())?;
        g.member_ids()
            .any(|m| m.eq_ignore_ascii_case(member))
            .then(|| "present".to_string())
    }

    /// The source object a target object is anchored to (this job's anchors only).
    fn source_of_target(&self, target_id: &str) -> Option<String> {
        let (_, _, o) = self.target.get(&target_id.to_ascii_lowercase())?;
        let anchor = o.text(self.anchor_attribute)?.to_ascii_lowercase();
        let (tenant, id) = anchor.split_once('/')?;
        (tenant == self.source_tenant).then(|| id.to_string())
    }
}

/// A SHA-256 over the object's attributes in a canonical form: members sorted (or left out).
fn version(o: &DirectoryObject, with_members: bool) -> String {
    let mut attributes = o.attributes.clone();
    attributes.remove("members");
    let mut canonical =
        serde_json::json!({ "id": o.id.to_ascii_lowercase(), "attributes": attributes });
    if with_members {
        let mut members: Vec<String> = o.member_ids().map(str::to_ascii_lowercase).collect();
        members.sort();
        members.dedup();
        canonical["members"] = serde_json::json!(members);
    }
    crate::plugin::hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

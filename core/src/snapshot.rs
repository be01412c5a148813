//! Tenant snapshots: a tenant's users, groups and memberships as one JSON document, so the
//! planner can run offline (`tenantsync plan --source S.json --target T.json`).
//!
//! The format (documented in `docs/planning.md`):
//!
//! ```json
//! {
//!   "tenantId": "11111111-1111-1111-1111-111111111111",
//!   "defaultDomain": "contoso.onmicrosoft.com",
//!   "users": [ { "id": "…", "displayName": "Ada", "mail": "ada@contoso.com", "accountEnabled": true } ],
//!   "groups": [ { "id": "…", "displayName": "Eng", "securityEnabled": true, "mailEnabled": false,
//!                 "groupTypes": [], "members": ["<user or group id>"] } ],
//!   "deletedUsers": [ { "id": "…", "deletedDateTime": "2026-11-01T10:00:00Z" } ],
//!   "deletedGroups": []
//! }
//! ```
//!
//! Every property of an object other than `id` is an attribute, named as in Microsoft Graph; a
//! group's `members` holds the ids of its direct members (users or groups).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::value::Value;

/// A fast hasher for directory object ids (Fx-style, eight bytes at a time). Ids come from the
/// directory, so there is no adversary choosing collisions, and planning hashes millions of them.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().expect("eight bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map keyed by object ids, with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
/// A hash set of object ids, with [`IdHasher`].
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

static NULL: Value = Value::Null;

/// A directory object: its id and its attributes by Graph property name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DirectoryObject {
    /// The object id (a GUID in Entra).
    pub id: String,
    /// Every other property, by name.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, Value>,
}

impl DirectoryObject {
    /// A new object with no attributes.
    pub fn new(id: impl Into<String>) -> Self {
        DirectoryObject {
            id: id.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// Sets an attribute, returning the object (builder style).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.to_string(), value.into());
        self
    }

    /// An attribute's value, `Value::Null` when absent.
    pub fn get(&self, name: &str) -> Value {
        if name == "id" || name == "objectId" {
            return Value::String(self.id.clone());
        }
        self.attributes.get(name).cloned().unwrap_or(Value::Null)
    }

    /// An attribute's value by reference, `Value::Null` when absent (not for `id`).
    pub fn get_ref(&self, name: &str) -> &Value {
        self.attributes.get(name).unwrap_or(&NULL)
    }

    /// A group's direct member ids, without copying them.
    pub fn member_ids(&self) -> impl Iterator<Item = &str> {
        let items: &[Value] = match self.attributes.get("members") {
            Some(Value::Multi(items)) => items,
            Some(single) => std::slice::from_ref(single),
            None => &[],
        };
        items.iter().filter_map(|v| match v {
            Value::String(s) | Value::Reference(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// An attribute as text, when present and not empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.attributes
            .get(name)
            .and_then(Value::as_text)
            .filter(|s| !s.is_empty())
    }

    /// A boolean attribute: `Some(true)` for `true` or `"True"`, `None` when absent.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.attributes.get(name)?.as_bool()
    }

    /// The display name, or the id when there is none: what reports show.
    pub fn label(&self) -> String {
        self.text("displayName")
            .or_else(|| self.text("userPrincipalName"))
            .unwrap_or_else(|| self.id.clone())
    }

    /// When the object was deleted (`deletedDateTime`), for deleted items.
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        match self.attributes.get("deletedDateTime")? {
            Value::DateTime(d) => Some(*d),
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
            _ => None,
        }
    }

    /// True for an external identity in its tenant: an invited (B2B) user, whether its
    /// `userType` is Guest or Member. tenantsync only ever creates and matches such users.
    pub fn is_external_user(&self) -> bool {
        self.text("userPrincipalName")
            .is_some_and(|u| u.to_ascii_uppercase().contains("#EXT#"))
            || self
                .text("creationType")
                .is_some_and(|c| c.eq_ignore_ascii_case("Invitation"))
            || self.text("externalUserState").is_some()
            || self
                .text("userType")
                .is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
    }

    /// What kind of group this is, from `securityEnabled`, `mailEnabled` and `groupTypes`.
    pub fn group_kind(&self) -> GroupKind {
        let unified = self
            .get("groupTypes")
            .as_list()
            .iter()
            .filter_map(Value::as_text)
            .any(|t| t.eq_ignore_ascii_case("Unified"));
        let security = self.flag("securityEnabled").unwrap_or(false);
        let mail = self.flag("mailEnabled").unwrap_or(false);
        match (unified, security, mail) {
            (true, _, _) => GroupKind::Microsoft365,
            (false, true, false) => GroupKind::Security,
            (false, true, true) => GroupKind::MailEnabledSecurity,
            (false, false, _) => GroupKind::Distribution,
        }
    }
}

/// The kinds of groups Entra has; only security groups are synchronized as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GroupKind {
    /// `securityEnabled` and not mail-enabled: synchronized.
    Security,
    /// Mail-enabled security group: reported and skipped (Graph cannot create one).
    MailEnabledSecurity,
    /// Microsoft 365 group (`groupTypes` contains `Unified`): skipped, or synced as a security
    /// group when the job says so.
    Microsoft365,
    /// Distribution list (mail-enabled, not security): reported and skipped.
    Distribution,
}

impl GroupKind {
    /// A phrase for reports.
    pub fn describe(self) -> &'static str {
        match self {
            GroupKind::Security => "security group",
            GroupKind::MailEnabledSecurity => "mail-enabled security group",
            GroupKind::Microsoft365 => "Microsoft 365 group",
            GroupKind::Distribution => "distribution group",
        }
    }
}

/// One tenant's users, groups, memberships and deleted items.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The tenant id.
    #[serde(default)]
    pub tenant_id: String,
    /// The tenant's default domain (for B2B user principal names), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_domain: Option<String>,
    /// Users.
    #[serde(default)]
    pub users: Vec<DirectoryObject>,
    /// Groups, with their direct members in `members`.
    #[serde(default)]
    pub groups: Vec<DirectoryObject>,
    /// Soft-deleted users (Graph's `directory/deletedItems`), restorable for 30 days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_users: Vec<DirectoryObject>,
    /// Soft-deleted groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted_groups: Vec<DirectoryObject>,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read snapshot {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The JSON is malformed or not a snapshot.
    #[error(
        "snapshot {path} is not valid: {source} (expected an object with \"users\" and \"groups\" arrays; see docs/planning.md)"
    )]
    Json {
        /// The file.
        path: String,
        /// The cause, with line and column.
        source: serde_json::Error,
    },
    /// Two objects share an id.
    #[error("snapshot {path} has two objects with id {id}: ids must be unique")]
    DuplicateId {
        /// The file.
        path: String,
        /// The repeated id.
        id: String,
    },
}

impl Snapshot {
    /// Parses a snapshot from JSON text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Snapshot, SnapshotError> {
        let snapshot: Snapshot =
            serde_json::from_str(text).map_err(|source| SnapshotError::Json {
                path: origin.to_string(),
                source,
            })?;
        snapshot.check_unique_ids(origin)?;
        Ok(snapshot)
    }

    /// Reads a snapshot file.
    pub fn load(path: &Path) -> Result<Snapshot, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// The snapshot as pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("snapshots always serialize")
    }

    fn check_unique_ids(&self, origin: &str) -> Result<(), SnapshotError> {
        let mut seen = IdSet::default();
        for o in self.users.iter().chain(&self.groups) {
            if !seen.insert(o.id.as_str()) {
                return Err(SnapshotError::DuplicateId {
                    path: origin.to_string(),
                    id: o.id.clone(),
                });
            }
        }
        Ok(())
    }

    /// An index from object id to user or group, for lookups by id.
    pub fn index(&self) -> SnapshotIndex<'_> {
        let mut users = IdMap::with_capacity_and_hasher(self.users.len(), Default::default());
        for u in &self.users {
            users.insert(u.id.as_str(), u);
        }
        let mut groups = IdMap::with_capacity_and_hasher(self.groups.len(), Default::default());
        for g in &self.groups {
            groups.insert(g.id.as_str(), g);
        }
        SnapshotIndex { users, groups }
    }
}

/// Lookups by id into a [`Snapshot`].
#[derive(Debug)]
pub struct SnapshotIndex<'a> {
    /// Users by id.
    pub users: IdMap<&'a str, &'a DirectoryObject>,
    /// Groups by id.
    pub groups: IdMap<&'a str, &'a DirectoryObject>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_and_members() {
        let s = Snapshot::from_json(
            r#"{"tenantId":"t","users":[{"id":"u1","displayName":"Ada","accountEnabled":true}],
               "groups":[{"id":"g1","displayName":"Eng","securityEnabled":true,"mailEnabled":false,"members":["u1"]}]}"#,
            "test",
        )
        .unwrap();
        assert_eq!(s.users[0].label(), "Ada");
        assert_eq!(s.users[0].flag("accountEnabled"), Some(true));
        assert_eq!(s.groups[0].member_ids().collect::<Vec<_>>(), vec!["u1"]);
        assert_eq!(s.groups[0].group_kind(), GroupKind::Security);
        let back = Snapshot::from_json(&s.to_json_pretty(), "again").unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn group_kinds() {
        let g = |sec: bool, mail: bool, types: Vec<Value>| {
            DirectoryObject::new("g")
                .with("securityEnabled", sec)
                .with("mailEnabled", mail)
                .with("groupTypes", Value::Multi(types))
                .group_kind()
        };
        assert_eq!(g(true, true, vec![]), GroupKind::MailEnabledSecurity);
        assert_eq!(
            g(false, true, vec!["Unified".into()]),
            GroupKind::Microsoft365
        );
        assert_eq!(g(false, true, vec![]), GroupKind::Distribution);
    }

    #[test]
    fn duplicate_ids_are_an_error_that_names_the_id() {
        let err = Snapshot::from_json(r#"{"users":[{"id":"x"}],"groups":[{"id":"x"}]}"#, "f.json")
            .unwrap_err();
        assert!(err.to_string().contains("two objects with id x"), "{err}");
    }

    #[test]
    fn malformed_json_names_the_file_and_position() {
        let err = Snapshot::from_json(r#"{"users": [}"#, "f.json").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("f.json") && msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn external_users() {
        assert!(
            DirectoryObject::new("a")
                .with(
                    "userPrincipalName",
                    "ada_contoso.com#EXT#@fabrikam.onmicrosoft.com"
                )
                .is_external_user()
        );
        assert!(
            !DirectoryObject::new("a")
                .with("userPrincipalName", "ada@fabrikam.com")
                .with("userType", "Member")
                .is_external_user()
        );
    }
}

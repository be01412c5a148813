//! The directory content of one tenant, its change log and mutations.

use crate::clock::Clock;
use crate::config::{AppRegistration, Knobs};
use crate::faults::ThrottleState;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A directory object as Graph shows it: a JSON object of its properties.
pub(crate) type Obj = serde_json::Map<String, Value>;

/// The kind of a directory object tracked by delta queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    /// A user.
    User,
    /// A group.
    Group,
}

impl Kind {
    /// Graph's `@odata.type` value.
    pub(crate) fn odata_type(self) -> &'static str {
        match self {
            Kind::User => "#microsoft.graph.user",
            Kind::Group => "#microsoft.graph.group",
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    /// Position in the log (strictly increasing).
    pub seq: u64,
    /// Kind of the changed object.
    pub kind: Kind,
    /// Id of the changed object (the group for membership changes).
    pub id: String,
    /// For membership changes: the member id and whether it was added.
    pub member: Option<(String, bool)>,
    /// For property updates: the properties changed (empty for other changes).
    pub props: Vec<String>,
}

/// An object in the deleted-items container.
#[derive(Debug, Clone)]
pub(crate) struct Deleted {
    pub kind: Kind,
    pub obj: Obj,
    /// Groups the object was a direct member of (restored with it).
    pub member_of: Vec<String>,
    /// Direct members (for groups).
    pub members: BTreeSet<String>,
}

/// Errors of directory mutations, made from the admin API or from Graph requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No live object has this id.
    #[error(
        "resource '{0}' does not exist or one of its queried reference-property objects are not present"
    )]
    NotFound(String),
    /// The change conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The tenant is unknown.
    #[error("tenant '{0}' is not served by this emulator; use one of the configured tenant ids")]
    UnknownTenant(String),
}

/// A snapshot of a tenant's directory, for tests and the admin interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantState {
    /// Tenant id.
    pub tenant_id: String,
    /// Live users with all stored properties.
    pub users: Vec<Value>,
    /// Live groups with all stored properties.
    pub groups: Vec<Value>,
    /// Direct members of each group (group id → member ids).
    pub memberships: BTreeMap<String, Vec<String>>,
    /// Soft-deleted objects.
    pub deleted_items: Vec<DeletedItemState>,
}

/// A soft-deleted object in a [`TenantState`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletedItemState {
    /// `user` or `group`.
    pub kind: String,
    /// The object with its `deletedDateTime`.
    pub object: Value,
}

/// Properties Graph does not let clients set on users.
pub(crate) const USER_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "creationType",
    "deletedDateTime",
    "externalUserStateChangeDateTime",
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "onPremisesSecurityIdentifier",
    "securityIdentifier",
    "signInSessionsValidFromDateTime",
    "proxyAddresses",
    "externalUserState",
    "mail@odata.type",
];

/// Properties Graph does not let clients set on groups.
pub(crate) const GROUP_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "mail",
    "proxyAddresses",
    "securityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesLastSyncDateTime",
    "renewedDateTime",
];

/// The security identifier Entra derives from an object id (`S-1-12-1-` and the GUID's
/// bytes as four little-endian 32-bit numbers).
pub(crate) fn security_identifier(id: &str) -> Value {
    match uuid::Uuid::parse_str(id) {
        Ok(u) => {
            let b = u.to_bytes_le();
            let part = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            json!(format!(
                "S-1-12-1-{}-{}-{}-{}",
                part(0),
                part(4),
                part(8),
                part(12)
            ))
        }
        Err(_) => Value::Null,
    }
}

/// `clock`'s time in Graph's format.
pub(crate) fn now_string(clock: &Clock) -> String {
    clock.stamp()
}

/// Live users by lower-cased `userPrincipalName` and by lower-cased `mail` and `otherMails`,
/// so that lookups by either (each invitation makes several) do not scan every user.
///
/// Graph compares these values without regard to ASCII case, as `eq_ignore_ascii_case` does;
/// lower-casing the ASCII letters of both sides gives the same matches. A key may name
/// several users (mail addresses are not unique, and a fixture may repeat a
/// userPrincipalName); the ids are kept sorted so that the first is the one a scan in id
/// order would find.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct UserIndex {
    upn: HashMap<String, BTreeSet<String>>,
    mail: HashMap<String, BTreeSet<String>>,
}

impl UserIndex {
    /// Adds the keys of a user.
    fn add(&mut self, id: &str, user: &Obj) {
        if let Some(upn) = user_upn_key(user) {
            self.upn.entry(upn).or_default().insert(id.to_string());
        }
        for m in user_mail_keys(user) {
            self.mail.entry(m).or_default().insert(id.to_string());
        }
    }

    /// Removes the keys of a user, as they were when it was added.
    fn remove(&mut self, id: &str, user: &Obj) {
        fn drop_id(map: &mut HashMap<String, BTreeSet<String>>, key: String, id: &str) {
            if let Some(ids) = map.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    map.remove(&key);
                }
            }
        }
        if let Some(upn) = user_upn_key(user) {
            drop_id(&mut self.upn, upn, id);
        }
        for m in user_mail_keys(user) {
            drop_id(&mut self.mail, m, id);
        }
    }

    /// The index of a set of users, built from scratch.
    #[cfg(test)]
    fn of(users: &BTreeMap<String, Obj>) -> UserIndex {
        let mut index = UserIndex::default();
        for (id, u) in users {
            index.add(id, u);
        }
        index
    }
}

/// The index key of a user's `userPrincipalName`.
fn user_upn_key(user: &Obj) -> Option<String> {
    user.get("userPrincipalName")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// The index keys of a user's `mail` and `otherMails`.
fn user_mail_keys(user: &Obj) -> impl Iterator<Item = String> + '_ {
    let mail = user.get("mail").and_then(Value::as_str);
    let others = user
        .get("otherMails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str);
    mail.into_iter().chain(others).map(str::to_ascii_lowercase)
}

/// One tenant: directory, change log, policies and runtime state.
#[derive(Debug)]
pub(crate) struct Tenant {
    pub id: String,
    pub domain: String,
    pub display_name: String,
    pub apps: Vec<AppRegistration>,
    /// Live users by id; changed only through the methods below, which keep `user_index`
    /// in step.
    users: BTreeMap<String, Obj>,
    user_index: UserIndex,
    pub groups: BTreeMap<String, Obj>,
    pub members: BTreeMap<String, BTreeSet<String>>,
    pub deleted: BTreeMap<String, Deleted>,
    pub purged: HashSet<String>,
    pub born: HashMap<String, Instant>,
    pub changes: Vec<Change>,
    pub seq: u64,
    pub applications: BTreeMap<String, Obj>,
    pub extension_properties: Vec<Obj>,
    pub partners: BTreeMap<String, Value>,
    pub knobs: Knobs,
    pub counts: BTreeMap<String, u64>,
    pub throttle: HashMap<String, ThrottleState>,
    pub violations: u64,
    pub fault_rng: StdRng,
    /// Delta tokens issued before this unix time (milliseconds) are expired.
    pub delta_floor: i64,
    pub invitations: HashMap<String, String>,
    /// The emulator's clock: stamps, tokens, delta links and every window.
    pub clock: Clock,
    /// Service principals with synchronization jobs (see `synchronization.rs`).
    pub sync: crate::synchronization::Synchronization,
}

impl Tenant {
    /// An empty tenant on the system clock.
    #[cfg(test)]
    pub(crate) fn new(id: &str, domain: &str, apps: Vec<AppRegistration>, knobs: Knobs) -> Tenant {
        Self::new_at(id, domain, apps, knobs, Clock::system())
    }

    /// An empty tenant on `clock`.
    pub(crate) fn new_at(
        id: &str,
        domain: &str,
        apps: Vec<AppRegistration>,
        knobs: Knobs,
        clock: Clock,
    ) -> Tenant {
        let seed = knobs.faults.as_ref().map(|f| f.seed).unwrap_or(0);
        let mut t = Tenant {
            id: id.to_ascii_lowercase(),
            domain: domain.to_string(),
            display_name: domain.split('.').next().unwrap_or(domain).to_string(),
            apps,
            users: BTreeMap::new(),
            user_index: UserIndex::default(),
            groups: BTreeMap::new(),
            members: BTreeMap::new(),
            deleted: BTreeMap::new(),
            purged: HashSet::new(),
            born: HashMap::new(),
            changes: Vec::new(),
            seq: 0,
            applications: BTreeMap::new(),
            extension_properties: Vec::new(),
            partners: BTreeMap::new(),
            knobs,
            counts: BTreeMap::new(),
            throttle: HashMap::new(),
            violations: 0,
            fault_rng: StdRng::seed_from_u64(seed),
            delta_floor: i64::MIN,
            invitations: HashMap::new(),
            clock,
            sync: Default::default(),
        };
        let apps = t.apps.clone();
        for app in apps.iter().filter(|a| !a.managed_identity) {
            let object_id =
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, app.client_id.as_bytes());
            let mut o = Obj::new();
            o.insert("id".into(), json!(object_id.to_string()));
            o.insert("appId".into(), json!(app.client_id));
            o.insert(
                "displayName".into(),
                json!(
                    app.display_name
                        .clone()
                        .unwrap_or_else(|| format!("app {}", app.client_id))
                ),
            );
            o.insert("createdDateTime".into(), json!(now_string(&t.clock)));
            o.insert("signInAudience".into(), json!("AzureADMyOrg"));
            t.applications.insert(object_id.to_string(), o);
        }
        t
    }

    /// Sets the knobs, re-seeding the fault generator when its seed changed.
    pub(crate) fn set_knobs(&mut self, knobs: Knobs) {
        let old = self.knobs.faults.as_ref().map(|f| f.seed);
        let new = knobs.faults.as_ref().map(|f| f.seed);
        if old != new {
            self.fault_rng = StdRng::seed_from_u64(new.unwrap_or(0));
        }
        if knobs.throttling != self.knobs.throttling {
            self.throttle.clear();
        }
        if knobs.force_delta_expiry {
            self.delta_floor = self.clock.now().timestamp_millis() + 1;
        }
        self.knobs = knobs;
    }

    fn log(&mut self, kind: Kind, id: &str, member: Option<(String, bool)>) {
        self.log_props(kind, id, member, Vec::new());
    }

    fn log_props(
        &mut self,
        kind: Kind,
        id: &str,
        member: Option<(String, bool)>,
        props: Vec<String>,
    ) {
        self.seq += 1;
        self.changes.push(Change {
            seq: self.seq,
            kind,
            id: id.to_string(),
            member,
            props,
        });
    }

    /// Whether replication lag still hides the object.
    pub(crate) fn lagging(&self, id: &str) -> bool {
        let lag = self.knobs.replication_lag_ms;
        lag > 0
            && self.born.get(id).is_some_and(|t| {
                self.clock.instant().saturating_duration_since(*t) < Duration::from_millis(lag)
            })
    }

    /// Kind of a live object.
    pub(crate) fn kind_of(&self, id: &str) -> Option<Kind> {
        if self.users.contains_key(id) {
            Some(Kind::User)
        } else if self.groups.contains_key(id) {
            Some(Kind::Group)
        } else {
            None
        }
    }

    /// Live users by id.
    pub(crate) fn users(&self) -> &BTreeMap<String, Obj> {
        &self.users
    }

    /// Adds a live user and its index keys (replacing a user with the same id).
    fn put_user(&mut self, id: String, user: Obj) {
        if let Some(old) = self.users.get(&id) {
            self.user_index.remove(&id, old);
        }
        self.user_index.add(&id, &user);
        self.users.insert(id, user);
    }

    /// Removes a live user and its index keys.
    fn take_user(&mut self, id: &str) -> Option<Obj> {
        let user = self.users.remove(id)?;
        self.user_index.remove(id, &user);
        Some(user)
    }

    /// A live user or group with its kind.
    pub(crate) fn live(&self, id: &str) -> Option<(&Obj, Kind)> {
        match self.users.get(id) {
            Some(u) => Some((u, Kind::User)),
            None => self.groups.get(id).map(|g| (g, Kind::Group)),
        }
    }

    /// Finds a live user by id or userPrincipalName (case-insensitive).
    pub(crate) fn find_user(&self, key: &str) -> Option<&str> {
        let lower = key.to_ascii_lowercase();
        if let Some((id, _)) = self.users.get_key_value(&lower) {
            return Some(id.as_str());
        }
        self.user_index
            .upn
            .get(&lower)
            .and_then(|ids| ids.first())
            .map(String::as_str)
    }

    /// Finds a live user whose `mail` or one of whose `otherMails` is this address
    /// (case-insensitive); of several, the one with the lowest id.
    pub(crate) fn find_user_by_mail(&self, address: &str) -> Option<&str> {
        self.user_index
            .mail
            .get(&address.to_ascii_lowercase())
            .and_then(|ids| ids.first())
            .map(String::as_str)
    }

    /// Refuses a userPrincipalName that another live user (other than `except`) has.
    fn check_upn_unique(
        &self,
        value: Option<&Value>,
        except: Option<&str>,
    ) -> Result<(), AdminError> {
        let Some(v) = value.and_then(Value::as_str) else {
            return Ok(());
        };
        let clash = self
            .user_index
            .upn
            .get(&v.to_ascii_lowercase())
            .is_some_and(|ids| ids.iter().any(|id| Some(id.as_str()) != except));
        if clash {
            return Err(AdminError::Conflict(
                "Another object with the same value for property userPrincipalName already exists."
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// The id for a new object (its own, lower-cased, or a new one), refused when a live or
    /// deleted object has it.
    fn new_id(&self, obj: &Obj) -> Result<String, AdminError> {
        let id = chosen_id(obj);
        if self.users.contains_key(&id)
            || self.groups.contains_key(&id)
            || self.deleted.contains_key(&id)
        {
            return Err(AdminError::Conflict(
                "Another object with the same value for property id already exists.".into(),
            ));
        }
        Ok(id)
    }

    /// Creates a user; fills `id`, `createdDateTime` and Graph's defaults.
    pub(crate) fn create_user(&mut self, mut obj: Obj) -> Result<Obj, AdminError> {
        let id = self.new_id(&obj)?;
        if obj
            .get("userPrincipalName")
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(AdminError::Invalid(
                "Property userPrincipalName is required to create a user.".into(),
            ));
        }
        self.check_upn_unique(obj.get("userPrincipalName"), None)?;
        stamp(&mut obj, &id, &self.clock);
        user_defaults(&mut obj);
        if !obj.contains_key("displayName") {
            let upn = obj
                .get("userPrincipalName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            obj.insert("displayName".into(), json!(upn));
        }
        self.put_user(id.clone(), obj.clone());
        self.born.insert(id.clone(), self.clock.instant());
        self.log(Kind::User, &id, None);
        Ok(obj)
    }

    /// Merges properties into a live user (null clears a property).
    /// With `graph` set, properties Graph does not let clients write are refused; the admin
    /// interface may set them (except `id`).
    pub(crate) fn patch_user(
        &mut self,
        id: &str,
        patch: &Obj,
        graph: bool,
    ) -> Result<(), AdminError> {
        if !self.users.contains_key(id) {
            return Err(AdminError::NotFound(id.to_string()));
        }
        check_patchable(patch, graph.then_some(USER_READ_ONLY))?;
        self.check_upn_unique(patch.get("userPrincipalName"), Some(id))?;
        let mut user = self
            .take_user(id)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        merge(&mut user, patch);
        self.put_user(id.to_string(), user);
        self.log_props(Kind::User, id, None, patch.keys().cloned().collect());
        Ok(())
    }

    /// Creates a group; fills `id`, `createdDateTime` and defaults.
    pub(crate) fn create_group(&mut self, mut obj: Obj) -> Result<Obj, AdminError> {
        let id = self.new_id(&obj)?;
        stamp(&mut obj, &id, &self.clock);
        group_defaults(&mut obj);
        obj.entry("description").or_insert(Value::Null);
        obj.entry("visibility").or_insert(Value::Null);
        obj.entry("proxyAddresses").or_insert(json!([]));
        obj.insert("securityIdentifier".into(), security_identifier(&id));
        for list in [
            "resourceBehaviorOptions",
            "resourceProvisioningOptions",
            "onPremisesProvisioningErrors",
            "serviceProvisioningErrors",
        ] {
            obj.entry(list).or_insert(json!([]));
        }
        if !obj.contains_key("mail") {
            let mail = if obj.get("mailEnabled") == Some(&json!(true)) {
                obj.get("mailNickname")
                    .and_then(Value::as_str)
                    .map(|n| json!(format!("{n}@{}", self.domain)))
                    .unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            obj.insert("mail".into(), mail);
        }
        self.groups.insert(id.clone(), obj.clone());
        self.members.insert(id.clone(), BTreeSet::new());
        self.born.insert(id.clone(), self.clock.instant());
        self.log(Kind::Group, &id, None);
        Ok(obj)
    }

    /// Merges properties into a live group.
    /// With `graph` set, properties Graph does not let clients write are refused.
    pub(crate) fn patch_group(
        &mut self,
        id: &str,
        patch: &Obj,
        graph: bool,
    ) -> Result<(), AdminError> {
        if !self.groups.contains_key(id) {
            return Err(AdminError::NotFound(id.to_string()));
        }
        check_patchable(patch, graph.then_some(GROUP_READ_ONLY))?;
        let group = self
            .groups
            .get_mut(id)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        merge(group, patch);
        self.log_props(Kind::Group, id, None, patch.keys().cloned().collect());
        Ok(())
    }

    /// Adds a direct member; `Conflict` when already a member.
    pub(crate) fn add_member(&mut self, group: &str, member: &str) -> Result<(), AdminError> {
        if !self.groups.contains_key(group) {
            return Err(AdminError::NotFound(group.to_string()));
        }
        if self.kind_of(member).is_none() {
            return Err(AdminError::NotFound(member.to_string()));
        }
        if group == member {
            return Err(AdminError::Invalid(
                "A group cannot be a member of itself.".into(),
            ));
        }
        let set = self.members.entry(group.to_string()).or_default();
        if !set.insert(member.to_string()) {
            return Err(AdminError::Conflict(
                "One or more added object references already exist for the following modified properties: 'members'.".into(),
            ));
        }
        self.log(Kind::Group, group, Some((member.to_string(), true)));
        Ok(())
    }

    /// Removes a direct member; `NotFound` when not a member.
    pub(crate) fn remove_member(&mut self, group: &str, member: &str) -> Result<(), AdminError> {
        let removed = self
            .members
            .get_mut(group)
            .ok_or_else(|| AdminError::NotFound(group.to_string()))?
            .remove(member);
        if !removed {
            return Err(AdminError::NotFound(member.to_string()));
        }
        self.log(Kind::Group, group, Some((member.to_string(), false)));
        Ok(())
    }

    /// Groups an object is a direct member of.
    pub(crate) fn member_of(&self, id: &str) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.contains(id))
            .map(|(g, _)| g.clone())
            .collect()
    }

    fn detach(&mut self, id: &str) -> Vec<String> {
        let groups = self.member_of(id);
        for g in &groups {
            if let Some(set) = self.members.get_mut(g) {
                set.remove(id);
            }
            self.log(Kind::Group, g, Some((id.to_string(), false)));
        }
        groups
    }

    /// Moves a live user or group to deleted items.
    pub(crate) fn soft_delete(&mut self, id: &str) -> Result<(), AdminError> {
        let kind = self
            .kind_of(id)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        let member_of = self.detach(id);
        let (mut obj, members) = match kind {
            Kind::User => (self.take_user(id).unwrap_or_default(), BTreeSet::new()),
            Kind::Group => (
                self.groups.remove(id).unwrap_or_default(),
                self.members.remove(id).unwrap_or_default(),
            ),
        };
        obj.insert("deletedDateTime".into(), json!(now_string(&self.clock)));
        self.deleted.insert(
            id.to_string(),
            Deleted {
                kind,
                obj,
                member_of,
                members,
            },
        );
        self.log(kind, id, None);
        Ok(())
    }

    /// Deletes a live or soft-deleted object permanently.
    pub(crate) fn hard_delete(&mut self, id: &str) -> Result<(), AdminError> {
        let kind = if let Some(k) = self.kind_of(id) {
            self.detach(id);
            match k {
                Kind::User => {
                    self.take_user(id);
                }
                Kind::Group => {
                    self.groups.remove(id);
                    self.members.remove(id);
                }
            }
            k
        } else if let Some(d) = self.deleted.remove(id) {
            d.kind
        } else {
            return Err(AdminError::NotFound(id.to_string()));
        };
        self.purged.insert(id.to_string());
        self.log(kind, id, None);
        Ok(())
    }

    /// Deletes a group as Graph does: Microsoft 365 groups go to deleted items, security and
    /// distribution groups are deleted permanently.
    pub(crate) fn delete_group(&mut self, id: &str) -> Result<(), AdminError> {
        let group = self
            .groups
            .get(id)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        let unified = group
            .get("groupTypes")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x == "Unified"));
        if unified {
            self.soft_delete(id)
        } else {
            self.hard_delete(id)
        }
    }

    /// Restores a soft-deleted object with its memberships.
    pub(crate) fn restore(&mut self, id: &str) -> Result<Obj, AdminError> {
        let mut d = self
            .deleted
            .remove(id)
            .ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        if d.kind == Kind::User {
            let upn = d.obj.get("userPrincipalName").cloned();
            if let Err(e) = self.check_upn_unique(upn.as_ref(), None) {
                self.deleted.insert(id.to_string(), d);
                return Err(e);
            }
        }
        d.obj.insert("deletedDateTime".into(), Value::Null);
        let obj = d.obj.clone();
        match d.kind {
            Kind::User => {
                self.put_user(id.to_string(), d.obj);
            }
            Kind::Group => {
                self.groups.insert(id.to_string(), d.obj);
                let members: BTreeSet<String> = d
                    .members
                    .into_iter()
                    .filter(|m| self.kind_of(m).is_some())
                    .collect();
                self.members.insert(id.to_string(), members.clone());
                for m in members {
                    self.log(Kind::Group, id, Some((m, true)));
                }
            }
        }
        self.log(d.kind, id, None);
        for g in d.member_of {
            if let Some(set) = self.members.get_mut(&g)
                && set.insert(id.to_string())
            {
                self.log(Kind::Group, &g, Some((id.to_string(), true)));
            }
        }
        Ok(obj)
    }

    /// Inserts a seeded or fixture object without logging a change (the object is part of
    /// the tenant's starting state). Fills `id` and defaults like the create methods.
    pub(crate) fn insert_initial(
        &mut self,
        kind: Kind,
        mut obj: Obj,
    ) -> Result<String, AdminError> {
        let id = chosen_id(&obj);
        if self.users.contains_key(&id) || self.groups.contains_key(&id) {
            return Err(AdminError::Conflict(format!(
                "object id '{id}' is used twice"
            )));
        }
        stamp(&mut obj, &id, &self.clock);
        match kind {
            Kind::User => {
                if obj
                    .get("userPrincipalName")
                    .and_then(Value::as_str)
                    .is_none()
                {
                    return Err(AdminError::Invalid(format!(
                        "user '{id}' has no userPrincipalName"
                    )));
                }
                user_defaults(&mut obj);
                self.put_user(id.clone(), obj);
            }
            Kind::Group => {
                group_defaults(&mut obj);
                obj.entry("mail").or_insert(Value::Null);
                obj.entry("securityIdentifier")
                    .or_insert_with(|| security_identifier(&id));
                self.groups.insert(id.clone(), obj);
                self.members.insert(id.clone(), BTreeSet::new());
            }
        }
        Ok(id)
    }

    /// Adds a membership of the starting state without logging a change.
    pub(crate) fn insert_initial_member(
        &mut self,
        group: &str,
        member: &str,
    ) -> Result<(), AdminError> {
        if self.kind_of(member).is_none() {
            return Err(AdminError::NotFound(member.to_string()));
        }
        self.members
            .get_mut(group)
            .ok_or_else(|| AdminError::NotFound(group.to_string()))?
            .insert(member.to_string());
        Ok(())
    }

    /// A serializable snapshot.
    pub(crate) fn state(&self) -> TenantState {
        TenantState {
            tenant_id: self.id.clone(),
            users: self
                .users
                .values()
                .map(|o| Value::Object(o.clone()))
                .collect(),
            groups: self
                .groups
                .values()
                .map(|o| Value::Object(o.clone()))
                .collect(),
            memberships: self
                .members
                .iter()
                .map(|(g, m)| (g.clone(), m.iter().cloned().collect()))
                .collect(),
            deleted_items: self
                .deleted
                .values()
                .map(|d| DeletedItemState {
                    kind: match d.kind {
                        Kind::User => "user".into(),
                        Kind::Group => "group".into(),
                    },
                    object: Value::Object(d.obj.clone()),
                })
                .collect(),
        }
    }

    /// Adds one to a request counter.
    pub(crate) fn count(&mut self, kind: &str) {
        *self.counts.entry(kind.to_string()).or_insert(0) += 1;
    }

    /// Whether a directory extension property with this name is registered.
    pub(crate) fn extension_registered(&self, name: &str, target: &str) -> bool {
        self.extension_properties.iter().any(|e| {
            e.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && e.get("targetObjects")
                    .and_then(Value::as_array)
                    .is_some_and(|t| {
                        t.iter()
                            .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(target)))
                    })
        })
    }
}

/// The id a new object asks for (lower-cased), or a new one.
fn chosen_id(obj: &Obj) -> String {
    match obj.get("id").and_then(Value::as_str) {
        Some(id) => id.to_ascii_lowercase(),
        None => uuid::Uuid::new_v4().to_string(),
    }
}

/// Sets a new object's `id` and, unless given, its `createdDateTime`.
fn stamp(obj: &mut Obj, id: &str, clock: &Clock) {
    obj.insert("id".into(), json!(id));
    obj.entry("createdDateTime")
        .or_insert_with(|| json!(now_string(clock)));
}

/// Graph's defaults for a new user.
fn user_defaults(obj: &mut Obj) {
    obj.entry("accountEnabled").or_insert(json!(true));
    obj.entry("userType").or_insert(json!("Member"));
    obj.entry("businessPhones").or_insert(json!([]));
}

/// Graph's defaults for a new group.
fn group_defaults(obj: &mut Obj) {
    obj.entry("groupTypes").or_insert(json!([]));
    obj.entry("mailEnabled").or_insert(json!(false));
    obj.entry("securityEnabled").or_insert(json!(true));
}

/// Refuses a patch that sets `id`, or one of `read_only` when given.
fn check_patchable(patch: &Obj, read_only: Option<&[&str]>) -> Result<(), AdminError> {
    let refused = |k: &str| k == "id" || read_only.is_some_and(|ro| ro.contains(&k));
    match patch.keys().find(|k| refused(k)) {
        Some(ro) => Err(AdminError::Invalid(format!(
            "Property '{ro}' is read-only and cannot be set."
        ))),
        None => Ok(()),
    }
}

/// Merges `patch` into `obj`; a null value removes the property.
pub(crate) fn merge(obj: &mut Obj, patch: &Obj) {
    for (k, v) in patch {
        if v.is_null() {
            obj.insert(k.clone(), Value::Null);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant::new(
            "t1",
            "contoso.onmicrosoft.com",
            Vec::new(),
            Knobs::default(),
        )
    }

    fn user(upn: &str) -> Obj {
        let mut o = Obj::new();
        o.insert("userPrincipalName".into(), json!(upn));
        o
    }

    #[test]
    fn soft_delete_and_restore_keep_memberships() {
        let mut t = tenant();
        let u = t
            .create_user(user("a@contoso.onmicrosoft.com"))
            .unwrap_or_default();
        let uid = u["id"].as_str().unwrap_or_default().to_string();
        let g = t.create_group(Obj::new()).unwrap_or_default();
        let gid = g["id"].as_str().unwrap_or_default().to_string();
        assert_eq!(t.add_member(&gid, &uid), Ok(()));
        assert!(matches!(
            t.add_member(&gid, &uid),
            Err(AdminError::Conflict(_))
        ));
        assert_eq!(t.soft_delete(&uid), Ok(()));
        assert!(t.members[&gid].is_empty());
        assert!(t.restore(&uid).is_ok());
        assert!(t.members[&gid].contains(&uid));
    }

    #[test]
    fn duplicate_upn_is_refused() {
        let mut t = tenant();
        assert!(t.create_user(user("a@x.com")).is_ok());
        assert!(matches!(
            t.create_user(user("A@X.com")),
            Err(AdminError::Conflict(_))
        ));
    }

    fn id_of(o: &Obj) -> String {
        o["id"].as_str().unwrap_or_default().to_string()
    }

    fn patch(props: Value) -> Obj {
        props.as_object().cloned().unwrap_or_default()
    }

    /// The user index equals one built from scratch from the live users.
    fn assert_index(t: &Tenant) {
        assert_eq!(t.user_index, UserIndex::of(&t.users));
    }

    #[test]
    fn user_index_follows_every_change() {
        let mut t = tenant();
        let mut a = user("a@x.com");
        a.insert("mail".into(), json!("Ann@Fabrikam.com"));
        a.insert("otherMails".into(), json!(["ann@fabrikam.com", "a2@y.com"]));
        let a = id_of(&t.create_user(a).unwrap_or_default());
        let b = id_of(&t.create_user(user("b@x.com")).unwrap_or_default());
        assert_index(&t);
        assert_eq!(t.find_user("A@X.COM"), Some(a.as_str()));
        assert_eq!(t.find_user(&b.to_ascii_uppercase()), Some(b.as_str()));
        assert_eq!(t.find_user_by_mail("ANN@fabrikam.com"), Some(a.as_str()));
        assert_eq!(t.find_user_by_mail("a2@Y.com"), Some(a.as_str()));

        // Renames and new addresses replace the old keys.
        assert_eq!(
            t.patch_user(
                &a,
                &patch(json!({"userPrincipalName": "a.new@x.com", "mail": null, "otherMails": ["ann@contoso.com"]})),
                false,
            ),
            Ok(())
        );
        assert_index(&t);
        assert_eq!(t.find_user("a@x.com"), None);
        assert_eq!(t.find_user("A.New@x.com"), Some(a.as_str()));
        assert_eq!(t.find_user_by_mail("ann@fabrikam.com"), None);
        assert_eq!(t.find_user_by_mail("a2@y.com"), None);
        assert_eq!(t.find_user_by_mail("Ann@Contoso.com"), Some(a.as_str()));

        // The freed name is free; a taken one is refused and changes nothing.
        assert_eq!(
            t.patch_user(&b, &patch(json!({"userPrincipalName": "A@x.com"})), true),
            Ok(())
        );
        assert!(matches!(
            t.patch_user(
                &b,
                &patch(json!({"userPrincipalName": "a.NEW@x.com"})),
                true
            ),
            Err(AdminError::Conflict(_))
        ));
        assert_eq!(
            t.patch_user(
                &a,
                &patch(json!({"userPrincipalName": "A.NEW@X.COM"})),
                true
            ),
            Ok(())
        );
        assert_index(&t);
        assert_eq!(t.find_user("a@x.com"), Some(b.as_str()));

        // A deleted user's keys leave; a restore brings them back, unless its name was taken.
        assert_eq!(t.soft_delete(&a), Ok(()));
        assert_index(&t);
        assert_eq!(t.find_user("a.new@x.com"), None);
        assert_eq!(t.find_user_by_mail("ann@contoso.com"), None);
        let c = id_of(&t.create_user(user("a.new@x.com")).unwrap_or_default());
        assert!(matches!(t.restore(&a), Err(AdminError::Conflict(_))));
        assert_index(&t);
        assert_eq!(t.hard_delete(&c), Ok(()));
        assert!(t.restore(&a).is_ok());
        assert_index(&t);
        assert_eq!(t.find_user("a.new@x.com"), Some(a.as_str()));
        assert_eq!(t.find_user_by_mail("ann@contoso.com"), Some(a.as_str()));

        // Users of the starting state are indexed; a shared address finds the lowest id.
        let mut d = user("d@x.com");
        d.insert("id".into(), json!("00000000-0000-0000-0000-000000000001"));
        d.insert("mail".into(), json!("ann@contoso.com"));
        let d = t.insert_initial(Kind::User, d).unwrap_or_default();
        assert_index(&t);
        assert_eq!(t.find_user("D@x.com"), Some(d.as_str()));
        assert_eq!(t.find_user_by_mail("ann@contoso.com"), Some(d.as_str()));
        assert_eq!(t.hard_delete(&d), Ok(()));
        assert_eq!(t.find_user_by_mail("ann@contoso.com"), Some(a.as_str()));

        assert_eq!(t.hard_delete(&a), Ok(()));
        assert_eq!(t.hard_delete(&b), Ok(()));
        assert_index(&t);
        assert!(t.user_index.upn.is_empty() && t.user_index.mail.is_empty());
    }

    #[test]
    fn security_group_delete_is_permanent() {
        let mut t = tenant();
        let g = t.create_group(Obj::new()).unwrap_or_default();
        let gid = g["id"].as_str().unwrap_or_default().to_string();
        assert_eq!(t.delete_group(&gid), Ok(()));
        assert!(t.deleted.is_empty());
        assert!(t.purged.contains(&gid));
    }
}

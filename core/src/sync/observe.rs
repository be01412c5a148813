//! Observe: read the source (a delta round applied to the cached source, or a full round) and
//! the target (its users, groups with members, and soft-deleted objects) into snapshots.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};

use crate::graph::delta::{DeltaObject, DeltaResource};
use crate::graph::{DeltaLink, GraphClient, GraphRequest, delta_or_full, list_all};
use crate::schema::SynchronizationSchema;
use crate::snapshot::{DirectoryObject, Snapshot};
use crate::state::StateStore;
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

impl Selection {
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

/// How the source was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceRead {
    /// A full round (first run, `--full`, or an expired delta token).
    pub full: bool,
    /// Objects that changed (delta) or were read (full).
    pub changed: usize,
}

/// Reads the source: a delta round from the kept link applied to the cached objects, or a
/// full round. The cache and the new links are saved before returning.
pub(crate) async fn source(
    client: &GraphClient,
    state: &mut StateStore,
    selection: &Selection,
    tenant_id: &str,
    full: bool,
    now: DateTime<Utc>,
) -> Result<(Snapshot, SourceRead), SyncError> {
    let mut snapshot = Snapshot {
        tenant_id: tenant_id.to_string(),
        ..Snapshot::default()
    };
    let mut read = SourceRead {
        full: false,
        changed: 0,
    };
    for (kind, resource, select) in [
        ("users", DeltaResource::Users, &selection.source_users),
        ("groups", DeltaResource::Groups, &selection.source_groups),
    ] {
        let link = if full {
            None
        } else {
            state.delta_link(kind)?.map(DeltaLink)
        };
        let round = delta_or_full(client, resource, &refs(select), link.as_ref()).await?;
        let objects = if round.full {
            read.full = true;
            read.changed += round.objects.len();
            apply_changes(Vec::new(), &round.objects)
        } else {
            read.changed += round.objects.len();
            let cached = state.source_objects(kind)?;
            apply_changes(cached, &round.objects)
        };
        state.replace_source_objects(kind, &objects, Some(&round.delta_link.0), now)?;
        match resource {
            DeltaResource::Users => snapshot.users = objects,
            DeltaResource::Groups => snapshot.groups = objects,
        }
    }
    Ok((snapshot, read))
}

/// Applies one delta round's objects to the cached ones (by id; removed objects go away,
/// properties are merged, `members@delta` adds and removes members).
pub(crate) fn apply_changes(
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
            for m in &change.members_added {
                if !members.contains(&m.id) {
                    members.push(m.id.clone());
                }
            }
            object.attributes.insert(
                "members".into(),
                Value::Multi(members.into_iter().map(Value::String).collect()),
            );
        }
    }
    by_id.into_values().collect()
}

/// Reads the target: every user, every group with its direct members, and the soft-deleted
/// users and groups (restorable ones carry their anchors).
pub(crate) async fn target(
    client: &GraphClient,
    selection: &Selection,
    tenant_id: &str,
) -> Result<Snapshot, SyncError> {
    let users = client
        .list_users(&refs(&selection.target_users), None)
        .await?;
    let groups = crate::graph::delta(
        client,
        DeltaResource::Groups,
        &refs(&selection.target_groups),
        None,
    )
    .await
    .map_err(|e| match e {
        crate::graph::DeltaError::Graph(g) => SyncError::Graph(g),
        crate::graph::DeltaError::Expired(x) => SyncError::Graph(
            crate::graph::GraphError::Invalid(format!("reading the target's groups failed: {x}")),
        ),
    })?;
    let deleted_select = |fields: &[String]| {
        let mut f: Vec<&str> = refs(fields);
        f.push("deletedDateTime");
        f.push("id");
        f.sort_unstable();
        f.dedup();
        f.join(",")
    };
    let deleted_users = list_all(
        client,
        GraphRequest::get(format!(
            "/directory/deletedItems/microsoft.graph.user?$select={}",
            deleted_select(&selection.target_users)
        )),
    )
    .await?;
    let deleted_groups = list_all(
        client,
        GraphRequest::get(format!(
            "/directory/deletedItems/microsoft.graph.group?$select={}",
            deleted_select(&selection.target_groups)
        )),
    )
    .await?;
    Ok(Snapshot {
        tenant_id: tenant_id.to_string(),
        default_domain: None,
        users: users.iter().filter_map(object_from_json).collect(),
        groups: apply_changes(Vec::new(), &groups.objects),
        deleted_users: deleted_users.iter().filter_map(object_from_json).collect(),
        deleted_groups: deleted_groups.iter().filter_map(object_from_json).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::delta::{MemberRef, RemovedReason};

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

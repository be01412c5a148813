//! The schema change that turns group synchronization on in an Entra cross-tenant
//! synchronization job: a pure function from the job's `synchronizationSchema` to the new one.
//!
//! What it does is what admins do by hand in Graph Explorer: in the rule that holds the
//! `Group` object mapping, set `enabled` to `true` and `flowTypes` to `Add,Update,Delete`, add
//! the attribute mappings (`displayName`, `description`, `mailNickname`, `mailEnabled`,
//! `securityEnabled`, `members`) with `FlowWhenChanged`, and define those attributes on the
//! `Group` object of the rule's source and target directories. Nothing else changes: the
//! document is edited in place as JSON, so properties tenantsync does not know are kept as
//! they are.
//!
//! Idempotent: applying it to its own result changes nothing, and a mapping or definition the
//! admin already has (even written differently) is left alone.

use serde_json::{Map, Value, json};

use super::EntraError;

/// The group attributes that can be mapped, in the order they are added.
pub const GROUP_ATTRIBUTES: &[&str] = &[
    "displayName",
    "description",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
];

/// The group attribute that is always mapped: Graph requires `mailEnabled` to create a group
/// (<https://learn.microsoft.com/graph/api/group-post-groups#request-body>), so its definition
/// is marked `required`.
pub const REQUIRED_GROUP_ATTRIBUTE: &str = "mailEnabled";

/// The flow types of an enabled group mapping.
pub(crate) const GROUP_FLOW_TYPES: &str = "Add,Update,Delete";

/// Which group attributes to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSyncOptions {
    /// Group attributes to map, from [`GROUP_ATTRIBUTES`]. [`REQUIRED_GROUP_ATTRIBUTE`] is
    /// mapped whether listed or not. Default: all of them.
    pub attributes: Vec<String>,
    /// Whether to map `members` (memberships). Default: true.
    pub members: bool,
}

impl Default for GroupSyncOptions {
    fn default() -> Self {
        GroupSyncOptions {
            attributes: GROUP_ATTRIBUTES.iter().map(|a| a.to_string()).collect(),
            members: true,
        }
    }
}

impl GroupSyncOptions {
    /// The attributes to map, in [`GROUP_ATTRIBUTES`] order, then `members`; an unknown name
    /// is an error.
    pub fn targets(&self) -> Result<Vec<&'static str>, EntraError> {
        for a in &self.attributes {
            if !GROUP_ATTRIBUTES.iter().any(|g| g.eq_ignore_ascii_case(a)) {
                return Err(EntraError::Invalid(format!(
                    "`{a}` is not a group attribute this command maps; choose from {}",
                    GROUP_ATTRIBUTES.join(", ")
                )));
            }
        }
        let mut out: Vec<&'static str> = GROUP_ATTRIBUTES
            .iter()
            .copied()
            .filter(|g| {
                *g == REQUIRED_GROUP_ATTRIBUTE
                    || self.attributes.iter().any(|a| a.eq_ignore_ascii_case(g))
            })
            .collect();
        if self.members {
            out.push("members");
        }
        Ok(out)
    }
}

fn eq(v: &Value, s: &str) -> bool {
    v.as_str().is_some_and(|x| x.eq_ignore_ascii_case(s))
}

/// Whether `flow_types` (`"Add, Update, Delete"`, any order and spacing) holds all three.
fn has_all_flows(flow_types: &Value) -> bool {
    let parts: Vec<String> = flow_types
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    ["add", "update", "delete"]
        .iter()
        .all(|f| parts.iter().any(|p| p == f))
}

/// An attribute mapping from the group attribute `name` to the same attribute.
// https://learn.microsoft.com/graph/api/resources/synchronization-attributemapping
fn group_mapping(name: &str) -> Value {
    json!({
        "defaultValue": null,
        "exportMissingReferences": false,
        "flowBehavior": "FlowWhenChanged",
        "flowType": "Always",
        "matchingPriority": 0,
        "source": {
            "expression": format!("[{name}]"),
            "name": name,
            "parameters": [],
            "type": "Attribute",
        },
        "targetAttributeName": name,
    })
}

/// The definition of group attribute `name`.
// https://learn.microsoft.com/graph/api/resources/synchronization-attributedefinition
fn group_definition(name: &str) -> Value {
    let (kind, multivalued, referenced) = match name {
        "mailEnabled" | "securityEnabled" => ("Boolean", false, json!([])),
        "members" => (
            "Reference",
            true,
            json!([
                {"referencedObjectName": "User", "referencedProperty": null},
                {"referencedObjectName": "Group", "referencedProperty": null},
            ]),
        ),
        _ => ("String", false, json!([])),
    };
    json!({
        "anchor": false,
        "apiExpressions": [],
        "caseExact": false,
        "defaultValue": null,
        "flowNullValues": false,
        "metadata": [],
        "multivalued": multivalued,
        "mutability": "ReadWrite",
        "name": name,
        "referencedObjects": referenced,
        "required": name == REQUIRED_GROUP_ATTRIBUTE,
        "type": kind,
    })
}

/// The schema with group synchronization turned on; `schema` itself is not changed.
pub fn enable_group_sync(schema: &Value, options: &GroupSyncOptions) -> Result<Value, EntraError> {
    let targets = options.targets()?;
    let mut out = schema.clone();
    let rules = out
        .get_mut("synchronizationRules")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| {
            EntraError::Schema(
                "the schema has no synchronizationRules; is this a synchronization job's schema?"
                    .into(),
            )
        })?;
    let mut found = None;
    for rule in rules.iter_mut() {
        let Some(mappings) = rule.get_mut("objectMappings").and_then(Value::as_array_mut) else {
            continue;
        };
        let Some(mapping) = mappings
            .iter_mut()
            .find(|m| eq(&m["sourceObjectName"], "Group") && eq(&m["targetObjectName"], "Group"))
        else {
            continue;
        };
        if mapping["enabled"] != Value::Bool(true) {
            mapping["enabled"] = Value::Bool(true);
        }
        if mapping["flowTypes"] != json!(GROUP_FLOW_TYPES) {
            mapping["flowTypes"] = json!(GROUP_FLOW_TYPES);
        }
        if !mapping["attributeMappings"].is_array() {
            mapping["attributeMappings"] = json!([]);
        }
        let list = mapping["attributeMappings"]
            .as_array_mut()
            .expect("made an array above");
        for name in &targets {
            if !list.iter().any(|a| eq(&a["targetAttributeName"], name)) {
                list.push(group_mapping(name));
            }
        }
        found = Some((
            rule["sourceDirectoryName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            rule["targetDirectoryName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ));
        break;
    }
    let Some((source_dir, target_dir)) = found else {
        return Err(EntraError::Schema(
            "the schema has no Group to Group object mapping; only cross-tenant synchronization jobs (template Azure2Azure) have one".into(),
        ));
    };
    let dirs = out
        .get_mut("directories")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| EntraError::Schema("the schema has no directories".into()))?;
    for dir_name in [&source_dir, &target_dir] {
        let dir = dirs
            .iter_mut()
            .find(|d| d["name"].as_str() == Some(dir_name.as_str()))
            .ok_or_else(|| {
                EntraError::Schema(format!(
                    "the rule names directory `{dir_name}`, which the schema does not define"
                ))
            })?;
        if !dir["objects"].is_array() {
            dir["objects"] = json!([]);
        }
        let objects = dir["objects"].as_array_mut().expect("made an array above");
        if !objects.iter().any(|o| eq(&o["name"], "Group")) {
            let mut group = Map::new();
            group.insert("flowNullValues".into(), json!(false));
            group.insert("metadata".into(), json!([]));
            group.insert("name".into(), json!("Group"));
            group.insert("supportedApis".into(), json!([]));
            group.insert("attributes".into(), json!([]));
            objects.push(Value::Object(group));
        }
        let group = objects
            .iter_mut()
            .find(|o| eq(&o["name"], "Group"))
            .expect("added above");
        if !group["attributes"].is_array() {
            group["attributes"] = json!([]);
        }
        let attributes = group["attributes"]
            .as_array_mut()
            .expect("made an array above");
        for name in &targets {
            if !attributes.iter().any(|a| eq(&a["name"], name)) {
                attributes.push(group_definition(name));
            }
        }
    }
    Ok(out)
}

/// Whether the schema's group mapping is enabled with all three flow types.
pub(crate) fn group_sync_enabled(schema: &Value) -> bool {
    schema["synchronizationRules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array().into_iter().flatten())
        .any(|m| {
            eq(&m["sourceObjectName"], "Group")
                && m["enabled"] == Value::Bool(true)
                && has_all_flows(&m["flowTypes"])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cross-tenant job's schema as Entra ships it: users mapped, the group mapping present
    /// but disabled and empty, with a property tenantsync does not know.
    pub(crate) fn shipped() -> Value {
        json!({
            "id": "Azure2Azure.x.y",
            "version": "v1.2",
            "directories": [
                {"name": "Azure Active Directory", "objects": [
                    {"name": "User", "attributes": [{"name": "mail", "type": "String"}]},
                    {"name": "Group", "attributes": [{"name": "objectId", "type": "String"}]}
                ]},
                {"name": "Azure Active Directory (target tenant)", "unknownProperty": 7, "objects": [
                    {"name": "User", "attributes": [{"name": "mail", "type": "String"}]},
                    {"name": "Group", "attributes": [{"name": "objectId", "type": "String"}]}
                ]}
            ],
            "synchronizationRules": [{
                "name": "USER_INBOUND_USER",
                "sourceDirectoryName": "Azure Active Directory",
                "targetDirectoryName": "Azure Active Directory (target tenant)",
                "containerFilter": null,
                "objectMappings": [
                    {"name": "Provision Microsoft Entra ID Users", "enabled": true,
                     "flowTypes": "Add, Update, Delete", "sourceObjectName": "User",
                     "targetObjectName": "User", "attributeMappings": [
                        {"source": {"type": "Attribute", "name": "mail", "expression": "[mail]"},
                         "targetAttributeName": "mail", "matchingPriority": 1}
                     ]},
                    {"name": "Provision Microsoft Entra ID Groups", "enabled": false,
                     "flowTypes": "Update", "sourceObjectName": "Group",
                     "targetObjectName": "Group", "attributeMappings": []}
                ]
            }]
        })
    }

    #[test]
    fn enables_the_group_mapping_with_every_attribute() {
        let before = shipped();
        let after = enable_group_sync(&before, &GroupSyncOptions::default()).unwrap();
        let m = &after["synchronizationRules"][0]["objectMappings"][1];
        assert_eq!(m["enabled"], json!(true));
        assert_eq!(m["flowTypes"], json!("Add,Update,Delete"));
        let names: Vec<&str> = m["attributeMappings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["targetAttributeName"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "displayName",
                "description",
                "mailNickname",
                "mailEnabled",
                "securityEnabled",
                "members"
            ]
        );
        for a in m["attributeMappings"].as_array().unwrap() {
            assert_eq!(a["flowBehavior"], json!("FlowWhenChanged"));
            assert_eq!(a["matchingPriority"], json!(0));
        }
        for d in 0..2 {
            let attrs = &after["directories"][d]["objects"][1]["attributes"];
            let defs: Vec<&str> = attrs
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap())
                .collect();
            assert_eq!(defs[0], "objectId");
            assert_eq!(defs.len(), 7);
            let mail_enabled = attrs
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "mailEnabled")
                .unwrap();
            assert_eq!(mail_enabled["required"], json!(true));
            assert_eq!(mail_enabled["type"], json!("Boolean"));
            let members = attrs
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "members")
                .unwrap();
            assert_eq!(members["type"], json!("Reference"));
            assert_eq!(members["multivalued"], json!(true));
        }
        assert!(group_sync_enabled(&after));
        assert!(!group_sync_enabled(&before));
    }

    #[test]
    fn every_other_property_is_unchanged() {
        let before = shipped();
        let after = enable_group_sync(&before, &GroupSyncOptions::default()).unwrap();
        // Put back what the change touches; the rest must be identical.
        let mut undone = after.clone();
        let m = &mut undone["synchronizationRules"][0]["objectMappings"][1];
        m["enabled"] = json!(false);
        m["flowTypes"] = json!("Update");
        m["attributeMappings"] = json!([]);
        for d in 0..2 {
            undone["directories"][d]["objects"][1]["attributes"]
                .as_array_mut()
                .unwrap()
                .truncate(1);
        }
        assert_eq!(undone, before);
        assert_eq!(after["directories"][1]["unknownProperty"], json!(7));
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let once = enable_group_sync(&shipped(), &GroupSyncOptions::default()).unwrap();
        let twice = enable_group_sync(&once, &GroupSyncOptions::default()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn flow_types_are_written_as_admins_do() {
        let mut s = shipped();
        s["synchronizationRules"][0]["objectMappings"][1]["flowTypes"] =
            json!("Add, Update, Delete");
        let after = enable_group_sync(&s, &GroupSyncOptions::default()).unwrap();
        assert_eq!(
            after["synchronizationRules"][0]["objectMappings"][1]["flowTypes"],
            json!("Add,Update,Delete")
        );
        assert!(!group_sync_enabled(&s));
    }

    #[test]
    fn options_choose_attributes_and_members_but_keep_mail_enabled() {
        let options = GroupSyncOptions {
            attributes: vec!["displayName".into()],
            members: false,
        };
        let after = enable_group_sync(&shipped(), &options).unwrap();
        let names: Vec<&str> =
            after["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["targetAttributeName"].as_str().unwrap())
                .collect();
        assert_eq!(names, ["displayName", "mailEnabled"]);
        let bad = GroupSyncOptions {
            attributes: vec!["visibility".into()],
            members: true,
        };
        let e = enable_group_sync(&shipped(), &bad).unwrap_err().to_string();
        assert!(e.contains("visibility") && e.contains("choose from"), "{e}");
    }

    #[test]
    fn an_existing_mapping_written_differently_is_left_alone() {
        let mut s = shipped();
        s["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"] = json!([
            {"source": {"type": "Constant", "name": "Synced", "expression": "\"Synced\""},
             "targetAttributeName": "description"}
        ]);
        let after = enable_group_sync(&s, &GroupSyncOptions::default()).unwrap();
        let list = after["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"]
            .as_array()
            .unwrap();
        assert_eq!(list[0]["source"]["type"], json!("Constant"));
        assert_eq!(
            list.iter()
                .filter(|a| a["targetAttributeName"] == "description")
                .count(),
            1
        );
    }

    #[test]
    fn a_schema_without_a_group_mapping_is_refused() {
        let mut s = shipped();
        s["synchronizationRules"][0]["objectMappings"]
            .as_array_mut()
            .unwrap()
            .pop();
        let e = enable_group_sync(&s, &GroupSyncOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no Group to Group object mapping"), "{e}");
    }
}

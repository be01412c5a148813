//! JSON fixtures: a tenant's starting users, groups, memberships and extension properties.

use crate::store::{AdminError, Kind, Obj, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The starting content of a tenant (the format of fixture files, see `docs/emulator.md`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct TenantFixture {
    /// Users as Graph JSON objects (`userPrincipalName` required, `id` optional).
    pub users: Vec<Value>,
    /// Groups as Graph JSON objects (`id` optional).
    pub groups: Vec<Value>,
    /// Direct members: group id → member ids (users or groups).
    pub memberships: BTreeMap<String, Vec<String>>,
    /// Directory extension properties registered at start, e.g.
    /// `{"name": "extension_<appid>_anchor", "targetObjects": ["User"]}`.
    pub extension_properties: Vec<Value>,
}

/// Why a fixture could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("could not read fixture {path}: {source}")]
    Read {
        /// The fixture file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a fixture.
    #[error("fixture {path} is not valid: {source}; see docs/emulator.md for the format")]
    Parse {
        /// The fixture file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// Reads a fixture file.
pub fn load_fixture(path: &Path) -> Result<TenantFixture, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| FixtureError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn obj(v: &Value, what: &str) -> Result<Obj, AdminError> {
    v.as_object()
        .cloned()
        .ok_or_else(|| AdminError::Invalid(format!("every {what} must be a JSON object")))
}

/// Loads a fixture into a tenant's starting state.
pub(crate) fn apply(t: &mut Tenant, fx: &TenantFixture) -> Result<(), AdminError> {
    for e in &fx.extension_properties {
        let mut o = obj(e, "extension property")?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| n.starts_with("extension_"))
            .ok_or_else(|| {
                AdminError::Invalid("extension property names start with 'extension_'".into())
            })?
            .to_string();
        let app_part = name
            .trim_start_matches("extension_")
            .split('_')
            .next()
            .unwrap_or_default()
            .to_string();
        o.entry("id")
            .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
        o.entry("dataType").or_insert(json!("String"));
        o.entry("targetObjects").or_insert(json!(["User", "Group"]));
        o.entry("isMultiValued").or_insert(json!(false));
        o.entry("isSyncedFromOnPremises").or_insert(json!(false));
        o.entry("deletedDateTime").or_insert(Value::Null);
        let app_id = t
            .applications
            .values()
            .find(|a| {
                a.get("appId")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.replace('-', "").eq_ignore_ascii_case(&app_part))
            })
            .and_then(|a| a.get("appId").cloned())
            .unwrap_or(Value::Null);
        o.insert("appId".into(), app_id);
        t.extension_properties.push(o);
    }
    for u in &fx.users {
        t.insert_initial(Kind::User, obj(u, "user")?)?;
    }
    for g in &fx.groups {
        t.insert_initial(Kind::Group, obj(g, "group")?)?;
    }
    for (g, ms) in &fx.memberships {
        for m in ms {
            t.insert_initial_member(&g.to_ascii_lowercase(), &m.to_ascii_lowercase())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Knobs;

    #[test]
    fn fixture_loads_users_groups_members() {
        let fx: TenantFixture = serde_json::from_value(json!({
            "users": [{"id": "11111111-1111-1111-1111-111111111111", "userPrincipalName": "a@c.com", "displayName": "A"}],
            "groups": [{"id": "22222222-2222-2222-2222-222222222222", "displayName": "G"}],
            "memberships": {"22222222-2222-2222-2222-222222222222": ["11111111-1111-1111-1111-111111111111"]}
        }))
        .unwrap_or_default();
        let mut t = Tenant::new("t", "c.com", Vec::new(), Knobs::default());
        assert_eq!(apply(&mut t, &fx), Ok(()));
        assert_eq!(t.users().len(), 1);
        assert_eq!(t.members["22222222-2222-2222-2222-222222222222"].len(), 1);
        let bad: TenantFixture =
            serde_json::from_value(json!({"memberships": {"x": ["y"]}})).unwrap_or_default();
        assert!(apply(&mut t, &bad).is_err());
    }
}

//! Preflight: whether a job can run, item by item, each with a verdict and what to do.
//!
//! `Engine::check` signs in to both tenants, reads the application permissions granted to
//! each token (the `roles` claim), reads the target's cross-tenant access settings for the
//! source, looks for the anchor extension and tries the state file. It never writes to a
//! tenant. The CLI renders the report (`tenantsync check`); the C ABI hands it out as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::config::TenantConfig;
use crate::graph::GraphError;
use crate::graph::auth::token_claims;
use crate::schema;

use super::{ANCHOR_EXTENSION_NAME, Engine};

/// The verdict on one preflight item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    /// Ready.
    Ok,
    /// Works, but something deserves attention (or could not be checked).
    Warning,
    /// The job cannot run (well) until this is fixed.
    Failed,
}

impl CheckStatus {
    /// The verdict's name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warning => "warning",
            CheckStatus::Failed => "failed",
        }
    }
}

/// One preflight item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckItem {
    /// What was checked (`source sign-in`, `target permissions`, ...).
    pub name: String,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do, for warnings and failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

impl CheckItem {
    fn ok(name: &str, detail: impl Into<String>) -> Self {
        CheckItem {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            remedy: None,
        }
    }

    fn warning(name: &str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        CheckItem {
            name: name.into(),
            status: CheckStatus::Warning,
            detail: detail.into(),
            remedy: Some(remedy.into()),
        }
    }

    fn failed(name: &str, detail: impl Into<String>, remedy: impl Into<String>) -> Self {
        CheckItem {
            name: name.into(),
            status: CheckStatus::Failed,
            detail: detail.into(),
            remedy: Some(remedy.into()),
        }
    }
}

/// The preflight's verdicts, in the order they were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// One entry per item.
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// True when no item failed.
    pub fn passed(&self) -> bool {
        self.items.iter().all(|i| i.status != CheckStatus::Failed)
    }

    /// The worst verdict (`Ok` for an empty report).
    pub fn worst(&self) -> CheckStatus {
        self.items
            .iter()
            .map(|i| i.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }

    /// The item called `name`.
    pub fn item(&self, name: &str) -> Option<&CheckItem> {
        self.items.iter().find(|i| i.name == name)
    }
}

/// One permission a job needs, satisfied by any of `any_of` (the least privileged first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The permissions that satisfy it; the first is the one to grant.
    pub any_of: &'static [&'static str],
    /// What it is needed for.
    pub why: &'static str,
}

/// What the source tenant's application needs: reading users and groups with members.
pub const SOURCE_PERMISSIONS: &[Requirement] = &[
    Requirement {
        any_of: &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        why: "reading users",
    },
    Requirement {
        any_of: &[
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        why: "reading groups and their members",
    },
];

/// What the target tenant's application needs: inviting and updating users, writing groups
/// and memberships, reading the cross-tenant access policy.
pub const TARGET_PERMISSIONS: &[Requirement] = &[
    Requirement {
        any_of: &["User.Invite.All", "Directory.ReadWrite.All"],
        why: "creating users (invitations)",
    },
    Requirement {
        any_of: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
        why: "updating, disabling and deleting users",
    },
    Requirement {
        any_of: &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        why: "creating, updating and deleting groups",
    },
    Requirement {
        any_of: &[
            "GroupMember.ReadWrite.All",
            "Group.ReadWrite.All",
            "Directory.ReadWrite.All",
        ],
        why: "adding and removing members",
    },
    Requirement {
        any_of: &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
        why: "reading the cross-tenant access policy (this check)",
    },
];

/// What the target application needs to create the anchor extension (`tenantsync init`).
pub const ANCHOR_PERMISSION: Requirement = Requirement {
    any_of: &["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"],
    why: "creating the anchor directory extension",
};

/// The requirements `roles` does not meet.
pub fn missing_permissions<'a>(
    roles: &[String],
    required: &'a [Requirement],
) -> Vec<&'a Requirement> {
    required
        .iter()
        .filter(|r| {
            !r.any_of
                .iter()
                .any(|p| roles.iter().any(|g| g.eq_ignore_ascii_case(p)))
        })
        .collect()
}

/// The application permissions (`roles`) of a token's claims.
pub fn token_roles(claims: &Json) -> Vec<String> {
    claims
        .get("roles")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Who a tenant's credential is, for messages: never the secret.
fn who(tenant: &TenantConfig) -> String {
    format!(
        "tenant {} as client id {} ({})",
        tenant.tenant_id,
        tenant
            .credential
            .client_id()
            .unwrap_or("(system-assigned identity)"),
        tenant.credential.kind()
    )
}

/// What to do about a Graph error answered to a read the check makes.
fn graph_remedy(e: &GraphError, permission: &str) -> String {
    match e.status() {
        Some(401) | Some(403) => format!(
            "grant the application permission {permission} (with admin consent) to the target application"
        ),
        _ => "check the network and the cloud setting, then run `tenantsync check` again".into(),
    }
}

impl Engine {
    /// Runs the preflight: sign-in, permissions, cross-tenant access policy, automatic
    /// redemption, anchor extension, schema and state file. Writes nothing to either tenant;
    /// the state file is opened (created when missing) to prove it is writable.
    pub async fn check(&mut self) -> CheckReport {
        let mut report = CheckReport::default();
        let source_cfg = self.source_cfg.clone();
        let target_cfg = self.target_cfg.clone();

        let mut signed_in = [false, false];
        for (i, (side, cfg, required)) in [
            ("source", &source_cfg, SOURCE_PERMISSIONS),
            ("target", &target_cfg, TARGET_PERMISSIONS),
        ]
        .into_iter()
        .enumerate()
        {
            let (sign_in, permissions) = self.check_tenant(side, cfg, required).await;
            signed_in[i] = sign_in.status != CheckStatus::Failed;
            report.items.push(sign_in);
            report.items.push(permissions);
        }

        if signed_in[1] {
            report.items.extend(self.check_policy().await);
        } else {
            for name in ["cross-tenant access policy", "automatic redemption"] {
                report.items.push(CheckItem::warning(
                    name,
                    "not checked: signing in to the target tenant failed",
                    "fix the target sign-in, then run `tenantsync check` again",
                ));
            }
        }
        report.items.push(if signed_in[1] {
            self.check_anchor().await
        } else {
            CheckItem::warning(
                "anchor extension",
                "not checked: signing in to the target tenant failed",
                "fix the target sign-in, then run `tenantsync check` again",
            )
        });
        report.items.push(self.check_schema());
        report.items.push(self.check_state());
        report
    }

    async fn check_tenant(
        &self,
        side: &'static str,
        cfg: &TenantConfig,
        required: &[Requirement],
    ) -> (CheckItem, CheckItem) {
        let sign_in_name = format!("{side} sign-in");
        let permissions_name = format!("{side} permissions");
        let not_checked = |why: &str| {
            CheckItem::warning(
                &permissions_name,
                format!("not checked: {why}"),
                format!("fix the {side} sign-in, then run `tenantsync check` again"),
            )
        };
        let client = if side == "source" {
            &self.source
        } else {
            &self.target
        };
        // The client's own token: the one its requests carry, so its roles are what counts.
        let token = match client.access_token().await {
            Ok(t) => t,
            Err(e) => {
                return (
                    CheckItem::failed(
                        &sign_in_name,
                        format!("signing in to {} failed: {e}", who(cfg)),
                        "fix the credential named in the job (docs/authentication.md): the AADSTS code above says what the identity platform refused",
                    ),
                    not_checked("the sign-in failed"),
                );
            }
        };
        let org = match client
            .get_json("/organization?$select=id,displayName")
            .await
        {
            Ok(v) => v,
            Err(e) => {
                return (
                    CheckItem::failed(
                        &sign_in_name,
                        format!(
                            "signed in to {}, but reading the organization failed: {e}",
                            who(cfg)
                        ),
                        graph_remedy(&e, "Organization.Read.All or User.Read.All"),
                    ),
                    not_checked("Graph could not be read"),
                );
            }
        };
        let org_name = org
            .pointer("/value/0/displayName")
            .and_then(Json::as_str)
            .unwrap_or("(no display name)");
        let org_id = org
            .pointer("/value/0/id")
            .and_then(Json::as_str)
            .unwrap_or("");
        let sign_in = if !org_id.is_empty() && !org_id.eq_ignore_ascii_case(&cfg.tenant_id) {
            CheckItem::failed(
                &sign_in_name,
                format!(
                    "signed in as {}, but the token is for tenant {org_id} ({org_name})",
                    who(cfg)
                ),
                format!(
                    "make [{side}] tenant_id and the credential's tenant_id name the same tenant"
                ),
            )
        } else {
            CheckItem::ok(
                &sign_in_name,
                format!("signed in to {org_name}: {}", who(cfg)),
            )
        };

        let Some(claims) = token_claims(token.token.expose()) else {
            return (
                sign_in,
                CheckItem::warning(
                    &permissions_name,
                    "the access token is not a readable JWT, so its permissions cannot be listed",
                    "check the application's API permissions in the Entra admin center",
                ),
            );
        };
        let roles = token_roles(&claims);
        let mut required: Vec<Requirement> = required.to_vec();
        if side == "target"
            && !self
                .config
                .options
                .anchor_attribute
                .starts_with("extension_")
        {
            required.push(ANCHOR_PERMISSION);
        }
        let missing = missing_permissions(&roles, &required);
        let granted = if roles.is_empty() {
            "none".to_string()
        } else {
            roles.join(", ")
        };
        let permissions = if missing.is_empty() {
            CheckItem::ok(&permissions_name, format!("granted: {granted}"))
        } else {
            let names: Vec<String> = missing
                .iter()
                .map(|r| format!("{} (for {})", r.any_of[0], r.why))
                .collect();
            CheckItem::failed(
                &permissions_name,
                format!("missing: {}; granted: {granted}", names.join(", ")),
                format!(
                    "grant these application permissions (Microsoft Graph, with admin consent) to client id {} in tenant {}",
                    cfg.credential
                        .client_id()
                        .unwrap_or("(the managed identity)"),
                    cfg.tenant_id
                ),
            )
        };
        (sign_in, permissions)
    }

    async fn check_policy(&self) -> Vec<CheckItem> {
        const POLICY: &str = "cross-tenant access policy";
        const REDEEM: &str = "automatic redemption";
        let source = &self.source_cfg.tenant_id;
        let target = &self.target_cfg.tenant_id;
        let policy = match self.target.cross_tenant_partner_policy(source).await {
            Ok(p) => p,
            Err(e) => {
                return vec![
                    CheckItem::failed(
                        POLICY,
                        format!("reading the target's cross-tenant access settings failed: {e}"),
                        graph_remedy(&e, "Policy.Read.All"),
                    ),
                    CheckItem::warning(
                        REDEEM,
                        "not checked: the cross-tenant access settings could not be read",
                        "fix the item above, then run `tenantsync check` again",
                    ),
                ];
            }
        };
        let mut items = Vec::new();
        items.push(if !policy.configured {
            CheckItem::failed(
                POLICY,
                format!("the target tenant {target} has no partner configuration for the source tenant {source}"),
                "in the target tenant, add the source tenant under External Identities > Cross-tenant access settings, then allow user synchronization into this tenant (Cross-tenant sync tab)",
            )
        } else {
            match policy.user_sync_inbound_allowed {
                Some(true) => CheckItem::ok(
                    POLICY,
                    format!("the target tenant {target} allows inbound user synchronization from {source}"),
                ),
                Some(false) => CheckItem::failed(
                    POLICY,
                    format!("the target tenant {target} refuses inbound user synchronization from {source} (userSyncInbound.isSyncAllowed is false)"),
                    "in the target tenant's inbound settings for the source, tick \"Allow users sync into this tenant\" (Cross-tenant sync tab)",
                ),
                None => CheckItem::failed(
                    POLICY,
                    format!("the target tenant {target} has no identity synchronization policy for {source}"),
                    "in the target tenant's inbound settings for the source, tick \"Allow users sync into this tenant\" (Cross-tenant sync tab)",
                ),
            }
        });
        items.push(match policy.automatic_redemption_inbound {
            Some(true) => CheckItem::ok(
                REDEEM,
                format!("the target tenant {target} redeems invitations from {source} automatically (inbound); the source must allow it outbound too"),
            ),
            Some(false) | None => CheckItem::warning(
                REDEEM,
                format!("the target tenant {target} does not redeem invitations from {source} automatically"),
                "tick \"Automatically redeem invitations\" in the target's inbound and the source's outbound trust settings; otherwise synced users see a consent prompt on first sign-in",
            ),
        });
        items
    }

    async fn check_anchor(&mut self) -> CheckItem {
        const NAME: &str = "anchor extension";
        let configured = self.config.options.anchor_attribute.clone();
        if configured.starts_with("extension_") {
            return CheckItem::ok(
                NAME,
                format!("anchors are kept in {configured} ([options] anchor_attribute)"),
            );
        }
        let kept = match self
            .state()
            .and_then(|s| Ok(s.setting("anchor_attribute")?))
        {
            Ok(k) => k,
            Err(e) => {
                return CheckItem::warning(
                    NAME,
                    format!("not checked: the state cannot be read: {e}"),
                    "fix the state file (see the item below), then run `tenantsync check` again",
                );
            }
        };
        let app_id = match self.anchor_app_id() {
            Ok(a) => a,
            Err(e) => return CheckItem::failed(NAME, e.to_string(), "set [target] anchor_app_id"),
        };
        let apps = crate::graph::list_all(
            &self.target,
            crate::graph::GraphRequest::get(format!(
                "/applications?$select=id,appId&$filter={}",
                crate::graph::client::encode_query_value(&format!("appId eq '{app_id}'"))
            )),
        )
        .await;
        let object_id = match apps {
            Ok(apps) => apps
                .first()
                .and_then(|a| a.get("id"))
                .and_then(Json::as_str)
                .map(str::to_string),
            Err(e) => {
                return CheckItem::failed(
                    NAME,
                    format!("reading the application {app_id} in the target failed: {e}"),
                    graph_remedy(&e, "Application.ReadWrite.OwnedBy"),
                );
            }
        };
        let Some(object_id) = object_id else {
            return CheckItem::failed(
                NAME,
                format!("no application with appId {app_id} in the target tenant"),
                "set [target] anchor_app_id to an app registration of the target tenant",
            );
        };
        match self
            .target
            .get_extension_property(&object_id, ANCHOR_EXTENSION_NAME)
            .await
        {
            Ok(Some(p)) => match kept {
                Some(k) if k == p.name => {
                    CheckItem::ok(NAME, format!("{} exists on application {app_id}", p.name))
                }
                _ => CheckItem::warning(
                    NAME,
                    format!(
                        "{} exists on application {app_id}, but this job's state does not know it yet",
                        p.name
                    ),
                    "run `tenantsync init` (it finds the extension and keeps its name)",
                ),
            },
            Ok(None) => CheckItem::failed(
                NAME,
                format!("application {app_id} has no {ANCHOR_EXTENSION_NAME} extension yet"),
                "run `tenantsync init` to create it",
            ),
            Err(e) => CheckItem::failed(
                NAME,
                format!("reading the extensions of application {app_id} failed: {e}"),
                graph_remedy(&e, "Application.ReadWrite.OwnedBy"),
            ),
        }
    }

    fn check_schema(&self) -> CheckItem {
        const NAME: &str = "schema";
        let issues = schema::validate(&self.schema);
        let errors: Vec<String> = issues
            .iter()
            .filter(|i| i.severity == schema::Severity::Error)
            .map(|i| i.to_string())
            .collect();
        let warnings: Vec<String> = issues
            .iter()
            .filter(|i| i.severity != schema::Severity::Error)
            .map(|i| i.to_string())
            .collect();
        let which = match self.config.schema_path() {
            Some(p) => p.display().to_string(),
            None => "the built-in schema".into(),
        };
        if !errors.is_empty() {
            CheckItem::failed(
                NAME,
                format!("{which} is invalid: {}", errors.join("; ")),
                "run `tenantsync schema validate` and fix the errors",
            )
        } else if !warnings.is_empty() {
            CheckItem::warning(
                NAME,
                format!("{which} is valid, with warnings: {}", warnings.join("; ")),
                "run `tenantsync schema validate` for details",
            )
        } else {
            CheckItem::ok(NAME, format!("{which} is valid"))
        }
    }

    fn check_state(&mut self) -> CheckItem {
        const NAME: &str = "state file";
        let path = self.state_path.display().to_string();
        let now = self.clock.now();
        let result = self.state().and_then(|s| {
            s.set_setting("last_check", &now.to_rfc3339())?;
            Ok(())
        });
        match result {
            Ok(()) => CheckItem::ok(NAME, format!("{path} is writable")),
            Err(e) => CheckItem::failed(
                NAME,
                format!("{path} cannot be written: {e}"),
                "make the directory writable for this account, or set state_path to a writable place",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn jwt(claims: &Json) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256","typ":"JWT"}"#),
            enc(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn reads_roles_from_a_token() {
        let token =
            jwt(&serde_json::json!({"tid": "t", "roles": ["User.Read.All", "Group.Read.All"]}));
        let claims = token_claims(&token).expect("claims");
        assert_eq!(token_roles(&claims), ["User.Read.All", "Group.Read.All"]);
        assert!(token_claims("not-a-token").is_none());
        assert!(token_roles(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn supersets_satisfy_requirements() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            missing_permissions(&roles(&["Directory.Read.All"]), SOURCE_PERMISSIONS).is_empty()
        );
        assert!(
            missing_permissions(
                &roles(&["user.readwrite.all", "Group.ReadWrite.All"]),
                SOURCE_PERMISSIONS
            )
            .is_empty()
        );
        let missing = missing_permissions(&roles(&["User.Read.All"]), SOURCE_PERMISSIONS);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].any_of[0], "Group.Read.All");
        let missing = missing_permissions(
            &roles(&[
                "User.Invite.All",
                "User.ReadWrite.All",
                "Group.ReadWrite.All",
            ]),
            TARGET_PERMISSIONS,
        );
        assert_eq!(
            missing.iter().map(|r| r.any_of[0]).collect::<Vec<_>>(),
            ["Policy.Read.All"]
        );
    }

    #[test]
    fn report_verdicts() {
        let mut r = CheckReport::default();
        assert!(r.passed());
        r.items.push(CheckItem::warning("a", "x", "y"));
        assert!(r.passed());
        assert_eq!(r.worst(), CheckStatus::Warning);
        r.items.push(CheckItem::failed("b", "x", "y"));
        assert!(!r.passed());
        assert_eq!(r.worst(), CheckStatus::Failed);
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["items"][1]["status"], "failed");
        assert_eq!(json["items"][0]["name"], "a");
    }
}

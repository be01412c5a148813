//! Preflight: whether a job can run, item by item, each with a verdict and what to do.
//!
//! `Engine::check` signs in to both tenants, checks that each token is for the configured
//! tenant (its `tid` claim) and reads the application permissions granted to it (the `roles`
//! claim), without any directory read of its own; it compares those with what the job needs
//! ([`SOURCE_PERMISSIONS`], [`TARGET_PERMISSIONS`], [`ANCHOR_PERMISSION`], each naming the
//! Graph calls it serves) and names each missing one with its fix. It then reads the target's
//! cross-tenant access settings for the source, looks for the anchor extension and tries the
//! state file. It never writes to a tenant. The CLI renders the report (`tenantsync check`);
//! the C ABI hands it out as JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::config::TenantConfig;
use crate::graph::GraphError;
use crate::graph::auth::Credential;
#[cfg(test)]
use crate::graph::auth::token_claims;
use crate::schema;

use super::{ANCHOR_EXTENSION_NAME, Engine, SignedIn};

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

/// One application permission a job needs: `any_of[0]`, the permission to grant, or any other
/// of `any_of`, each of which Microsoft's permission table lists for every call in `calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The permissions that satisfy it; the first is the one docs/authentication.md lists.
    pub any_of: &'static [&'static str],
    /// What it is needed for.
    pub why: &'static str,
    /// The Graph calls it serves, as `METHOD /path` templates of Microsoft's API reference (a
    /// suffix in parentheses names the object type whose table applies).
    pub calls: &'static [&'static str],
}

impl Requirement {
    /// The permission to grant (the one docs/authentication.md lists).
    pub fn permission(&self) -> &'static str {
        self.any_of[0]
    }

    /// Whether `roles` (a token's `roles` claim) meets it.
    pub fn met_by(&self, roles: &[String]) -> bool {
        self.any_of
            .iter()
            .any(|p| roles.iter().any(|g| g.eq_ignore_ascii_case(p)))
    }
}

/// What the source tenant's application needs: reading users and groups with their members
/// by delta query (a full read is a delta round without token).
pub const SOURCE_PERMISSIONS: &[Requirement] = &[
    Requirement {
        any_of: &[
            "User.Read.All",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        why: "reading users",
        calls: &["GET /users/delta"],
    },
    Requirement {
        any_of: &[
            "GroupMember.Read.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        why: "reading groups and their members",
        calls: &["GET /groups/delta"],
    },
];

/// What the target tenant's application needs: inviting, updating, deleting and restoring
/// users; writing groups and memberships; reading the cross-tenant access policy.
pub const TARGET_PERMISSIONS: &[Requirement] =
    &[USERS_PERMISSION, GROUPS_PERMISSION, POLICY_PERMISSION];

/// What the target application needs for users; part of [`TARGET_PERMISSIONS`].
pub const USERS_PERMISSION: Requirement = Requirement {
    any_of: &["User.ReadWrite.All"],
    why: "reading, inviting, updating, deleting and restoring users",
    calls: &[
        "GET /users",
        "GET /users/{id}",
        "POST /invitations",
        "PATCH /users/{id}",
        "DELETE /users/{id}",
        "GET /directory/deletedItems/microsoft.graph.user",
        "POST /directory/deletedItems/{id}/restore (user)",
    ],
};

/// What the target application needs for groups and memberships; part of
/// [`TARGET_PERMISSIONS`].
pub const GROUPS_PERMISSION: Requirement = Requirement {
    any_of: &["Group.ReadWrite.All"],
    why: "reading, creating, updating, deleting and restoring groups and their members",
    calls: &[
        "GET /groups/delta",
        "GET /groups/{id}",
        "POST /groups",
        "PATCH /groups/{id}",
        "PATCH /groups/{id} (members@odata.bind)",
        "DELETE /groups/{id}",
        "POST /groups/{id}/members/$ref",
        "DELETE /groups/{id}/members/{id}/$ref",
        "GET /directory/deletedItems/microsoft.graph.group",
        "POST /directory/deletedItems/{id}/restore (group)",
    ],
};

/// What the target application needs to read the cross-tenant access settings for the source
/// (this check); part of [`TARGET_PERMISSIONS`].
pub const POLICY_PERMISSION: Requirement = Requirement {
    any_of: &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
    why: "reading the cross-tenant access settings for the source (this check)",
    calls: &[
        "GET /policies/crossTenantAccessPolicy/partners/{id}",
        "GET /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization",
    ],
};

/// What the target application needs to create the anchor extension (`tenantsync init`) and
/// find it again (`tenantsync check`).
pub const ANCHOR_PERMISSION: Requirement = Requirement {
    any_of: &["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"],
    why: "creating and finding the anchor directory extension",
    calls: &[
        "GET /applications",
        "GET /applications/{id}/extensionProperties",
        "POST /applications/{id}/extensionProperties",
    ],
};

/// The permissions that let `check` show a tenant's display name (`GET /organization`). Not
/// needed: without them `check` shows the tenant id.
pub const ORGANIZATION_NAME: Requirement = Requirement {
    any_of: &["Directory.Read.All", "Directory.ReadWrite.All"],
    why: "showing the tenant's name",
    calls: &["GET /organization"],
};

/// The target permission an apply operation of `kind` (`createUser`, `addMember`, ...) needs,
/// with the Graph calls it makes (each one of the requirement's calls): what a 403 on it
/// means.
pub(crate) fn operation_permission(
    kind: &str,
) -> Option<(&'static Requirement, &'static [&'static str])> {
    let (requirement, calls): (&'static Requirement, &'static [&'static str]) = match kind {
        "createUser" => (&USERS_PERMISSION, &["POST /invitations"]),
        "updateUser" | "disableUser" => (&USERS_PERMISSION, &["PATCH /users/{id}"]),
        "deleteUser" => (&USERS_PERMISSION, &["DELETE /users/{id}"]),
        "restoreUser" => (
            &USERS_PERMISSION,
            &[
                "POST /directory/deletedItems/{id}/restore (user)",
                "GET /users/{id}",
            ],
        ),
        "createGroup" => (&GROUPS_PERMISSION, &["POST /groups"]),
        "updateGroup" => (&GROUPS_PERMISSION, &["PATCH /groups/{id}"]),
        "addMember" => (
            &GROUPS_PERMISSION,
            &[
                "PATCH /groups/{id} (members@odata.bind)",
                "POST /groups/{id}/members/$ref",
            ],
        ),
        "removeMember" => (
            &GROUPS_PERMISSION,
            &["DELETE /groups/{id}/members/{id}/$ref"],
        ),
        "deleteGroup" => (&GROUPS_PERMISSION, &["DELETE /groups/{id}"]),
        "restoreGroup" => (
            &GROUPS_PERMISSION,
            &[
                "POST /directory/deletedItems/{id}/restore (group)",
                "GET /groups/{id}",
            ],
        ),
        _ => return None,
    };
    Some((requirement, calls))
}

/// The requirements `roles` does not meet.
pub(crate) fn missing_permissions<'a>(
    roles: &[String],
    required: &'a [Requirement],
) -> Vec<&'a Requirement> {
    required.iter().filter(|r| !r.met_by(roles)).collect()
}

/// The application permissions (`roles`) of a token's claims.
pub(crate) fn token_roles(claims: &Json) -> Vec<String> {
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

/// The delegated permissions (`scp`, space-separated) of a token issued to a signed-in
/// account; empty for an application's own token.
pub(crate) fn token_scopes(claims: &Json) -> Vec<String> {
    claims
        .get("scp")
        .and_then(Json::as_str)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The delegated scope with which a signed-in account acts with all its own directory rights:
/// what it may read or change then follows the account's directory roles, which a token
/// does not carry.
/// <https://learn.microsoft.com/en-us/graph/permissions-reference#directoryaccessasuserall>
pub(super) const ACCESS_AS_USER: &str = "Directory.AccessAsUser.All";

/// What to do about a delegated permission a signed-in account's token lacks.
fn consent(requirement: &Requirement, cfg: &TenantConfig) -> String {
    format!(
        "consent to delegated permission {} for the Azure CLI in tenant {} (or give the job an application credential)",
        requirement.permission(),
        cfg.tenant_id
    )
}

/// Who a tenant's credential is, for messages: never the secret.
fn who(tenant: &TenantConfig) -> String {
    format!(
        "{} ({})",
        who_in(tenant, &tenant.tenant_id),
        tenant.credential.kind()
    )
}

/// `tenant T as client id C`, with the tenant as given; for the `azure-cli` kind, the account
/// signed in to the Azure CLI (its token names no app of the tenant).
fn who_in(cfg: &TenantConfig, tenant: &str) -> String {
    match cfg.credential {
        Credential::AzureCli { .. } => {
            format!("tenant {tenant} as the Azure CLI's signed-in account")
        }
        _ => format!("tenant {tenant} as client id {}", app_of(cfg)),
    }
}

/// The application of a tenant's credential, for messages.
fn app_of(cfg: &TenantConfig) -> &str {
    cfg.credential
        .client_id()
        .unwrap_or("(system-assigned identity)")
}

/// What to do about a missing permission: which one to grant, to which app, in which tenant.
pub(crate) fn grant(requirement: &Requirement, cfg: &TenantConfig) -> String {
    format!(
        "grant application permission {} to app {} in tenant {} and grant admin consent",
        requirement.permission(),
        app_of(cfg),
        cfg.tenant_id
    )
}

/// The permissions item for a token issued to a signed-in account (delegated `scopes`): with
/// [`ACCESS_AS_USER`] the account's directory roles decide, which the token does not tell,
/// so the item is a warning naming the roles a job needs; otherwise each requirement must be
/// among the scopes, as for an application's roles.
fn delegated_permissions(
    name: &str,
    scopes: &[String],
    required: &[Requirement],
    cfg: &TenantConfig,
) -> CheckItem {
    let granted = scopes.join(", ");
    if scopes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(ACCESS_AS_USER))
    {
        return CheckItem::warning(
            name,
            format!("delegated: acts as the signed-in account ({granted})"),
            "what the job may read and change follows the account's directory roles: in the target it needs User Administrator and Groups Administrator (or Global Administrator), in the source Directory Readers",
        );
    }
    let missing = missing_permissions(scopes, required);
    if missing.is_empty() {
        return CheckItem::ok(name, format!("delegated: {granted}"));
    }
    let names: Vec<String> = missing
        .iter()
        .map(|r| format!("{} (for {})", r.permission(), r.why))
        .collect();
    let fixes: Vec<String> = missing.iter().map(|r| consent(r, cfg)).collect();
    CheckItem::failed(
        name,
        format!(
            "missing delegated: {}; granted: {granted}",
            names.join(", ")
        ),
        fixes.join("; "),
    )
}

/// What to do about a Graph error answered to a read the check makes with `requirement`.
fn graph_remedy(e: &GraphError, requirement: &Requirement, cfg: &TenantConfig) -> String {
    match e.status() {
        Some(401) | Some(403) => grant(requirement, cfg),
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
        let signed = match SignedIn::from_token(side, cfg, token.token.expose()) {
            Ok(s) => s,
            Err(e) => {
                return (
                    CheckItem::failed(
                        &sign_in_name,
                        format!("{e} (signed in as {})", who(cfg)),
                        format!(
                            "make [{side}] tenant_id and the credential's tenant_id name the same tenant"
                        ),
                    ),
                    not_checked("the token is for another tenant"),
                );
            }
        };
        let Some(token_tenant) = signed.tenant_id.clone() else {
            return (
                CheckItem::ok(&sign_in_name, format!("signed in: {}", who(cfg))),
                CheckItem::warning(
                    &permissions_name,
                    "the access token is not a readable JWT, so its tenant and permissions cannot be listed",
                    "check the application's API permissions in the Entra admin center",
                ),
            );
        };
        // The tenant as the token names it; a domain name in the configuration is shown with
        // the id the token carries, since matching a domain would need a directory read.
        let tenant = if token_tenant.eq_ignore_ascii_case(cfg.tenant_id.trim()) {
            token_tenant.clone()
        } else {
            format!(
                "{} (tenant id {token_tenant}, from the token)",
                cfg.tenant_id
            )
        };
        // The tenant's name only when the granted permissions allow reading it; otherwise,
        // or when the read fails, the tenant id: signing in needs no directory read.
        let name = if ORGANIZATION_NAME.met_by(&signed.roles) {
            client
                .get_json("/organization?$select=id,displayName")
                .await
                .ok()
                .and_then(|org| {
                    org.pointer("/value/0/displayName")
                        .and_then(Json::as_str)
                        .map(str::to_string)
                })
        } else {
            None
        };
        let sign_in = CheckItem::ok(
            &sign_in_name,
            match name {
                Some(name) => format!(
                    "signed in to {name}: {} ({})",
                    who_in(cfg, &tenant),
                    cfg.credential.kind()
                ),
                None => format!(
                    "signed in: {} ({})",
                    who_in(cfg, &tenant),
                    cfg.credential.kind()
                ),
            },
        );

        let roles = signed.roles;
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
        if !signed.scopes.is_empty() {
            return (
                sign_in,
                delegated_permissions(&permissions_name, &signed.scopes, &required, cfg),
            );
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
                .map(|r| format!("{} (for {})", r.permission(), r.why))
                .collect();
            let fixes: Vec<String> = missing.iter().map(|r| grant(r, cfg)).collect();
            CheckItem::failed(
                &permissions_name,
                format!("missing: {}; granted: {granted}", names.join(", ")),
                fixes.join("; "),
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
                        graph_remedy(&e, &POLICY_PERMISSION, &self.target_cfg),
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
                    graph_remedy(&e, &ANCHOR_PERMISSION, &self.target_cfg),
                );
            }
        };
        let Some(object_id) = object_id else {
            return CheckItem::failed(
                NAME,
                format!("no application with appId {app_id} is visible in the target tenant"),
                "set [target] anchor_app_id to an app registration of the target tenant; with Application.ReadWrite.OwnedBy the job's app sees only the registrations it owns: add its service principal as an owner of that registration (docs/authentication.md, the anchor)",
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
                graph_remedy(&e, &ANCHOR_PERMISSION, &self.target_cfg),
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
        if self.remote.is_some() {
            // Read as it is now, without the lease (a run takes it).
            let url = self.state_location();
            return match self.state() {
                Ok(_) => CheckItem::ok("state blob", format!("{url} is readable")),
                Err(e) => CheckItem::failed(
                    "state blob",
                    format!("{url} cannot be read: {e}"),
                    "check [state.azure_blob] (account_url, container, blob, credential) and that the job's identity has the role Storage Blob Data Contributor on the container",
                ),
            };
        }
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
    fn sign_in_labels_name_the_account_or_the_app() {
        let tenant = |credential: Credential| TenantConfig {
            tenant_id: "t".into(),
            cloud: Default::default(),
            credential,
            anchor_app_id: None,
        };
        let cli = tenant(Credential::AzureCli { tenant_id: None });
        assert_eq!(
            who(&cli),
            "tenant t as the Azure CLI's signed-in account (azure-cli)"
        );
        let system = tenant(Credential::ManagedIdentity { client_id: None });
        assert_eq!(
            who(&system),
            "tenant t as client id (system-assigned identity) (managed-identity)"
        );
        let user = tenant(Credential::ManagedIdentity {
            client_id: Some("uami".into()),
        });
        assert_eq!(who(&user), "tenant t as client id uami (managed-identity)");
    }

    #[test]
    fn a_signed_in_accounts_delegated_scopes_are_checked_as_scopes() {
        let cfg = TenantConfig {
            tenant_id: "t".into(),
            cloud: Default::default(),
            credential: Credential::AzureCli { tenant_id: None },
            anchor_app_id: None,
        };
        let claims =
            serde_json::json!({"tid": "t", "scp": "User.Read.All GroupMember.Read.All email"});
        let scopes = token_scopes(&claims);
        assert_eq!(scopes, ["User.Read.All", "GroupMember.Read.All", "email"]);
        assert!(token_roles(&claims).is_empty());
        let enough = delegated_permissions("p", &scopes, SOURCE_PERMISSIONS, &cfg);
        assert_eq!(enough.status, CheckStatus::Ok, "{enough:?}");
        let short = delegated_permissions("p", &scopes[..1], SOURCE_PERMISSIONS, &cfg);
        assert_eq!(short.status, CheckStatus::Failed);
        let fix = short.remedy.as_deref().unwrap_or_default();
        assert!(
            fix.contains("consent to delegated permission GroupMember.Read.All"),
            "{fix}"
        );
        // Acting as the user: the account's directory roles decide, which only a warning can say.
        let as_user =
            delegated_permissions("p", &[ACCESS_AS_USER.to_string()], TARGET_PERMISSIONS, &cfg);
        assert_eq!(as_user.status, CheckStatus::Warning);
        assert!(as_user.detail.contains("signed-in account"), "{as_user:?}");
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
        assert_eq!(missing[0].permission(), "GroupMember.Read.All");
        let missing = missing_permissions(
            &roles(&["User.ReadWrite.All", "Group.ReadWrite.All"]),
            TARGET_PERMISSIONS,
        );
        assert_eq!(
            missing.iter().map(|r| r.any_of[0]).collect::<Vec<_>>(),
            ["Policy.Read.All"]
        );
    }

    #[test]
    fn every_operation_names_a_permission_that_covers_its_calls() {
        for kind in [
            "restoreUser",
            "createUser",
            "updateUser",
            "disableUser",
            "deleteUser",
            "restoreGroup",
            "createGroup",
            "updateGroup",
            "addMember",
            "removeMember",
            "deleteGroup",
        ] {
            let (requirement, calls) = operation_permission(kind).expect(kind);
            assert!(TARGET_PERMISSIONS.contains(requirement), "{kind}");
            for call in calls {
                assert!(requirement.calls.contains(call), "{kind}: {call}");
            }
        }
        assert!(operation_permission("nothing").is_none());
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

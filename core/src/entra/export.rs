//! A tenantsync job from an Entra cross-tenant synchronization job: `job.toml` (tenants,
//! cloud, scope from the job's assignments and its "sync all" setting) and `schema.json` (the
//! job's schema), with the list of what tenantsync does differently for this job.

use serde::Serialize;
use serde_json::Value;

use super::{EntraError, api, group_sync_enabled};
use crate::config::TenantConfig;
use crate::graph::GraphClient;

/// What Graph says about the job, gathered for [`export`].
#[derive(Debug, Clone)]
pub struct EntraJob {
    /// The job id.
    pub job_id: String,
    /// The job resource (with `synchronizationJobSettings`).
    pub job: Value,
    /// The job's schema.
    pub schema: Value,
    /// appRoleAssignment resources of the job's service principal.
    pub assignments: Vec<Value>,
    /// The synchronization secrets (`CompanyId`, `SyncAll`, ...).
    pub secrets: Vec<(String, String)>,
}

/// The exported job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Export {
    /// The text of `job.toml`.
    pub job_toml: String,
    /// The text of `schema.json`.
    pub schema_json: String,
    /// The target tenant (the job's `CompanyId`).
    pub target_tenant_id: String,
    /// What tenantsync does differently for this job, one sentence each.
    pub differences: Vec<String>,
}

/// Reads what [`export`] needs from Graph.
pub async fn read_job(
    client: &GraphClient,
    job_id: &str,
    service_principal: Option<&str>,
) -> Result<EntraJob, EntraError> {
    let located = api::locate(client, job_id, service_principal).await?;
    let sp = located.service_principal_id().to_string();
    let job = located.job_id().to_string();
    Ok(EntraJob {
        schema: api::schema(client, &sp, &job).await?,
        assignments: api::assignments(client, &sp).await?,
        secrets: api::secrets(client, &sp).await?,
        job_id: job,
        job: located.job,
    })
}

fn secret<'a>(job: &'a EntraJob, key: &str) -> Option<&'a str> {
    job.secrets
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|i| toml_string(i)).collect();
    format!("[{}]", parts.join(", "))
}

fn table(name: &str, tenant: &TenantConfig) -> Result<String, EntraError> {
    let value = toml::Value::try_from(tenant)
        .map_err(|e| EntraError::Invalid(format!("cannot write the [{name}] section: {e}")))?;
    let mut out = format!("[{name}]\n");
    if let toml::Value::Table(t) = value {
        // One line per key, inline values, as docs/configuration.md writes them.
        for key in ["tenant_id", "cloud", "credential", "anchor_app_id"] {
            if let Some(v) = t.get(key) {
                out.push_str(&format!("{key} = {v}\n"));
            }
        }
    }
    Ok(out)
}

/// The tenantsync job for `job`: `source` is the `[source]` section the command signed in
/// with; `target` the `[target]` section when the configuration has one (else the exported
/// `[target]` names the tenant and asks for its credential).
pub fn export(
    job: &EntraJob,
    source: &TenantConfig,
    target: Option<&TenantConfig>,
) -> Result<Export, EntraError> {
    let target_tenant = secret(job, "CompanyId")
        .map(str::to_string)
        .or_else(|| target.map(|t| t.tenant_id.clone()))
        .ok_or_else(|| {
            EntraError::Invalid(format!(
                "job `{}` has no CompanyId secret naming its target tenant; add a [target] section to --config",
                job.job_id
            ))
        })?;
    let sync_all = secret(job, "SyncAll").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut users = Vec::new();
    let mut groups = Vec::new();
    for a in &job.assignments {
        let Some(id) = a["principalId"].as_str() else {
            continue;
        };
        match a["principalType"].as_str() {
            Some("Group") => groups.push(id.to_string()),
            Some("User") => users.push(id.to_string()),
            _ => {}
        }
    }
    let mut differences = Vec::new();
    if sync_all {
        differences.push(
            "scope: Entra's \"Sync all users and groups\" is exported as mode = \"all\": every internal member user is in scope; groups are in scope only when assigned (the job's assigned groups are listed)"
                .to_string(),
        );
        if !users.is_empty() {
            differences.push(format!(
                "scope: {} user assignment(s) are not needed with mode = \"all\" and are left out",
                users.len()
            ));
            users.clear();
        }
    }
    let mut text = format!(
        "# Exported from Entra cross-tenant synchronization job {} by `tenantsync entra export`.\n\
         # Every key is described in docs/configuration.md; docs/entra.md explains the export.\n\
         name = {}\n\
         schema = \"schema.json\"\n\n\
         [scope]\n\
         mode = \"{}\"\n\
         users = {}\n\
         groups = {}\n\n",
        job.job_id,
        toml_string(&format!("exported from Entra job {}", job.job_id)),
        if sync_all { "all" } else { "assigned" },
        toml_list(&users),
        toml_list(&groups),
    );
    if let Some(threshold) = job.job["synchronizationJobSettings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "QuarantineTooManyDeletesThreshold")
        .and_then(|s| s["value"].as_str())
        .and_then(|v| v.parse::<u64>().ok())
    {
        text.push_str(&format!(
            "[options]\n# Entra's accidental-deletion threshold (QuarantineTooManyDeletesThreshold).\ndeletion_threshold = {threshold}\n\n"
        ));
    }
    text.push_str(&table("source", source)?);
    text.push('\n');
    match target {
        Some(t) => {
            if !t.tenant_id.eq_ignore_ascii_case(&target_tenant) {
                differences.push(format!(
                    "target: the [target] of --config is tenant {}, but the Entra job writes to {target_tenant}; the export keeps --config's [target]: check it is the tenant you mean",
                    t.tenant_id
                ));
            }
            text.push_str(&table("target", t)?);
        }
        None => {
            text.push_str(&format!(
                "[target]\ntenant_id = {}\ncloud = {}\n# Fill in the target application's credential (docs/authentication.md), e.g.\n# credential = {{ kind = \"client-secret\", tenant_id = \"{target_tenant}\", client_id = \"...\", secret = {{ env = \"TENANTSYNC_TARGET_SECRET\" }} }}\n",
                toml_string(&target_tenant),
                cloud_toml(source)?,
            ));
            differences.push(
                "target: the Entra job signs in to the target through the cross-tenant access policy; tenantsync needs an application in the target tenant: fill in [target] credential in job.toml"
                    .to_string(),
            );
        }
    }
    differences.extend(schema_differences(&job.schema));
    differences.push(
        "schedule: Entra runs a cycle every 40 minutes; tenantsync runs when started (`tenantsync sync`, or `--watch` with [sync] interval, default 30s)"
            .to_string(),
    );
    let schema_json =
        serde_json::to_string_pretty(&job.schema).expect("a JSON value serializes") + "\n";
    Ok(Export {
        job_toml: text,
        schema_json,
        target_tenant_id: target_tenant,
        differences,
    })
}

fn cloud_toml(source: &TenantConfig) -> Result<String, EntraError> {
    #[derive(Serialize)]
    struct C<'a> {
        cloud: &'a crate::graph::Cloud,
    }
    let text = toml::to_string(&C {
        cloud: &source.cloud,
    })
    .map_err(|e| EntraError::Invalid(format!("cannot write the cloud: {e}")))?;
    // `cloud = "global"` or a `[cloud...]` table: keep the value form on one line.
    let value: toml::Value = toml::from_str(&text)
        .map_err(|e| EntraError::Invalid(format!("cannot write the cloud: {e}")))?;
    Ok(value["cloud"].to_string())
}

/// What tenantsync does differently with this schema.
pub(crate) fn schema_differences(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !group_sync_enabled(schema) {
        out.push(
            "groups: the job's group mapping is disabled, so groups are not synchronized, as in Entra; tenantsync synchronizes them once it is enabled (`tenantsync entra enable-group-sync` does it for Entra, or edit schema.json)"
                .to_string(),
        );
    } else {
        out.push(
            "groups: tenantsync follows nested groups only with [options] nested_groups = \"flatten\" (Entra does not synchronize nested groups; the default \"skip\" does the same)"
                .to_string(),
        );
    }
    for m in schema["synchronizationRules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array().into_iter().flatten())
        .filter(|m| m["enabled"] == Value::Bool(true))
    {
        let object = m["sourceObjectName"].as_str().unwrap_or_default();
        for a in m["attributeMappings"].as_array().into_iter().flatten() {
            let target = a["targetAttributeName"].as_str().unwrap_or_default();
            let expression = a["source"]["expression"].as_str().unwrap_or_default();
            if target == "alternativeSecurityIds" {
                out.push(format!(
                    "{object} matching: Entra matches target users by alternativeSecurityIds ({expression}), an identity only its service reads and writes; tenantsync cannot read netId, so users Entra created are not matched by it: add a second matching attribute (such as mail) to schema.json before the first sync, or they are invited again"
                ));
            } else if target == "IsSoftDeleted" {
                out.push(format!(
                    "{object} IsSoftDeleted: Entra's soft-delete marker is not a Graph property; tenantsync decides deprovisioning with [options] user_deprovision and group_deprovision instead"
                ));
            }
        }
        if !m["scope"].is_null() {
            out.push(format!(
                "{object} scoping filter: evaluated by tenantsync as Entra documents it (clauses ANDed, filters ORed, null is false)"
            ));
        }
    }
    out
}

//! Microsoft Graph's synchronization API (the provisioning service behind Entra's
//! cross-tenant synchronization) and the service principals it hangs from:
//! `servicePrincipals` (with `appRoleAssignedTo`), `.../synchronization/templates`,
//! `.../synchronization/jobs` (list, get, `start`, `pause`, `restart`), `.../jobs/{id}/schema`
//! (GET and PUT) and `.../synchronization/secrets` (read).
//!
//! Each handler names the Microsoft Learn page of its request and response shapes. The
//! permissions each endpoint accepts are in the central table (`permissions.rs`), copied from
//! the *Application* row of the page's permission table.
//!
//! A tenant holds no service principal until [`seed_cross_tenant_job`] adds one made from the
//! cross-tenant synchronization application template, with one `Azure2Azure` job whose schema
//! maps users (enabled) and holds the group mapping present but disabled, as Entra ships it.

use crate::auth::Caller;
use crate::dispatch::{GReq, GResp};
use crate::permissions::{self, Endpoint};
use serde_json::{Value, json};

/// The application template of Entra's cross-tenant synchronization app ("Cross-tenant
/// synchronization" in the gallery).
// https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph
pub const CROSS_TENANT_TEMPLATE_APP: &str = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7";
/// The synchronization template id of a cross-tenant synchronization job.
// https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph
pub const CROSS_TENANT_TEMPLATE_ID: &str = "Azure2Azure";
/// The default access app role (assignments "without a role").
// https://learn.microsoft.com/graph/api/resources/approleassignment
const DEFAULT_ACCESS_ROLE: &str = "00000000-0000-0000-0000-000000000000";

/// Refuses the request unless the token holds one of `endpoint`'s permissions (the table is
/// in `permissions.rs`, each entry citing its page).
fn need(caller: &Caller, endpoint: &Endpoint) -> Result<(), GResp> {
    if endpoint.allows(&caller.roles) {
        Ok(())
    } else {
        Err(GResp::json(403, permissions::denied_body()))
    }
}

/// A service principal with its app role assignments and synchronization.
#[derive(Debug, Clone)]
pub(crate) struct ServicePrincipal {
    /// The servicePrincipal resource.
    pub object: Value,
    /// appRoleAssignment resources granted for it (users and groups assigned to the app).
    pub assigned_to: Vec<Value>,
    /// synchronizationTemplate resources.
    pub templates: Vec<Value>,
    /// Its jobs.
    pub jobs: Vec<Job>,
    /// synchronizationSecretKeyStringValuePair resources.
    pub secrets: Vec<(String, String)>,
}

/// One synchronization job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// The synchronizationJob resource without its schema.
    pub object: Value,
    /// The job's synchronizationSchema.
    pub schema: Value,
    /// Schema PUTs accepted.
    pub schema_puts: u64,
}

/// The synchronization side of a tenant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Synchronization {
    /// Service principals with synchronization (the only ones the emulator keeps).
    pub service_principals: Vec<ServicePrincipal>,
}

impl Synchronization {
    fn sp(&self, id: &str) -> Result<&ServicePrincipal, GResp> {
        self.service_principals
            .iter()
            .find(|s| same(&s.object["id"], id) || same(&s.object["appId"], id))
            .ok_or_else(|| not_found(id))
    }

    fn sp_mut(&mut self, id: &str) -> Result<&mut ServicePrincipal, GResp> {
        self.service_principals
            .iter_mut()
            .find(|s| same(&s.object["id"], id) || same(&s.object["appId"], id))
            .ok_or_else(|| not_found(id))
    }

    /// The job `job_id` of any service principal.
    pub(crate) fn job_mut(&mut self, job_id: &str) -> Option<&mut Job> {
        self.service_principals
            .iter_mut()
            .flat_map(|s| s.jobs.iter_mut())
            .find(|j| same(&j.object["id"], job_id))
    }
}

fn same(v: &Value, id: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(id))
}

fn not_found(id: &str) -> GResp {
    GResp::error(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn job_not_found(id: &str) -> GResp {
    GResp::error(
        404,
        "NotFound",
        &format!("The synchronization job '{id}' was not found."),
    )
}

fn bad(code: &str, msg: &str) -> GResp {
    GResp::error(400, code, msg)
}

fn find_job<'a>(sp: &'a ServicePrincipal, id: &str) -> Result<&'a Job, GResp> {
    sp.jobs
        .iter()
        .find(|j| same(&j.object["id"], id))
        .ok_or_else(|| job_not_found(id))
}

fn find_job_mut<'a>(sp: &'a mut ServicePrincipal, id: &str) -> Result<&'a mut Job, GResp> {
    sp.jobs
        .iter_mut()
        .find(|j| same(&j.object["id"], id))
        .ok_or_else(|| job_not_found(id))
}

/// Serves a request under `/servicePrincipals`; `None` when the path is not one of ours.
pub(crate) fn route(
    base: &str,
    sync: &mut Synchronization,
    caller: &Caller,
    req: &GReq,
) -> Option<GResp> {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let lower: Vec<String> = s.iter().map(|x| x.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let root = format!("{base}/v1.0/$metadata#");
    let r = match (req.method.as_str(), l.as_slice()) {
        ("GET", ["serviceprincipals"]) => list_service_principals(&root, sync, caller, req),
        ("GET", ["serviceprincipals", _]) => (|| {
            // https://learn.microsoft.com/graph/api/serviceprincipal-get?view=graph-rest-1.0
            need(caller, &permissions::GET_SERVICE_PRINCIPAL)?;
            let mut o = sync.sp(s[1])?.object.clone();
            o["@odata.context"] = json!(format!("{root}servicePrincipals/$entity"));
            Ok(GResp::json(200, o))
        })(),
        ("GET", ["serviceprincipals", _, "approleassignedto"]) => (|| {
            // https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto?view=graph-rest-1.0
            need(caller, &permissions::LIST_APP_ROLE_ASSIGNED_TO)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            Ok(GResp::json(
                200,
                json!({
                    "@odata.context": format!("{root}servicePrincipals('{id}')/appRoleAssignedTo"),
                    "value": sp.assigned_to,
                }),
            ))
        })(),
        ("GET", ["serviceprincipals", _, "synchronization", "templates"]) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronization-list-templates?view=graph-rest-1.0
            need(caller, &permissions::LIST_SYNC_TEMPLATES)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            Ok(GResp::json(
                200,
                json!({
                    "@odata.context": format!("{root}servicePrincipals('{id}')/synchronization/templates"),
                    "value": sp.templates,
                }),
            ))
        })(),
        ("GET", ["serviceprincipals", _, "synchronization", "jobs"]) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronization-list-jobs?view=graph-rest-1.0
            need(caller, &permissions::LIST_SYNC_JOBS)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            let value: Vec<Value> = sp.jobs.iter().map(|j| j.object.clone()).collect();
            Ok(GResp::json(
                200,
                json!({
                    "@odata.context": format!("{root}servicePrincipals('{id}')/synchronization/jobs"),
                    "value": value,
                }),
            ))
        })(),
        ("GET", ["serviceprincipals", _, "synchronization", "jobs", _]) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-get?view=graph-rest-1.0
            need(caller, &permissions::GET_SYNC_JOB)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            let mut o = find_job(sp, s[4])?.object.clone();
            o["@odata.context"] = json!(format!(
                "{root}servicePrincipals('{id}')/synchronization/jobs/$entity"
            ));
            Ok(GResp::json(200, o))
        })(),
        (
            "GET",
            [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "schema",
            ],
        ) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-get?view=graph-rest-1.0
            need(caller, &permissions::GET_SYNC_SCHEMA)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            let job = find_job(sp, s[4])?;
            let mut o = job.schema.clone();
            o["@odata.context"] = json!(format!(
                "{root}servicePrincipals('{id}')/synchronization/jobs('{}')/schema/$entity",
                s[4]
            ));
            Ok(GResp::json(200, o))
        })(),
        (
            "PUT",
            [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "schema",
            ],
        ) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-update?view=graph-rest-1.0
            // "This method fully replaces the current schema with the one provided in the
            // request." 204 No Content.
            need(caller, &permissions::PUT_SYNC_SCHEMA)?;
            let body = match &req.body {
                Some(Ok(v @ Value::Object(_))) => v.clone(),
                Some(Ok(_)) => {
                    return Err(bad(
                        "BadRequest",
                        "The request body must be a synchronizationSchema object.",
                    ));
                }
                Some(Err(())) => {
                    return Err(bad("BadRequest", "The request body is not valid JSON."));
                }
                None => {
                    return Err(bad(
                        "BadRequest",
                        "The request body must be a synchronizationSchema object.",
                    ));
                }
            };
            let sp = sync.sp_mut(s[1])?;
            let job = find_job_mut(sp, s[4])?;
            validate_put(&job.schema, &body)?;
            let mut stored = body;
            if let Some(o) = stored.as_object_mut() {
                o.remove("@odata.context");
                // The schema's id is the job's id whatever the body says.
                o.insert("id".into(), job.object["id"].clone());
            }
            let changed = stored != job.schema;
            job.schema = stored;
            job.schema_puts += 1;
            if changed {
                // "Changing attribute mappings or scoping filters also triggers a new initial
                // cycle": the watermark is cleared.
                // https://learn.microsoft.com/entra/identity/app-provisioning/how-provisioning-works
                job.object["status"]["steadyStateLastAchievedTime"] = Value::Null;
            }
            Ok(GResp::no_content())
        })(),
        (
            "POST",
            [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "start",
            ],
        ) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-start?view=graph-rest-1.0
            // "Start an existing synchronization job. If the job is in a paused state, it
            // continues processing changes from the point where it was paused." 204.
            need(caller, &permissions::START_SYNC_JOB)?;
            let job = find_job_mut(sync.sp_mut(s[1])?, s[4])?;
            job.object["schedule"]["state"] = json!("Active");
            if job.object["status"]["quarantine"].is_null() {
                job.object["status"]["code"] = json!("Active");
            }
            Ok(GResp::no_content())
        })(),
        (
            "POST",
            [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "pause",
            ],
        ) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-pause?view=graph-rest-1.0
            // "Temporarily stop a running synchronization job. All the progress, including job
            // state, is persisted". 204.
            need(caller, &permissions::PAUSE_SYNC_JOB)?;
            let job = find_job_mut(sync.sp_mut(s[1])?, s[4])?;
            job.object["schedule"]["state"] = json!("Paused");
            job.object["status"]["code"] = json!("Paused");
            Ok(GResp::no_content())
        })(),
        (
            "POST",
            [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "restart",
            ],
        ) => (|| {
            // https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart?view=graph-rest-1.0
            need(caller, &permissions::RESTART_SYNC_JOB)?;
            let scope = restart_scope(req)?;
            let job = find_job_mut(sync.sp_mut(s[1])?, s[4])?;
            restart(job, &scope);
            Ok(GResp::no_content())
        })(),
        ("GET", ["serviceprincipals", _, "synchronization", "secrets"]) => (|| {
            // The `secrets` property of the synchronization resource (a collection of
            // synchronizationSecretKeyStringValuePair):
            // https://learn.microsoft.com/graph/api/resources/synchronization-synchronization?view=graph-rest-1.0
            // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationsecretkeystringvaluepair?view=graph-rest-1.0
            // Credentials never come back: their values read as "*".
            need(caller, &permissions::GET_SYNC_SECRETS)?;
            let sp = sync.sp(s[1])?;
            let id = sp.object["id"].as_str().unwrap_or_default();
            let value: Vec<Value> = sp
                .secrets
                .iter()
                .map(|(k, v)| {
                    let shown = if CREDENTIAL_KEYS.iter().any(|c| c.eq_ignore_ascii_case(k)) {
                        "*".to_string()
                    } else {
                        v.clone()
                    };
                    json!({"key": k, "value": shown})
                })
                .collect();
            Ok(GResp::json(
                200,
                json!({
                    "@odata.context": format!("{root}servicePrincipals('{id}')/synchronization/secrets"),
                    "value": value,
                }),
            ))
        })(),
        ("PUT", ["serviceprincipals", _, "synchronization", "secrets"]) => Err(GResp::error(
            405,
            "Request_BadRequest",
            "The emulator serves synchronization secrets read-only.",
        )),
        (_, ["serviceprincipals", ..]) if known(&l) => Err(GResp::error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )),
        _ => return None,
    };
    Some(match r {
        Ok(r) | Err(r) => r,
    })
}

fn known(l: &[&str]) -> bool {
    matches!(
        l,
        ["serviceprincipals"]
            | ["serviceprincipals", _]
            | ["serviceprincipals", _, "approleassignedto"]
            | [
                "serviceprincipals",
                _,
                "synchronization",
                "templates" | "jobs" | "secrets"
            ]
            | ["serviceprincipals", _, "synchronization", "jobs", _]
            | [
                "serviceprincipals",
                _,
                "synchronization",
                "jobs",
                _,
                "schema" | "start" | "pause" | "restart"
            ]
    )
}

/// Secret keys whose values are credentials.
// https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationsecretkeystringvaluepair?view=graph-rest-1.0
const CREDENTIAL_KEYS: &[&str] = &[
    "Password",
    "SecretToken",
    "AppKey",
    "ClientSecret",
    "ConsumerSecret",
    "TokenKey",
    "Oauth2AccessToken",
    "Oauth2RefreshToken",
    "Oauth2ClientSecret",
    "Oauth2AuthorizationCode",
    "ConnectionString",
];

/// `GET /servicePrincipals` with the `$filter` forms the tenantsync bridge and admins use.
// https://learn.microsoft.com/graph/api/serviceprincipal-list?view=graph-rest-1.0
// `applicationTemplateId`, `appId`, `displayName` and `id` support `$filter (eq)`:
// https://learn.microsoft.com/graph/api/resources/serviceprincipal?view=graph-rest-1.0#properties
fn list_service_principals(
    root: &str,
    sync: &Synchronization,
    caller: &Caller,
    req: &GReq,
) -> Result<GResp, GResp> {
    need(caller, &permissions::LIST_SERVICE_PRINCIPALS)?;
    let filter = match req.q("filter") {
        None => None,
        Some(f) => Some(parse_eq_filter(f).ok_or_else(|| {
            GResp::error(
                400,
                "Request_UnsupportedQuery",
                &format!("Unsupported or invalid query filter clause specified: '{f}'."),
            )
        })?),
    };
    let value: Vec<Value> = sync
        .service_principals
        .iter()
        .map(|s| &s.object)
        .filter(|o| match &filter {
            None => true,
            Some((prop, want)) => o
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(prop)))
                .is_some_and(|(_, v)| same(v, want)),
        })
        .cloned()
        .collect();
    Ok(GResp::json(
        200,
        json!({"@odata.context": format!("{root}servicePrincipals"), "value": value}),
    ))
}

/// `prop eq 'value'` for the filterable properties, else `None`.
fn parse_eq_filter(f: &str) -> Option<(String, String)> {
    let (prop, rest) = f.trim().split_once(' ')?;
    let rest = rest.trim_start();
    let value = rest
        .strip_prefix("eq ")
        .or_else(|| rest.strip_prefix("EQ "))?
        .trim();
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?;
    let ok = ["applicationTemplateId", "appId", "displayName", "id"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(prop));
    ok.then(|| (prop.to_string(), value.replace("''", "'")))
}

/// The `criteria.resetScope` of a restart body, validated.
// https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationjobrestartcriteria?view=graph-rest-1.0
// "Comma-separated combination of the following values: None, ConnectorDataStore, Escrows,
// Watermark, QuarantineState, Full, ForceDeletes. The property can also be empty."
fn restart_scope(req: &GReq) -> Result<Vec<String>, GResp> {
    const VALUES: &[&str] = &[
        "None",
        "ConnectorDataStore",
        "Escrows",
        "Watermark",
        "QuarantineState",
        "Full",
        "ForceDeletes",
    ];
    let text = match &req.body {
        None => return Ok(Vec::new()),
        Some(Err(())) => return Err(bad("BadRequest", "The request body is not valid JSON.")),
        Some(Ok(b)) => match b.get("criteria").and_then(|c| c.get("resetScope")) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(bad(
                    "BadRequest",
                    "criteria.resetScope must be a string such as \"Watermark, Escrows, QuarantineState\".",
                ));
            }
        },
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match VALUES.iter().find(|v| v.eq_ignore_ascii_case(part)) {
            Some(v) => out.push(v.to_string()),
            None => {
                return Err(bad(
                    "BadRequest",
                    &format!(
                        "Requested value '{part}' was not found in synchronizationJobRestartScope."
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Applies a restart. An empty scope "emulates the Restart provisioning option in the Microsoft
/// Entra admin center. It is similar to setting the resetScope to include QuarantineState,
/// Watermark, and Escrows."
// https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationjobrestartcriteria?view=graph-rest-1.0
fn restart(job: &mut Job, scope: &[String]) {
    let has = |v: &str| scope.is_empty() || scope.iter().any(|s| s == v || s == "Full");
    let status = &mut job.object["status"];
    if has("Escrows") {
        status["lastExecution"]["countEscrowed"] = json!(0);
        status["lastExecution"]["countEscrowedRaw"] = json!(0);
    }
    if has("Watermark") {
        status["steadyStateLastAchievedTime"] = Value::Null;
    }
    if has("QuarantineState") {
        status["quarantine"] = Value::Null;
        status["countSuccessiveCompleteFailures"] = json!(0);
    }
    if status["quarantine"].is_null() {
        status["code"] = json!("Active");
    }
    job.object["schedule"]["state"] = json!("Active");
}

fn schema_error(msg: &str) -> GResp {
    // "Attempting to change the matching attribute or adding additional matching attributes
    // will result in a schemaInvalid error."
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure
    GResp::error(400, "schemaInvalid", msg)
}

/// The checks Graph applies to a schema PUT.
fn validate_put(current: &Value, new: &Value) -> Result<(), GResp> {
    // A synchronizationSchema holds `directories` and `synchronizationRules`.
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationschema?view=graph-rest-1.0
    let dirs = new
        .get("directories")
        .and_then(Value::as_array)
        .ok_or_else(|| schema_error("The schema has no directories."))?;
    let rules = new
        .get("synchronizationRules")
        .and_then(Value::as_array)
        .ok_or_else(|| schema_error("The schema has no synchronizationRules."))?;
    let object_of = |dir: &str, obj: &str| -> Option<&Value> {
        dirs.iter()
            .find(|d| d["name"].as_str() == Some(dir))?
            .get("objects")?
            .as_array()?
            .iter()
            .find(|o| {
                o["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(obj))
            })
    };
    let has_attribute = |object: &Value, name: &str| {
        object["attributes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"].as_str() == Some(name)))
    };
    for rule in rules {
        // A rule's directories are definitions of the schema.
        // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationrule?view=graph-rest-1.0
        let (src, dst) = (
            rule["sourceDirectoryName"].as_str().unwrap_or_default(),
            rule["targetDirectoryName"].as_str().unwrap_or_default(),
        );
        for d in [src, dst] {
            if !dirs.iter().any(|x| x["name"].as_str() == Some(d)) {
                return Err(schema_error(&format!(
                    "Directory '{d}' named by rule '{}' is not defined in the schema.",
                    rule["name"].as_str().unwrap_or_default()
                )));
            }
        }
        for m in rule["objectMappings"].as_array().into_iter().flatten() {
            // objectMapping.flowTypes: a combination of Add, Update, Delete.
            // https://learn.microsoft.com/graph/api/resources/synchronization-objectmapping?view=graph-rest-1.0
            if let Some(f) = m["flowTypes"].as_str() {
                for part in f.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    if !["Add", "Update", "Delete", "None"].contains(&part) {
                        return Err(schema_error(&format!(
                            "Object mapping '{}' has an unknown flow type '{part}'.",
                            m["name"].as_str().unwrap_or_default()
                        )));
                    }
                }
            }
            let (so, to) = (
                m["sourceObjectName"].as_str().unwrap_or_default(),
                m["targetObjectName"].as_str().unwrap_or_default(),
            );
            let (Some(source), Some(target)) = (object_of(src, so), object_of(dst, to)) else {
                return Err(schema_error(&format!(
                    "Object mapping '{}' maps {src}.{so} to {dst}.{to}, which the directories do not define.",
                    m["name"].as_str().unwrap_or_default()
                )));
            };
            for a in m["attributeMappings"].as_array().into_iter().flatten() {
                // attributeMapping.targetAttributeName must be an attribute of the target
                // object; Attribute sources name source attributes.
                // https://learn.microsoft.com/graph/api/resources/synchronization-attributemapping?view=graph-rest-1.0
                let target_name = a["targetAttributeName"].as_str().unwrap_or_default();
                if !has_attribute(target, target_name) {
                    return Err(schema_error(&format!(
                        "Attribute '{target_name}' is not defined for object '{to}' in directory '{dst}'."
                    )));
                }
                if a["source"]["type"].as_str() == Some("Attribute") {
                    let n = a["source"]["name"].as_str().unwrap_or_default();
                    if !has_attribute(source, n) {
                        return Err(schema_error(&format!(
                            "Attribute '{n}' is not defined for object '{so}' in directory '{src}'."
                        )));
                    }
                }
            }
        }
    }
    // "The matching attribute can't be changed. Attempting to change the matching attribute or
    // adding additional matching attributes will result in a schemaInvalid error."
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure
    if matching(current, "User") != matching(new, "User") {
        return Err(schema_error(
            "The matching attribute of the User mapping cannot be changed.",
        ));
    }
    Ok(())
}

/// `(target attribute, priority)` of each matching attribute of the `object` mapping.
fn matching(schema: &Value, object: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = schema["synchronizationRules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["objectMappings"].as_array().into_iter().flatten())
        .filter(|m| m["sourceObjectName"].as_str() == Some(object))
        .flat_map(|m| m["attributeMappings"].as_array().into_iter().flatten())
        .filter_map(|a| {
            let p = a["matchingPriority"].as_i64().unwrap_or(0);
            let name = a["targetAttributeName"].as_str()?;
            (p > 0).then(|| (name.to_string(), p))
        })
        .collect();
    out.sort();
    out
}

/// What [`seed_cross_tenant_job`] made: the ids an admin (or a test) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededSyncJob {
    /// The service principal's object id.
    pub service_principal_id: String,
    /// The service principal's application (client) id.
    pub app_id: String,
    /// The synchronization job id.
    pub job_id: String,
}

/// Adds a service principal made from the cross-tenant synchronization template, with one
/// `Azure2Azure` job towards `target_tenant_id`, `assigned` (users and groups, with their display
/// names and whether each is a group) assigned to it, and the "sync all" setting.
pub(crate) fn seed_cross_tenant_job(
    sync: &mut Synchronization,
    tenant_id: &str,
    target_tenant_id: &str,
    display_name: &str,
    assigned: &[(String, String, bool)],
    sync_all: bool,
) -> SeededSyncJob {
    let n = sync.service_principals.len();
    let id = |what: &str| {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("tenantsync-emulator/{tenant_id}/cts/{n}/{what}").as_bytes(),
        )
        .to_string()
    };
    let sp_id = id("service-principal");
    let app_id = id("app");
    // Job ids are `{templateId}.{tenant id without dashes}.{guid}`, as in Graph's examples:
    // https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-get?view=graph-rest-1.0#response
    let job_id = format!(
        "{CROSS_TENANT_TEMPLATE_ID}.{}.{}",
        tenant_id.replace('-', ""),
        id("job")
    );
    // servicePrincipal resource:
    // https://learn.microsoft.com/graph/api/resources/serviceprincipal?view=graph-rest-1.0
    let object = json!({
        "id": sp_id,
        "appId": app_id,
        "appDisplayName": display_name,
        "displayName": display_name,
        "applicationTemplateId": CROSS_TENANT_TEMPLATE_APP,
        "accountEnabled": true,
        "appRoleAssignmentRequired": true,
        "servicePrincipalType": "Application",
        "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
        "appOwnerOrganizationId": tenant_id,
    });
    // appRoleAssignment resource:
    // https://learn.microsoft.com/graph/api/resources/approleassignment?view=graph-rest-1.0
    let assigned_to = assigned
        .iter()
        .enumerate()
        .map(|(i, (pid, name, group))| {
            json!({
                "id": id(&format!("assignment-{i}")),
                "appRoleId": DEFAULT_ACCESS_ROLE,
                "createdDateTime": "2026-01-05T09:00:00Z",
                "deletedDateTime": null,
                "principalDisplayName": name,
                "principalId": pid,
                "principalType": if *group { "Group" } else { "User" },
                "resourceDisplayName": display_name,
                "resourceId": sp_id,
            })
        })
        .collect();
    let schema = cross_tenant_schema(&job_id);
    // synchronizationTemplate resource:
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationtemplate?view=graph-rest-1.0
    let mut template_schema = schema.clone();
    template_schema["id"] = json!(CROSS_TENANT_TEMPLATE_ID);
    let templates = vec![json!({
        "id": CROSS_TENANT_TEMPLATE_ID,
        "applicationId": app_id,
        "default": true,
        "description": "Cross-tenant synchronization",
        "discoverable": true,
        "factoryTag": CROSS_TENANT_TEMPLATE_ID,
        "metadata": [],
        "schema": template_schema,
    })];
    // synchronizationJob with synchronizationSchedule and synchronizationStatus; the
    // interval is fixed at 40 minutes for cross-tenant synchronization.
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationjob?view=graph-rest-1.0
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationstatus?view=graph-rest-1.0
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationtaskexecution?view=graph-rest-1.0
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-overview
    let job = json!({
        "id": job_id,
        "templateId": CROSS_TENANT_TEMPLATE_ID,
        "schedule": {"expiration": null, "interval": "PT40M", "state": "Active"},
        "synchronizationJobSettings": [
            {"name": "QuarantineTooManyDeletesThreshold", "value": "500"}
        ],
        "status": {
            "code": "Active",
            "countSuccessiveCompleteFailures": 0,
            "escrowsPruned": false,
            "lastExecution": {
                "activityIdentifier": id("activity"),
                "countEntitled": assigned.len(),
                "countEntitledForProvisioning": assigned.len(),
                "countEscrowed": 2,
                "countEscrowedRaw": 2,
                "countExported": 3,
                "countExports": 3,
                "countImported": 40,
                "countImportedDeltas": 4,
                "countImportedReferenceDeltas": 0,
                "error": null,
                "state": "Succeeded",
                "timeBegan": "2026-11-27T08:00:00Z",
                "timeEnded": "2026-11-27T08:01:30Z",
            },
            "lastSuccessfulExecution": {
                "state": "Succeeded",
                "timeBegan": "2026-11-27T08:00:00Z",
                "timeEnded": "2026-11-27T08:01:30Z",
            },
            "lastSuccessfulExecutionWithExports": {
                "state": "Succeeded",
                "timeBegan": "2026-11-27T08:00:00Z",
                "timeEnded": "2026-11-27T08:01:30Z",
            },
            "progress": [],
            "quarantine": null,
            "steadyStateFirstAchievedTime": "2026-01-05T10:00:00Z",
            "steadyStateLastAchievedTime": "2026-11-27T08:01:30Z",
            "synchronizedEntryCountByType": [{"key": "User to User", "value": 3}],
            "troubleshootingUrl": null,
        },
    });
    // Secrets saved when the job is configured: CompanyId (the target tenant),
    // AuthenticationType SyncPolicy, SyncNotificationSettings, SyncAll.
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph
    let secrets = vec![
        ("CompanyId".to_string(), target_tenant_id.to_string()),
        ("AuthenticationType".to_string(), "SyncPolicy".to_string()),
        (
            "SyncNotificationSettings".to_string(),
            "{\"Enabled\":false,\"DeleteThresholdEnabled\":false}".to_string(),
        ),
        ("SyncAll".to_string(), sync_all.to_string()),
    ];
    sync.service_principals.push(ServicePrincipal {
        object,
        assigned_to,
        templates,
        jobs: vec![Job {
            object: job,
            schema,
            schema_puts: 0,
        }],
        secrets,
    });
    SeededSyncJob {
        service_principal_id: sp_id,
        app_id,
        job_id,
    }
}

/// An attributeDefinition.
// https://learn.microsoft.com/graph/api/resources/synchronization-attributedefinition?view=graph-rest-1.0
fn attribute(name: &str, kind: &str, required: bool, multivalued: bool) -> Value {
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
        "referencedObjects": [],
        "required": required,
        "type": kind,
    })
}

/// A direct attributeMapping from `source` to `target`.
// https://learn.microsoft.com/graph/api/resources/synchronization-attributemapping?view=graph-rest-1.0
fn direct(source: &str, target: &str) -> Value {
    mapping(
        json!({"expression": format!("[{source}]"), "name": source, "parameters": [], "type": "Attribute"}),
        target,
        0,
        "Always",
    )
}

fn mapping(source: Value, target: &str, matching: i64, flow_type: &str) -> Value {
    json!({
        "defaultValue": null,
        "exportMissingReferences": false,
        "flowBehavior": "FlowWhenChanged",
        "flowType": flow_type,
        "matchingPriority": matching,
        "source": source,
        "targetAttributeName": target,
    })
}

/// The schema of a new cross-tenant synchronization job.
///
/// Microsoft publishes no complete `Azure2Azure` schema (Entra's admin center shows it, the
/// docs show its first lines). Each part below says where it comes from.
fn cross_tenant_schema(job_id: &str) -> Value {
    // User attributes of the default user mapping (below), in both directories. The
    // source-only attributes are `netId` (the input of the matching expression) and
    // `IsSoftDeleted`; the target has `alternativeSecurityIds`, `showInAddressList`,
    // `userType`.
    let common_user = [
        ("accountEnabled", "Boolean"),
        ("city", "String"),
        ("companyName", "String"),
        ("country", "String"),
        ("department", "String"),
        ("displayName", "String"),
        ("employeeId", "String"),
        ("givenName", "String"),
        ("jobTitle", "String"),
        ("mail", "String"),
        ("mailNickname", "String"),
        ("postalCode", "String"),
        ("state", "String"),
        ("streetAddress", "String"),
        ("surname", "String"),
        ("userPrincipalName", "String"),
    ];
    let mut source_user: Vec<Value> = common_user
        .iter()
        .map(|(n, k)| attribute(n, k, false, false))
        .collect();
    source_user.push(attribute("netId", "String", false, false));
    source_user.push(attribute("IsSoftDeleted", "Boolean", false, false));
    let mut target_user: Vec<Value> = common_user
        .iter()
        .map(|(n, k)| attribute(n, k, false, false))
        .collect();
    target_user.push(attribute("alternativeSecurityIds", "String", false, true));
    target_user.push(attribute("IsSoftDeleted", "Boolean", false, false));
    target_user.push(attribute("showInAddressList", "Boolean", false, false));
    target_user.push(attribute("userType", "String", false, false));
    // The Group object is defined in both directories, but without the group attributes:
    // "the group object type exists in the schema but remains disabled and lacks essential
    // attributes" (what admins enabling group sync in Graph Explorer find; Entra's docs give no
    // JSON for the group mapping).
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure
    let group_object = || {
        json!({
            "flowNullValues": false,
            "metadata": [],
            "name": "Group",
            "supportedApis": [],
            "attributes": [attribute("objectId", "String", false, false)],
        })
    };
    let directory = |name: &str, users: Vec<Value>| {
        // directoryDefinition:
        // https://learn.microsoft.com/graph/api/resources/synchronization-directorydefinition?view=graph-rest-1.0
        json!({
            "id": name.replace(' ', ""),
            "name": name,
            "discoverabilities": "None",
            "discoveryDateTime": null,
            "readOnly": false,
            "version": null,
            "objects": [
                {"flowNullValues": false, "metadata": [], "name": "User", "supportedApis": [], "attributes": users},
                group_object(),
            ],
        })
    };
    // The default user mapping ("Provision Microsoft Entra ID Users"):
    // - `AltSecIdFromNetId([netId])` -> `alternativeSecurityIds`, the matching attribute, which
    //   "can't be changed";
    // - `Member` (a constant) -> `userType`, applied only during creation; `True` ->
    //   `showInAddressList`;
    // - the profile attributes, direct.
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-overview
    let mut user_mappings = vec![
        mapping(
            json!({
                "expression": "AltSecIdFromNetId([netId])",
                "name": "AltSecIdFromNetId",
                "parameters": [{"key": "source", "value": {"expression": "[netId]", "name": "netId", "parameters": [], "type": "Attribute"}}],
                "type": "Function",
            }),
            "alternativeSecurityIds",
            1,
            "Always",
        ),
        direct("IsSoftDeleted", "IsSoftDeleted"),
    ];
    for (n, _) in common_user {
        user_mappings.push(direct(n, n));
    }
    user_mappings.push(mapping(
        json!({"expression": "\"True\"", "name": "True", "parameters": [], "type": "Constant"}),
        "showInAddressList",
        0,
        "Always",
    ));
    user_mappings.push(mapping(
        json!({"expression": "\"Member\"", "name": "Member", "parameters": [], "type": "Constant"}),
        "userType",
        0,
        "ObjectAddOnly",
    ));
    // The rule: `USER_INBOUND_USER` from "Azure Active Directory" to "Azure Active Directory
    // (target tenant)", `containerFilter` and `groupFilter` null, version `v1.2`, as in the
    // GET schema response of the Graph how-to (examples/microsoft/
    // entra-cross-tenant-sync-schema-get.json).
    // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure-graph
    json!({
        "id": job_id,
        "version": "v1.2",
        "directories": [
            directory("Azure Active Directory", source_user),
            directory("Azure Active Directory (target tenant)", target_user),
        ],
        "synchronizationRules": [{
            "containerFilter": null,
            "editable": true,
            "groupFilter": null,
            "id": "USER_INBOUND_USER",
            "name": "USER_INBOUND_USER",
            "priority": 1,
            "sourceDirectoryName": "Azure Active Directory",
            "targetDirectoryName": "Azure Active Directory (target tenant)",
            "metadata": [],
            "objectMappings": [
                {
                    "enabled": true,
                    "flowTypes": "Add, Update, Delete",
                    "metadata": [],
                    "name": "Provision Microsoft Entra ID Users",
                    "scope": null,
                    "sourceObjectName": "User",
                    "targetObjectName": "User",
                    "attributeMappings": user_mappings,
                },
                // "Provision Microsoft Entra ID Groups", Enabled "No" by default; a disabled group
                // mapping skips groups with `EntityTypeNotSupported`.
                // https://learn.microsoft.com/entra/identity/multi-tenant-organizations/cross-tenant-synchronization-configure
                {
                    "enabled": false,
                    "flowTypes": "Add, Update, Delete",
                    "metadata": [],
                    "name": "Provision Microsoft Entra ID Groups",
                    "scope": null,
                    "sourceObjectName": "Group",
                    "targetObjectName": "Group",
                    "attributeMappings": [],
                },
            ],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_schema_passes_its_own_put_checks() {
        let s = cross_tenant_schema("j");
        validate_put(&s, &s).expect("valid");
        let mut changed = s.clone();
        changed["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][2]["matchingPriority"] =
            json!(2);
        let e = validate_put(&s, &changed).unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn a_mapping_to_an_undefined_attribute_is_refused() {
        let s = cross_tenant_schema("j");
        let mut changed = s.clone();
        changed["synchronizationRules"][0]["objectMappings"][1]["attributeMappings"] =
            json!([direct("displayName", "displayName")]);
        assert!(validate_put(&s, &changed).is_err());
    }

    #[test]
    fn restart_scopes_are_checked() {
        let req = |b: Value| GReq {
            method: "POST".into(),
            segs: vec![],
            query: vec![],
            headers: vec![],
            body: Some(Ok(b)),
            as_called: None,
        };
        assert_eq!(
            restart_scope(&req(
                json!({"criteria": {"resetScope": "Watermark, Escrows, QuarantineState"}})
            ))
            .unwrap(),
            vec!["Watermark", "Escrows", "QuarantineState"]
        );
        assert!(restart_scope(&req(json!({"criteria": {"resetScope": "Everything"}}))).is_err());
    }

    #[test]
    fn filters_name_filterable_properties_only() {
        assert_eq!(
            parse_eq_filter("applicationTemplateId eq '518e'"),
            Some(("applicationTemplateId".into(), "518e".into()))
        );
        assert_eq!(parse_eq_filter("notes eq 'x'"), None);
    }
}

//! The Entra bridge: work with Entra's own cross-tenant synchronization jobs in the source
//! tenant, through Microsoft Graph's synchronization API.
//!
//! - [`api`]: the Graph calls, each following its Microsoft Learn page.
//! - [`group_sync`]: the pure schema change that turns group synchronization on.
//! - [`diff`](mod@diff): a readable JSON difference (only what changes).
//! - [`export`]: a tenantsync job (`job.toml` + `schema.json`) from an Entra job, with what
//!   tenantsync does differently.
//!
//! Schema changes go through [`plan_schema_change`] (read, compute, diff: no write) and
//! [`apply_schema_change`] (backup, PUT, read back, verify). See `docs/entra.md`.

pub mod api;
pub(crate) mod diff;
pub(crate) mod export;
pub(crate) mod group_sync;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::graph::{GraphClient, GraphError};
use crate::sync::Requirement;
pub use diff::{Change, render as render_diff};
pub(crate) use group_sync::group_sync_enabled;
pub use group_sync::{GroupSyncOptions, enable_group_sync};

/// Finding the job's service principal and reading its assignments (`entra export`).
pub(crate) const FIND_PERMISSION: Requirement = Requirement {
    any_of: &[
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
    ],
    why: "finding cross-tenant synchronization service principals and their assignments",
    calls: &[
        "GET /servicePrincipals",
        "GET /servicePrincipals/{id}",
        "GET /servicePrincipals/{id}/appRoleAssignedTo",
    ],
};

/// Reading jobs and their schemas (`entra jobs`, `entra status`, and before every change).
pub(crate) const READ_PERMISSION: Requirement = Requirement {
    any_of: &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
    why: "reading synchronization jobs and their schemas",
    calls: &[
        "GET /servicePrincipals/{id}/synchronization/jobs",
        "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}",
        "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema",
    ],
};

/// Changing a job's schema and reading its secrets (`entra enable-group-sync`,
/// `entra restore-schema`, `entra export`).
pub(crate) const WRITE_PERMISSION: Requirement = Requirement {
    any_of: &["Synchronization.ReadWrite.All"],
    why: "changing synchronization schemas and reading synchronization secrets",
    calls: &[
        "PUT /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema",
        "GET /servicePrincipals/{id}/synchronization/secrets",
    ],
};

/// Every permission the Entra bridge uses, each with the Graph calls it serves (checked
/// against Microsoft's tables by the tests).
pub const PERMISSIONS: &[Requirement] = &[FIND_PERMISSION, READ_PERMISSION, WRITE_PERMISSION];

/// Why an Entra bridge operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EntraError {
    /// Graph refused or failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The job or service principal does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An option or input is not usable.
    #[error("{0}")]
    Invalid(String),
    /// The schema does not have the shape the change needs.
    #[error("the job's schema cannot be changed: {0}")]
    Schema(String),
    /// A file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The schema read back after a PUT is not the one sent.
    #[error(
        "the schema read back differs from the one sent ({differences}); the previous schema is saved in {backup}: put it back with `tenantsync entra restore-schema --from {backup}`"
    )]
    Verify {
        /// The differences, one per line.
        differences: String,
        /// The backup file.
        backup: String,
    },
}

impl EntraError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        EntraError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Entra's view of a job, for `entra jobs` and `entra status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// The service principal's object id.
    pub service_principal_id: String,
    /// The service principal's display name.
    pub service_principal_name: String,
    /// The job id.
    pub job_id: String,
    /// The template (`Azure2Azure` for cross-tenant synchronization).
    pub template_id: String,
    /// The target tenant (the `CompanyId` secret), when readable.
    pub target_tenant_id: Option<String>,
    /// `status.code`: NotConfigured, NotRun, Active, Paused, Quarantine.
    pub state: String,
    /// `schedule.state`: Active, Disabled, Paused.
    pub schedule: String,
    /// When the last cycle ended (`status.lastExecution.timeEnded`).
    pub last_cycle: Option<String>,
    /// How the last cycle ended (`status.lastExecution.state`).
    pub last_cycle_state: Option<String>,
    /// When the last successful cycle ended (`status.lastSuccessfulExecution.timeEnded`).
    pub last_successful_cycle: Option<String>,
    /// Why the job is quarantined (`status.quarantine.reason`), if it is.
    pub quarantine: Option<String>,
    /// When the quarantine began (`status.quarantine.seriesBegan`).
    pub quarantine_since: Option<String>,
    /// Escrowed objects of the last cycle (`status.lastExecution.countEscrowed`).
    pub escrowed: Option<u64>,
    /// Escrowed entries, raw count (`status.lastExecution.countEscrowedRaw`).
    pub escrowed_raw: Option<u64>,
    /// Consecutive failed cycles (`status.countSuccessiveCompleteFailures`).
    pub successive_failures: Option<u64>,
    /// Whether escrows were pruned (`status.escrowsPruned`).
    pub escrows_pruned: Option<bool>,
    /// Objects synchronized by type (`status.synchronizedEntryCountByType`).
    pub synchronized: Vec<(String, u64)>,
    /// Whether the job's group mapping is enabled (known when the schema was read).
    pub group_sync: Option<bool>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl JobView {
    /// The view of `job` (a synchronizationJob resource) of service principal `sp`.
    // https://learn.microsoft.com/graph/api/resources/synchronization-synchronizationstatus
    pub fn new(sp: &Value, job: &Value, target_tenant_id: Option<String>) -> JobView {
        let status = &job["status"];
        let quarantine = &status["quarantine"];
        JobView {
            service_principal_id: text(&sp["id"]).unwrap_or_default(),
            service_principal_name: text(&sp["displayName"]).unwrap_or_default(),
            job_id: text(&job["id"]).unwrap_or_default(),
            template_id: text(&job["templateId"]).unwrap_or_default(),
            target_tenant_id,
            state: text(&status["code"]).unwrap_or_else(|| "unknown".into()),
            schedule: text(&job["schedule"]["state"]).unwrap_or_else(|| "unknown".into()),
            last_cycle: text(&status["lastExecution"]["timeEnded"]),
            last_cycle_state: text(&status["lastExecution"]["state"]),
            last_successful_cycle: text(&status["lastSuccessfulExecution"]["timeEnded"]),
            quarantine: text(&quarantine["reason"]),
            quarantine_since: text(&quarantine["seriesBegan"]),
            escrowed: status["lastExecution"]["countEscrowed"].as_u64(),
            escrowed_raw: status["lastExecution"]["countEscrowedRaw"].as_u64(),
            successive_failures: status["countSuccessiveCompleteFailures"].as_u64(),
            escrows_pruned: status["escrowsPruned"].as_bool(),
            synchronized: status["synchronizedEntryCountByType"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((text(&p["key"])?, p["value"].as_u64().unwrap_or(0))))
                .collect(),
            group_sync: None,
        }
    }
}

/// The `CompanyId` secret (the target tenant), or `None` when the secrets cannot be read.
pub(crate) async fn target_tenant(client: &GraphClient, sp: &str) -> Option<String> {
    api::secrets(client, sp)
        .await
        .ok()?
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("CompanyId"))
        .map(|(_, v)| v)
}

/// Every cross-tenant synchronization job of the tenant.
pub async fn list_jobs(client: &GraphClient) -> Result<Vec<JobView>, EntraError> {
    let mut out = Vec::new();
    for sp in api::cross_tenant_service_principals(client).await? {
        let id = text(&sp["id"]).unwrap_or_default();
        let target = target_tenant(client, &id).await;
        for job in api::jobs(client, &id).await? {
            out.push(JobView::new(&sp, &job, target.clone()));
        }
    }
    Ok(out)
}

/// Entra's view of one job, with whether its group mapping is on.
pub async fn job_status(
    client: &GraphClient,
    job_id: &str,
    service_principal: Option<&str>,
) -> Result<JobView, EntraError> {
    let located = api::locate(client, job_id, service_principal).await?;
    let sp = located.service_principal_id().to_string();
    let target = target_tenant(client, &sp).await;
    let mut view = JobView::new(&located.service_principal, &located.job, target);
    view.group_sync = api::schema(client, &sp, located.job_id())
        .await
        .ok()
        .map(|s| group_sync_enabled(&s));
    Ok(view)
}

/// A schema change computed but not written.
#[derive(Debug, Clone)]
pub struct SchemaChange {
    /// The service principal's object id.
    pub service_principal_id: String,
    /// The job id.
    pub job_id: String,
    /// The schema as Graph returned it (without annotations).
    pub current: Value,
    /// The schema to PUT.
    pub proposed: Value,
    /// What changes (empty: nothing to do).
    pub changes: Vec<Change>,
}

/// Reads the job's schema and computes `change` on it. Writes nothing.
pub async fn plan_schema_change(
    client: &GraphClient,
    job_id: &str,
    service_principal: Option<&str>,
    change: impl FnOnce(&Value) -> Result<Value, EntraError>,
) -> Result<SchemaChange, EntraError> {
    let located = api::locate(client, job_id, service_principal).await?;
    let sp = located.service_principal_id().to_string();
    let job = located.job_id().to_string();
    let current = api::schema(client, &sp, &job).await?;
    let proposed = change(&current)?;
    let changes = diff::diff(&current, &proposed);
    Ok(SchemaChange {
        service_principal_id: sp,
        job_id: job,
        current,
        proposed,
        changes,
    })
}

/// What [`apply_schema_change`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The backup of the previous schema.
    pub backup: PathBuf,
}

/// The backup file name of job `job_id`'s schema taken at `at`:
/// `<job id>-<YYYYMMDDTHHMMSSZ>.schema.json`.
pub(crate) fn backup_file_name(job_id: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let safe: String = job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-{}.schema.json", at.format("%Y%m%dT%H%M%SZ"))
}

/// Saves `schema` in `dir` (made if missing) under [`backup_file_name`]; never overwrites a
/// file: a second backup in the same second is saved as `<name>-2.schema.json`, then `-3`, ...
pub(crate) fn save_backup(
    dir: &Path,
    job_id: &str,
    schema: &Value,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf, EntraError> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| EntraError::io(dir, e))?;
    let name = backup_file_name(job_id, at);
    let stem = name.trim_end_matches(".schema.json");
    let mut n = 1u32;
    let (path, mut file) = loop {
        let path = if n == 1 {
            dir.join(&name)
        } else {
            dir.join(format!("{stem}-{n}.schema.json"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => break (path, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(EntraError::io(&path, e)),
        }
    };
    let text = serde_json::to_string_pretty(schema).expect("a JSON value serializes");
    file.write_all(text.as_bytes())
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .map_err(|e| EntraError::io(&path, e))?;
    Ok(path)
}

/// Reads a saved schema: a JSON object with `directories` and `synchronizationRules`.
pub fn load_backup(path: &Path) -> Result<Value, EntraError> {
    let text = std::fs::read_to_string(path).map_err(|e| EntraError::io(path, e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        EntraError::Invalid(format!(
            "{} is not JSON ({e}); give a backup written by `tenantsync entra enable-group-sync`",
            path.display()
        ))
    })?;
    if !value["directories"].is_array() || !value["synchronizationRules"].is_array() {
        return Err(EntraError::Invalid(format!(
            "{} is not a synchronization schema (no directories or synchronizationRules); give a backup written by `tenantsync entra enable-group-sync`",
            path.display()
        )));
    }
    Ok(api::strip_annotations(value))
}

/// Saves a backup of `change.current` in `backup_dir`, PUTs `change.proposed`, reads the
/// schema back and checks it is the one sent (apart from its `id`, which Graph sets).
/// Call only when `change.changes` is not empty. Safe to repeat: a second run finds nothing
/// to change.
pub async fn apply_schema_change(
    client: &GraphClient,
    change: &SchemaChange,
    backup_dir: &Path,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Applied, EntraError> {
    let backup = save_backup(backup_dir, &change.job_id, &change.current, at)?;
    api::put_schema(
        client,
        &change.service_principal_id,
        &change.job_id,
        &change.proposed,
    )
    .await?;
    let read = api::schema(client, &change.service_principal_id, &change.job_id).await?;
    let without_id = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("id");
        }
        v
    };
    let unexpected = diff::diff(&without_id(&change.proposed), &without_id(&read));
    if !unexpected.is_empty() {
        return Err(EntraError::Verify {
            differences: unexpected
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            backup: backup.display().to_string(),
        });
    }
    Ok(Applied { backup })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn backups_are_named_by_job_and_time_and_never_overwritten() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 27, 9, 5, 1).unwrap();
        assert_eq!(
            backup_file_name("Azure2Azure.ab/c", at),
            "Azure2Azure.ab_c-20261127T090501Z.schema.json"
        );
        let dir = tempfile::tempdir().unwrap();
        let schema = json!({"directories": [], "synchronizationRules": []});
        let path = save_backup(dir.path(), "j", &schema, at).unwrap();
        assert_eq!(load_backup(&path).unwrap(), schema);
        // Regression: a second backup in the same second (enable, then restore at once)
        // collided with the first and failed the restore; it gets its own name instead.
        let other = json!({"directories": [{"name": "d"}], "synchronizationRules": []});
        let second = save_backup(dir.path(), "j", &other, at).unwrap();
        assert_eq!(second, dir.path().join("j-20261127T090501Z-2.schema.json"));
        assert_eq!(load_backup(&path).unwrap(), schema, "the first is kept");
        assert_eq!(load_backup(&second).unwrap(), other);
        std::fs::write(dir.path().join("x.json"), "{}").unwrap();
        let e = load_backup(&dir.path().join("x.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a synchronization schema"), "{e}");
    }

    /// Graph answers the PUT with 204 but keeps a different schema: the change is reported
    /// as not verified, naming the backup to restore.
    #[tokio::test]
    async fn a_schema_read_back_different_from_the_one_sent_fails_verification() {
        use crate::graph::client::tests::{client_for, fast_options};
        use crate::graph::test_server::{Reply, TestServer};
        let stored =
            json!({"id": "j", "directories": [], "synchronizationRules": [], "version": "changed"});
        let server = TestServer::start(move |req, _n| match req.method.as_str() {
            "PUT" => Reply::empty(204),
            _ => Reply::json(200, stored.clone()),
        })
        .await;
        let client = client_for(&server, fast_options());
        let current = json!({"id": "j", "directories": [], "synchronizationRules": []});
        let mut proposed = current.clone();
        proposed["version"] = json!("sent");
        let change = SchemaChange {
            service_principal_id: "sp".into(),
            job_id: "j".into(),
            changes: diff::diff(&current, &proposed),
            current: current.clone(),
            proposed,
        };
        let dir = tempfile::tempdir().unwrap();
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let e = apply_schema_change(&client, &change, dir.path(), at)
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("~ version: \"sent\" -> \"changed\""),
            "{text}"
        );
        assert!(text.contains("restore-schema --from"), "{text}");
        let backup = dir.path().join(backup_file_name("j", at));
        assert_eq!(load_backup(&backup).unwrap(), current);
        let put = server
            .requests()
            .into_iter()
            .find(|r| r.method == "PUT")
            .expect("a PUT was sent");
        assert_eq!(
            put.path,
            "/v1.0/servicePrincipals/sp/synchronization/jobs/j/schema"
        );
        assert_eq!(put.json()["version"], "sent");
    }

    #[test]
    fn job_views_read_graphs_status() {
        let sp = json!({"id": "sp1", "displayName": "CTS"});
        let job = json!({"id": "Azure2Azure.x", "templateId": "Azure2Azure",
            "schedule": {"state": "Active"},
            "status": {"code": "Quarantine", "quarantine": {"reason": "EncounteredQuarantineException", "seriesBegan": "2026-11-01T00:00:00Z"},
                "lastExecution": {"state": "Failed", "timeEnded": "2026-11-27T08:00:00Z", "countEscrowed": 4},
                "synchronizedEntryCountByType": [{"key": "User to User", "value": 3}]}});
        let v = JobView::new(&sp, &job, Some("t".into()));
        assert_eq!(v.state, "Quarantine");
        assert_eq!(
            v.quarantine.as_deref(),
            Some("EncounteredQuarantineException")
        );
        assert_eq!(v.escrowed, Some(4));
        assert_eq!(v.synchronized, vec![("User to User".to_string(), 3)]);
        assert_eq!(v.last_successful_cycle, None);
    }
}

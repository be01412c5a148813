//! Jobs: a handle over an opened engine (`tenantsync_job_open` / `tenantsync_job_free`), and
//! the calls that read or change its state.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use safer_ffi::c_char;
use safer_ffi::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tenantsync_core::{Engine, LogFilter, ResetScope, SyncError, parse_duration};

use crate::boundary::{
    Failure, Outcome, check_out, guard, input_str, json_arg, output_string, to_json, write_out,
};
use crate::handles::{Registry, from_ptr, to_ptr};
use crate::status::Status;

/// An opened job (opaque): its configuration, schema and Graph clients, and its state once
/// read. Obtained from `tenantsync_job_open`, released with `tenantsync_job_free`.
#[derive_ReprC(rename = "tenantsync_job")]
#[repr(opaque)]
#[derive(Debug)]
pub struct TenantsyncJob {
    _private: [u8; 0],
}

/// What a job handle holds.
#[derive(Debug)]
pub struct Job {
    /// The engine; `None` while a run holds it.
    pub engine: Option<Engine>,
    /// The configuration file it was opened from.
    pub config_path: PathBuf,
}

/// Every live job handle.
pub static JOBS: Registry<Job> = Registry::new("job");

impl Job {
    /// The engine, or [`Status::Busy`] while a run holds it.
    pub fn engine(&mut self) -> Result<&mut Engine, Failure> {
        self.engine.as_mut().ok_or_else(|| {
            Failure::new(
                Status::Busy,
                "a run of this job is in progress and holds its engine: poll the run until it finishes, then try again",
            )
        })
    }
}

/// An engine error as a failure: its code's status (the same number) and its message.
pub fn engine_failure(error: SyncError) -> Failure {
    Failure::new(Status::of(error.code()), error.to_string())
}

fn open(config_path: &str) -> Result<Engine, Failure> {
    if config_path.is_empty() {
        return Err(Failure::new(
            Status::InvalidArgument,
            "config_path is empty: pass the path of the job configuration (job.toml)",
        ));
    }
    Engine::open(Path::new(config_path)).map_err(engine_failure)
}

/// Opens the job configured in `config_path` (a TOML file, docs/configuration.md): reads the
/// configuration, its schema and plugins, and prepares the Graph clients (no network, no
/// state yet). Writes the new job handle to `out_job`; free it with `tenantsync_job_free`.
/// Fails with `CONFIG`, `INVALID`, `SCHEMA` or `PLUGIN` when the job cannot be used.
///
/// # Safety
/// `config_path` is NULL or a NUL-terminated string; `out_job` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_open(
    config_path: *const c_char,
    out_job: *mut *mut TenantsyncJob,
) -> Status {
    guard("tenantsync_job_open", || {
        check_out(out_job, "out_job")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let path = unsafe { input_str(config_path, "config_path") }?;
        let engine = open(path)?;
        let (number, _) = JOBS.insert(Job {
            engine: Some(engine),
            config_path: PathBuf::from(path),
        });
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_job, to_ptr(number)) };
        Ok(())
    })
}

/// Frees a job handle. NULL is a no-op. Fails with `BUSY` (and frees nothing) while a run
/// holds the job or another thread uses it, and with `INVALID_HANDLE` for a handle already
/// freed.
///
/// # Safety
/// None: the handle is looked up among the live jobs before it is used.
#[ffi_export]
pub unsafe fn tenantsync_job_free(job: *mut TenantsyncJob) -> Status {
    guard("tenantsync_job_free", || {
        JOBS.remove(from_ptr(job), |j| j.engine().map(|_| ()))?;
        Ok(())
    })
}

/// Validates the job configuration in `config_path` without keeping it open: everything
/// `tenantsync_job_open` checks (configuration, schema, plugins, credentials' form), without
/// network. Writes `{"valid": true, "name", "sourceTenant", "targetTenant", "statePath"}` to
/// `out_json`; an unusable configuration fails (`CONFIG`, `INVALID`, `SCHEMA`, `PLUGIN`) and
/// says why.
///
/// # Safety
/// `config_path` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_config_validate(
    config_path: *const c_char,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_config_validate", || {
        check_out(out_json, "out_json")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let path = unsafe { input_str(config_path, "config_path") }?;
        let engine = open(path)?;
        let config = engine.config();
        let body = json!({
            "valid": true,
            "name": config.name,
            "sourceTenant": config.source.as_ref().map(|s| s.tenant_id.clone()),
            "targetTenant": config.target.as_ref().map(|t| t.tenant_id.clone()),
            "statePath": engine.state_location(),
        });
        let text = to_json(&body)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_json, output_string(text)) };
        Ok(())
    })
}

/// Runs `f` on the engine of the live job `job`, then writes its JSON to `out_json`.
///
/// # Safety
/// `out_json` is NULL or writable.
unsafe fn with_engine(
    job: *mut TenantsyncJob,
    out_json: *mut *mut c_char,
    f: impl FnOnce(&mut Engine) -> Result<String, Failure>,
) -> Outcome {
    check_out(out_json, "out_json")?;
    let text = JOBS.with(from_ptr(job), "job", |j| f(j.engine()?))?;
    // SAFETY: checked non-NULL above.
    unsafe { write_out(out_json, output_string(text)) };
    Ok(())
}

/// The filter of [`tenantsync_job_logs`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LogsInput {
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

impl Default for LogsInput {
    fn default() -> Self {
        LogsInput {
            object: None,
            since: None,
            limit: default_limit(),
        }
    }
}

/// `since` as an RFC 3339 time or an age before `now` (`1h`, `30m`, `2d`).
fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || {
        Failure::new(
            Status::InvalidArgument,
            format!(
                "since `{text}` is neither an rfc 3339 time (2026-11-22T10:00:00Z) nor an age (1h, 30m, 2d)"
            ),
        )
    };
    let age = parse_duration(text).map_err(|_| bad())?;
    let age = chrono::Duration::from_std(age).map_err(|_| bad())?;
    Ok(now - age)
}

/// Reads the job's provisioning log, newest first, as `tenantsync logs --json` does.
///
/// `filter_json` is NULL or `{"object": ID, "since": TIME_OR_AGE, "limit": N}` (each optional;
/// `limit` defaults to 100). Writes a JSON array of log entries (ffi/README.md) to `out_json`.
///
/// # Safety
/// `filter_json` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_logs(
    job: *mut TenantsyncJob,
    filter_json: *const c_char,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_job_logs", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let input: LogsInput = unsafe {
            json_arg(
                filter_json,
                "filter_json",
                r#"{"object": "id", "since": "1h", "limit": 100}"#,
            )
        }?;
        let since = match &input.since {
            Some(text) => Some(parse_since(text, Utc::now())?),
            None => None,
        };
        let filter = LogFilter {
            object: input.object,
            since,
            limit: Some(input.limit),
        };
        // SAFETY: forwarded.
        unsafe {
            with_engine(job, out_json, |engine| {
                let entries = engine.logs(&filter).map_err(engine_failure)?;
                to_json(&entries)
            })
        }
    })
}

/// Reads the job's run history, newest first: at most `limit` runs (0 means 20). Writes a
/// JSON array of runs (ffi/README.md) to `out_json`.
///
/// # Safety
/// `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_runs(
    job: *mut TenantsyncJob,
    limit: u32,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_job_runs", || {
        let limit = if limit == 0 { 20 } else { limit as usize };
        // SAFETY: forwarded.
        unsafe {
            with_engine(job, out_json, |engine| {
                let runs = engine.runs(limit).map_err(engine_failure)?;
                to_json(&runs)
            })
        }
    })
}

/// Clears part of the job's state, as `tenantsync reset --scope SCOPE` does. `scope` is
/// `watermark`, `escrows`, `quarantine` or `full`. Writes what was cleared (ffi/README.md) to
/// `out_json`. The run history and the provisioning log are kept. Fails with `JOB_LOCKED`
/// while a cycle of the job runs in another process.
///
/// # Safety
/// `scope` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_reset(
    job: *mut TenantsyncJob,
    scope: *const c_char,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_job_reset", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let text = unsafe { input_str(scope, "scope") }?;
        let parsed = match text {
            "watermark" => ResetScope::Watermark,
            "escrows" => ResetScope::Escrows,
            "quarantine" => ResetScope::Quarantine,
            "full" => ResetScope::Full,
            other => {
                return Err(Failure::new(
                    Status::InvalidArgument,
                    format!(
                        "scope `{other}` is unknown: use watermark, escrows, quarantine or full"
                    ),
                ));
            }
        };
        // SAFETY: forwarded.
        unsafe {
            with_engine(job, out_json, |engine| {
                let summary = engine.reset(parsed).map_err(engine_failure)?;
                to_json(&summary)
            })
        }
    })
}

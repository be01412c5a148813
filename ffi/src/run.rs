//! Runs: long operations (sync, plan, apply, provision, check, init) on the engine's own
//! thread (core's `Engine::start`), which the host polls for progress and, once finished, for
//! the result. No callback ever runs on the host's threads.
//!
//! Starting a run takes the engine out of its job (the job answers `BUSY` meanwhile); the run
//! gives it back when it finishes (seen by `tenantsync_run_poll`, `tenantsync_run_result` or
//! `tenantsync_run_free`).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use safer_ffi::c_char;
use safer_ffi::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tenantsync_core::{Engine, RunHandle, SavedPlan, SyncRequest, Work, WorkOutput};

use crate::boundary::{
    Failure, check_out, guard, input_str, json_arg, output_string, to_json, write_out,
};
use crate::handles::{Registry, Slot, from_ptr, to_ptr};
use crate::job::{JOBS, Job, TenantsyncJob, engine_failure};
use crate::status::Status;

/// A run of a job (opaque): obtained from a `tenantsync_job_start_*` call, polled with
/// `tenantsync_run_poll`, released with `tenantsync_run_free`.
#[derive_ReprC(rename = "tenantsync_run")]
#[repr(opaque)]
#[derive(Debug)]
pub struct TenantsyncRun {
    _private: [u8; 0],
}

/// What a run handle holds.
#[derive(Debug)]
pub struct Run {
    /// The job the engine goes back to.
    job: Slot<Job>,
    /// The running operation; `None` once settled. Shared with [`CANCELS`] only.
    handle: Option<Arc<RunHandle>>,
    /// Where a plan run writes its saved plan.
    save_plan: Option<PathBuf>,
    /// Set once the run is joined and the engine given back.
    result: Option<Result<String, Failure>>,
}

/// Every live run handle.
pub static RUNS: Registry<Run> = Registry::new("run");

/// The running operations of live runs, reachable without the run's lock so that a run
/// another thread is polling can be cancelled. Used only under its lock, so that the run
/// holds the only other reference when it settles.
static CANCELS: LazyLock<Mutex<BTreeMap<usize, Arc<RunHandle>>>> = LazyLock::new(Default::default);

fn cancels() -> std::sync::MutexGuard<'static, BTreeMap<usize, Arc<RunHandle>>> {
    CANCELS.lock().unwrap_or_else(|e| e.into_inner())
}

impl Run {
    /// Waits for the operation to end (at once when it has), gives the engine back to the job
    /// and keeps the result. `number` is the run's handle.
    fn settle(&mut self, number: usize) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        cancels().remove(&number);
        let handle = Arc::try_unwrap(handle).expect("a settling run holds its only handle");
        let ended = catch_unwind(AssertUnwindSafe(|| handle.wait()));
        let mut job = self.job.lock().unwrap_or_else(|e| e.into_inner());
        self.result = Some(match ended {
            Ok((engine, result)) => {
                job.engine = Some(engine);
                result
                    .map_err(engine_failure)
                    .and_then(|output| output_json(output, self.save_plan.as_ref()))
            }
            Err(_) => {
                // The engine was lost with the panic: open the job again so it stays usable.
                job.engine = Engine::open(&job.config_path).ok();
                Err(Failure::new(
                    Status::Panic,
                    "the run panicked and was abandoned: please report this bug",
                ))
            }
        });
    }
}

/// The JSON of a run's output; a plan run's saved plan is added as `value.savedPlan` (and
/// written to `save_plan` when given).
fn output_json(output: WorkOutput, save_plan: Option<&PathBuf>) -> Result<String, Failure> {
    let saved = match &output {
        WorkOutput::Run(report) => report.saved_plan.clone(),
        _ => None,
    };
    let mut value = serde_json::to_value(&output)
        .map_err(|e| Failure::new(Status::Panic, format!("cannot serialize the result: {e}")))?;
    if let Some(saved) = saved {
        if let Some(path) = save_plan {
            std::fs::write(path, saved.to_json_pretty()).map_err(|e| {
                Failure::new(
                    Status::Io,
                    format!(
                        "the plan was made but cannot be saved to {}: {e}; name a writable file in savePlan",
                        path.display()
                    ),
                )
            })?;
        }
        value["value"]["savedPlan"] = serde_json::to_value(&*saved)
            .map_err(|e| Failure::new(Status::Panic, format!("cannot serialize the plan: {e}")))?;
    }
    to_json(&value)
}

/// Takes the engine of `job` and starts `work` on its own thread; writes the run handle.
///
/// # Safety
/// `out_run` is NULL or writable.
unsafe fn start(
    job: *mut TenantsyncJob,
    work: Work,
    save_plan: Option<PathBuf>,
    out_run: *mut *mut TenantsyncRun,
) -> Result<(), Failure> {
    // SAFETY: forwarded.
    unsafe { start_with(job, work, save_plan, None, out_run) }
}

/// [`start`] for a cycle with a max duration (`None`: the job's `[sync] max_duration`).
///
/// # Safety
/// `out_run` is NULL or writable.
unsafe fn start_limited(
    job: *mut TenantsyncJob,
    work: Work,
    limit: Option<Duration>,
    out_run: *mut *mut TenantsyncRun,
) -> Result<(), Failure> {
    // SAFETY: forwarded.
    unsafe { start_with(job, work, None, limit, out_run) }
}

/// # Safety
/// `out_run` is NULL or writable.
unsafe fn start_with(
    job: *mut TenantsyncJob,
    work: Work,
    save_plan: Option<PathBuf>,
    limit: Option<Duration>,
    out_run: *mut *mut TenantsyncRun,
) -> Result<(), Failure> {
    check_out(out_run, "out_run")?;
    let job_slot = JOBS.slot(from_ptr(job), "job")?;
    let handle = {
        let mut guard = crate::handles::try_lock(&job_slot, "job")?;
        guard.engine()?;
        let mut engine = guard.engine.take().expect("checked");
        // Every run sets it: a limit given to one run does not stay for the next.
        if let Err(e) = engine.set_max_duration(limit) {
            guard.engine = Some(engine);
            return Err(engine_failure(e));
        }
        match engine.start(work) {
            Ok(handle) => Arc::new(handle),
            Err(e) => {
                // Nothing started: the engine went with the refused start; open it again.
                guard.engine = Engine::open(&guard.config_path).ok();
                return Err(engine_failure(e));
            }
        }
    };
    let (number, _) = RUNS.insert(Run {
        job: job_slot,
        handle: Some(handle.clone()),
        save_plan,
        result: None,
    });
    cancels().insert(number, handle);
    // SAFETY: checked non-NULL above.
    unsafe { write_out(out_run, to_ptr(number)) };
    Ok(())
}

/// The options of a cycle.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncInput {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    allow_deletes: bool,
    #[serde(default)]
    max_duration: Option<String>,
}

const SYNC_SHAPE: &str = r#"{"full": false, "allowDeletes": false, "maxDuration": "2h30m"}"#;

/// The options of a plan.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanInput {
    #[serde(default)]
    full: bool,
    #[serde(default)]
    allow_deletes: bool,
    #[serde(default)]
    only: Option<String>,
    #[serde(default)]
    save_plan: Option<PathBuf>,
}

const PLAN_SHAPE: &str =
    r#"{"full": false, "allowDeletes": false, "only": "source id", "savePlan": "plan.json"}"#;

/// Starts one sync cycle of `job`, as `tenantsync sync` does. `request_json` is NULL or
/// `{"full": BOOL, "allowDeletes": BOOL, "maxDuration": DURATION}` (`full` reads the source
/// in full instead of by delta; `allowDeletes` lets a plan over the deletion threshold
/// through; `maxDuration`, such as `"2h30m"`, stops the run at a safe point before that much
/// time, as `--max-duration` does: the outcome is then `incomplete`). Writes the run
/// handle to `out_run`; the job answers `BUSY` until the run finishes. The run's result is
/// `{"kind": "run", "value": RUN_REPORT}` (ffi/README.md).
///
/// # Safety
/// `request_json` is NULL or a NUL-terminated string; `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_sync(
    job: *mut TenantsyncJob,
    request_json: *const c_char,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_sync", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let input: SyncInput = unsafe { json_arg(request_json, "request_json", SYNC_SHAPE) }?;
        let limit = input
            .max_duration
            .as_deref()
            .map(tenantsync_core::parse_duration)
            .transpose()
            .map_err(|e| Failure::new(Status::InvalidArgument, format!("maxDuration: {e}")))?;
        let request = SyncRequest {
            full: input.full,
            dry_run: false,
            allow_deletes: input.allow_deletes,
            only: None,
        };
        // SAFETY: forwarded.
        unsafe { start_limited(job, Work::Sync(request), limit, out_run) }
    })
}

/// Starts a dry run of `job`: the cycle reads both tenants and plans, and writes nothing to
/// the target, as `tenantsync sync --dry-run [--save-plan FILE]` does. `request_json` is NULL
/// or `{"full": BOOL, "allowDeletes": BOOL, "only": SOURCE_ID, "savePlan": PATH}` (`only`
/// plans the provisioning of one object; `savePlan` writes the saved plan to that file when
/// the run finishes). The run's result is a run report whose `savedPlan` is the plan to review
/// and to apply later with `tenantsync_job_start_apply`.
///
/// # Safety
/// `request_json` is NULL or a NUL-terminated string; `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_plan(
    job: *mut TenantsyncJob,
    request_json: *const c_char,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_plan", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let input: PlanInput = unsafe { json_arg(request_json, "request_json", PLAN_SHAPE) }?;
        if input
            .save_plan
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(Failure::new(
                Status::InvalidArgument,
                "savePlan is empty: name the file to write the plan to, or leave it out",
            ));
        }
        let request = SyncRequest {
            full: input.full,
            dry_run: true,
            allow_deletes: input.allow_deletes,
            only: input.only,
        };
        // SAFETY: forwarded.
        unsafe { start(job, Work::Sync(request), input.save_plan, out_run) }
    })
}

/// Starts applying a saved plan exactly, as `tenantsync apply FILE` does. `plan_json` is a
/// saved plan (the `savedPlan` of a plan run's result, or the file `savePlan` wrote). The run
/// reads both tenants first and refuses the whole plan when an object it touches changed since
/// it was made: its result is then `STALE_PLAN`, and the last error names the objects. A plan
/// of another job or schema is refused with `INVALID`. Otherwise the result is a run report.
///
/// # Safety
/// `plan_json` is NULL or a NUL-terminated string; `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_apply(
    job: *mut TenantsyncJob,
    plan_json: *const c_char,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_apply", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let text = unsafe { input_str(plan_json, "plan_json") }?;
        let plan = SavedPlan::from_json(text)
            .map_err(|e| Failure::new(Status::InvalidJson, format!("plan_json: {e}")))?;
        // SAFETY: forwarded.
        unsafe { start(job, Work::Apply(Box::new(plan)), None, out_run) }
    })
}

/// Starts provisioning one source object now (a user, or a group with its members), even when
/// escrowed or quarantined, as `tenantsync provision` does. `object_id` is the source object's
/// id. The run's result is a run report.
///
/// # Safety
/// `object_id` is NULL or a NUL-terminated string; `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_provision(
    job: *mut TenantsyncJob,
    object_id: *const c_char,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_provision", || {
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let id = unsafe { input_str(object_id, "object_id") }?.trim();
        if id.is_empty() {
            return Err(Failure::new(
                Status::InvalidArgument,
                "object_id is empty: pass the id of a source user or group",
            ));
        }
        let request = SyncRequest {
            full: false,
            dry_run: false,
            allow_deletes: false,
            only: Some(id.to_string()),
        };
        // SAFETY: forwarded.
        unsafe { start(job, Work::Sync(request), None, out_run) }
    })
}

/// Starts the preflight of `job` (sign-in, permissions, cross-tenant access policy, anchor
/// extension, schema, state file), as `tenantsync check` does. The run's result is
/// `{"kind": "check", "value": CHECK_REPORT}` (ffi/README.md).
///
/// # Safety
/// `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_check(
    job: *mut TenantsyncJob,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_check", || {
        // SAFETY: forwarded.
        unsafe { start(job, Work::Check, None, out_run) }
    })
}

/// Starts setting up `job` in the target: signs in and creates (or finds) the anchor
/// extension, as `tenantsync init` does. The run's result is `{"kind": "init", "value":
/// ANCHOR_ATTRIBUTE}`.
///
/// # Safety
/// `out_run` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_job_start_init(
    job: *mut TenantsyncJob,
    out_run: *mut *mut TenantsyncRun,
) -> Status {
    guard("tenantsync_job_start_init", || {
        // SAFETY: forwarded.
        unsafe { start(job, Work::Init, None, out_run) }
    })
}

/// Waits up to `timeout_ms` milliseconds (0: not at all) for progress of `run`, then writes
/// `{"finished": BOOL, "events": [EVENT, ...]}` to `out_events_json`: the events since the
/// last poll (ffi/README.md), and whether the run has finished. Once `finished` is true the
/// job is usable again and `tenantsync_run_result` gives the result.
///
/// # Safety
/// `out_events_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_run_poll(
    run: *mut TenantsyncRun,
    timeout_ms: u32,
    out_events_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_run_poll", || {
        check_out(out_events_json, "out_events_json")?;
        let number = from_ptr(run);
        let text = RUNS.with(number, "run", |r| {
            let (events, finished) = match &r.handle {
                Some(handle) => {
                    let mut events = handle.poll_timeout(Duration::from_millis(timeout_ms.into()));
                    // Finished first, then the rest: every event comes before the end.
                    let finished = handle.is_finished();
                    if finished {
                        events.extend(handle.poll());
                    }
                    (events, finished)
                }
                None => (Vec::new(), true),
            };
            if finished {
                r.settle(number);
            }
            to_json(&json!({ "finished": finished, "events": events }))
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_events_json, output_string(text)) };
        Ok(())
    })
}

/// The result of a finished run: writes `{"kind": "run" | "check" | "init", "value": ...}`
/// (a run report, a check report, or init's anchor attribute; ffi/README.md) to `out_json`.
/// Fails with `RUN_NOT_FINISHED` while the run goes on, and with the operation's own status
/// (for example `SIGN_IN`, `STALE_PLAN` or `GRAPH`) when it failed as a whole; the same
/// answer every time it is asked.
///
/// # Safety
/// `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_run_result(run: *mut TenantsyncRun, out_json: *mut *mut c_char) -> Status {
    guard("tenantsync_run_result", || {
        check_out(out_json, "out_json")?;
        let number = from_ptr(run);
        let text = RUNS.with(number, "run", |r| {
            if r.result.is_none() {
                if r.handle.as_ref().is_some_and(|h| !h.is_finished()) {
                    return Err(Failure::new(
                        Status::RunNotFinished,
                        "the run has not finished: poll it until it reports \"finished\": true",
                    ));
                }
                r.settle(number);
            }
            r.result.clone().expect("settled")
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_json, output_string(text)) };
        Ok(())
    })
}

/// Asks `run` to stop at its next safe point (between two writes to the target); what it did
/// so far is recorded. Returns at once; poll the run until it finishes. Cancelling a finished
/// run does nothing. Unlike other calls, this one may be made while another thread polls the
/// same run.
///
/// # Safety
/// None: the handle is looked up among the live runs before it is used.
#[ffi_export]
pub unsafe fn tenantsync_run_cancel(run: *mut TenantsyncRun) -> Status {
    guard("tenantsync_run_cancel", || {
        let number = from_ptr(run);
        if number == 0 {
            return Err(Failure::new(
                Status::NullArgument,
                "run is null: pass a run handle from tenantsync_job_start_*",
            ));
        }
        if let Some(handle) = cancels().get(&number) {
            handle.cancel();
            return Ok(());
        }
        // A live run that has settled has nothing left to cancel.
        RUNS.slot(number, "run").map(|_| ())
    })
}

/// Frees a run handle. NULL is a no-op. A run still going is cancelled and waited for (until
/// its next safe point) so that its job gets its engine back. Fails with `BUSY` while another
/// thread uses the run, and `INVALID_HANDLE` for a handle already freed.
///
/// # Safety
/// None: the handle is looked up among the live runs before it is used.
#[ffi_export]
pub unsafe fn tenantsync_run_free(run: *mut TenantsyncRun) -> Status {
    guard("tenantsync_run_free", || {
        let number = from_ptr(run);
        if number == 0 {
            return Ok(());
        }
        // First stop and join the run (outside the table of runs, which other runs use) ...
        RUNS.with(number, "run", |r| {
            if let Some(handle) = &r.handle
                && !handle.is_finished()
            {
                handle.cancel();
            }
            r.settle(number);
            Ok(())
        })?;
        // ... then forget it.
        RUNS.remove(number, |_| Ok(()))?;
        cancels().remove(&number);
        Ok(())
    })
}

//! Runs: long operations (sync, plan, provision, check, init) on a thread of their own, which
//! the host polls for progress and, once finished, for the result. No callback ever runs on
//! the host's threads.
//!
//! Starting a run takes the engine out of its job (the job answers `BUSY` meanwhile); the run
//! gives it back when it finishes (seen by `tenantsync_run_poll`, `tenantsync_run_result` or
//! `tenantsync_run_free`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use safer_ffi::c_char;
use safer_ffi::prelude::*;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tenantsync_core::sync::{CancelToken, Engine, Event, SyncError, SyncRequest};

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

/// What a run does.
#[derive(Debug)]
enum Work {
    /// A cycle (a dry run for a plan; one object for provisioning).
    Sync(SyncRequest),
    /// The preflight.
    Check,
    /// Sets up the anchor extension in the target.
    Init,
}

/// Events not yet polled, and whether the run's thread has finished.
#[derive(Debug, Default)]
struct Progress {
    events: VecDeque<Event>,
    finished: bool,
}

/// What the run's thread and the pollers share.
#[derive(Debug, Default)]
struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: Event) {
        self.lock().events.push_back(event);
        self.changed.notify_all();
    }

    fn finish(&self) {
        self.lock().finished = true;
        self.changed.notify_all();
    }

    /// Waits up to `timeout` for an event or the end; returns the events and whether the run
    /// finished.
    fn wait(&self, timeout: Duration) -> (Vec<Event>, bool) {
        let deadline = Instant::now().checked_add(timeout);
        let mut progress = self.lock();
        while progress.events.is_empty() && !progress.finished {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            progress = self
                .changed
                .wait_timeout(progress, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let events = progress.events.drain(..).collect();
        (events, progress.finished)
    }
}

/// What the run's thread returns: the engine, and the result as JSON.
type Ending = (Option<Engine>, Result<Json, Failure>);

/// What a run handle holds.
#[derive(Debug)]
pub struct Run {
    job: Slot<Job>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Ending>>,
    /// Set once the thread is joined and the engine given back.
    result: Option<Result<String, Failure>>,
}

/// Every live run handle.
pub static RUNS: Registry<Run> = Registry::new("run");

/// The cancel tokens of live runs, reachable without the run's lock so that a run another
/// thread is polling can be cancelled.
static CANCELS: LazyLock<Mutex<BTreeMap<usize, CancelToken>>> = LazyLock::new(Default::default);

fn cancels() -> std::sync::MutexGuard<'static, BTreeMap<usize, CancelToken>> {
    CANCELS.lock().unwrap_or_else(|e| e.into_inner())
}

impl Run {
    /// Joins the finished thread (waiting for it when it has not finished), gives the engine
    /// back to the job and keeps the result.
    fn settle(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let (engine, result) = match thread.join() {
            Ok(ending) => ending,
            Err(_) => (
                None,
                Err(Failure::new(
                    Status::Panic,
                    "the run panicked; the job must be opened again: please report this bug",
                )),
            ),
        };
        let mut job = self.job.lock().unwrap_or_else(|e| e.into_inner());
        job.engine = engine;
        if job.engine.is_none() {
            // The engine was lost with a panic: reopen it, so the job stays usable.
            job.engine = Engine::open(&job.config_path).ok();
        }
        self.result = Some(result.and_then(|json| to_json(&json)));
    }
}

/// Runs `work` on `engine` on this thread (the run's), sending events to `shared`.
fn execute(mut engine: Engine, work: Work, shared: &Arc<Shared>, cancel: CancelToken) -> Ending {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return (
                Some(engine),
                Err(Failure::new(
                    Status::Engine,
                    format!("cannot start the run's async runtime: {e}"),
                )),
            );
        }
    };
    let sink = {
        let shared = shared.clone();
        move |event: Event| shared.push(event)
    };
    let result: Result<Json, SyncError> = runtime.block_on(async {
        match work {
            Work::Sync(request) => {
                let report = engine.run(&request, &sink, &cancel).await?;
                Ok(serde_json::to_value(report).unwrap_or(Json::Null))
            }
            Work::Check => {
                let report = engine.check().await;
                Ok(serde_json::to_value(report).unwrap_or(Json::Null))
            }
            Work::Init => {
                let message = engine.init().await?;
                Ok(json!({ "message": message }))
            }
        }
    });
    (Some(engine), result.map_err(engine_failure))
}

/// Takes the engine of `job` and starts `work` on a thread of its own; writes the run handle.
///
/// # Safety
/// `out_run` is NULL or writable.
unsafe fn start(
    job: *mut TenantsyncJob,
    work: Work,
    out_run: *mut *mut TenantsyncRun,
) -> Result<(), Failure> {
    check_out(out_run, "out_run")?;
    let job_slot = JOBS.slot(from_ptr(job), "job")?;
    let engine = {
        let mut guard = crate::handles::try_lock(&job_slot, "job")?;
        guard.engine()?;
        guard.engine.take().expect("checked")
    };
    let shared = Arc::new(Shared::default());
    let cancel = CancelToken::new();
    let thread = {
        let shared = shared.clone();
        let cancel = cancel.clone();
        std::thread::Builder::new()
            .name("tenantsync-run".into())
            .spawn(move || {
                let ending = execute(engine, work, &shared, cancel);
                shared.finish();
                ending
            })
    };
    let thread = match thread {
        Ok(thread) => thread,
        Err(e) => {
            return Err(Failure::new(
                Status::Engine,
                format!("cannot start the run's thread: {e}"),
            ));
        }
    };
    let (number, _) = RUNS.insert(Run {
        job: job_slot,
        shared,
        thread: Some(thread),
        result: None,
    });
    cancels().insert(number, cancel);
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
}

const SYNC_SHAPE: &str = r#"{"full": false, "allowDeletes": false}"#;

/// Starts one sync cycle of `job`, as `tenantsync sync` does. `request_json` is NULL or
/// `{"full": BOOL, "allowDeletes": BOOL}` (`full` reads the source in full instead of by
/// delta; `allowDeletes` lets a plan over the deletion threshold through). Writes the run
/// handle to `out_run`; the job answers `BUSY` until the run finishes. The run's result is a
/// run report (ffi/README.md).
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
        let request = SyncRequest {
            full: input.full,
            dry_run: false,
            allow_deletes: input.allow_deletes,
            only: None,
        };
        // SAFETY: forwarded.
        unsafe { start(job, Work::Sync(request), out_run) }
    })
}

/// Starts a dry run of `job`: the cycle reads both tenants and plans, and writes nothing to
/// the target, as `tenantsync sync --dry-run` does. `request_json` is as for
/// `tenantsync_job_start_sync`. The run's result is a run report whose `operations` list the
/// plan.
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
        let input: SyncInput = unsafe { json_arg(request_json, "request_json", SYNC_SHAPE) }?;
        let request = SyncRequest {
            full: input.full,
            dry_run: true,
            allow_deletes: input.allow_deletes,
            only: None,
        };
        // SAFETY: forwarded.
        unsafe { start(job, Work::Sync(request), out_run) }
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
        unsafe { start(job, Work::Sync(request), out_run) }
    })
}

/// Starts the preflight of `job` (sign-in, permissions, cross-tenant access policy, anchor
/// extension, schema, state file), as `tenantsync check` does. The run's result is a check
/// report (ffi/README.md).
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
        unsafe { start(job, Work::Check, out_run) }
    })
}

/// Starts setting up `job` in the target: signs in and creates (or finds) the anchor
/// extension, as `tenantsync init` does. The run's result is `{"message": TEXT}`.
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
        unsafe { start(job, Work::Init, out_run) }
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
        let text = RUNS.with(from_ptr(run), "run", |r| {
            let (events, finished) = r.shared.wait(Duration::from_millis(timeout_ms.into()));
            if finished {
                r.settle();
            }
            to_json(&json!({ "finished": finished, "events": events }))
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_events_json, output_string(text)) };
        Ok(())
    })
}

/// The result of a finished run: writes its JSON (a run report, a check report, or for init
/// `{"message"}`; ffi/README.md) to `out_json`. Fails with `RUN_NOT_FINISHED` while the run
/// goes on, and with the run's own status (for example `CONFIG` or `ENGINE`) when the
/// operation failed as a whole; the same answer every time it is asked.
///
/// # Safety
/// `out_json` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_run_result(run: *mut TenantsyncRun, out_json: *mut *mut c_char) -> Status {
    guard("tenantsync_run_result", || {
        check_out(out_json, "out_json")?;
        let text = RUNS.with(from_ptr(run), "run", |r| {
            if r.result.is_none() {
                if !r.shared.lock().finished {
                    return Err(Failure::new(
                        Status::RunNotFinished,
                        "the run has not finished: poll it until it reports \"finished\": true",
                    ));
                }
                r.settle();
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
        match cancels().get(&number) {
            Some(token) => {
                token.cancel();
                Ok(())
            }
            None => Err(Failure::new(
                Status::InvalidHandle,
                "the run handle is not live: it was freed, or is not a run handle",
            )),
        }
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
            if r.thread.is_some()
                && !r.shared.lock().finished
                && let Some(token) = cancels().get(&number)
            {
                token.cancel();
            }
            r.settle();
            Ok(())
        })?;
        // ... then forget it.
        RUNS.remove(number, |_| Ok(()))?;
        cancels().remove(&number);
        Ok(())
    })
}

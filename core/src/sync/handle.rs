//! Owned runs for hosts: [`Engine::start`] moves the engine onto a thread of its own with its
//! own Tokio runtime and returns a [`RunHandle`] to poll its progress events, cancel it at the
//! next safe point, and take its result (and the engine back). Nothing calls back into the
//! host's threads: the C ABI and the PowerShell module poll.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::{
    CancelToken, CheckReport, Engine, Event, EventSink, RunReport, SavedPlan, SyncError,
    SyncRequest,
};

/// What a started run does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Work {
    /// One cycle ([`Engine::run`]); a dry run's report carries its saved plan.
    Sync(SyncRequest),
    /// Apply a saved plan exactly ([`Engine::apply_saved`]).
    Apply(Box<SavedPlan>),
    /// The preflight ([`Engine::check`]).
    Check,
    /// Register the anchor extension in the target ([`Engine::init`]).
    Init,
}

/// What a finished run produced.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "camelCase")]
#[non_exhaustive]
pub enum WorkOutput {
    /// The report of a cycle or of an applied plan.
    Run(Box<RunReport>),
    /// The preflight's report.
    Check(CheckReport),
    /// The anchor attribute's name, from `init`.
    Init(String),
}

/// Events queued for polling, and whether the run has ended.
#[derive(Default)]
struct Queue {
    inner: Mutex<(VecDeque<Event>, bool)>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Event>, bool)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end(&self) {
        self.lock().1 = true;
        self.ready.notify_all();
    }
}

/// At most this many events wait for a poll; older progress events are dropped first, so a
/// host that never polls cannot make a run grow without bound.
const QUEUE_LIMIT: usize = 10_000;

struct Sink(Arc<Queue>);

impl EventSink for Sink {
    fn emit(&self, event: Event) {
        let mut q = self.0.lock();
        if q.0.len() >= QUEUE_LIMIT {
            if let Some(i) = q.0.iter().position(|e| matches!(e, Event::Progress { .. })) {
                q.0.remove(i);
            } else {
                q.0.pop_front();
            }
        }
        q.0.push_back(event);
        drop(q);
        self.0.ready.notify_all();
    }
}

/// A run on its own thread. Dropping the handle cancels the run and waits for it to stop.
pub struct RunHandle {
    queue: Arc<Queue>,
    cancel: CancelToken,
    thread: Option<JoinHandle<(Engine, Result<WorkOutput, SyncError>)>>,
}

impl std::fmt::Debug for RunHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Starts `work` on a thread of its own, with a Tokio runtime of its own, and returns at
    /// once. The engine comes back from [`RunHandle::wait`].
    pub fn start(self, work: Work) -> Result<RunHandle, SyncError> {
        let queue = Arc::new(Queue::default());
        let cancel = CancelToken::new();
        let (q, c) = (queue.clone(), cancel.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tenantsync-run")
            .enable_all()
            .build()
            .map_err(|e| SyncError::Invalid(format!("cannot start the run's runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("tenantsync-run".into())
            .spawn(move || {
                let mut engine = self;
                let sink = Sink(q.clone());
                let result = runtime.block_on(async {
                    match work {
                        Work::Sync(request) => engine
                            .run(&request, &sink, &c)
                            .await
                            .map(|r| WorkOutput::Run(Box::new(r))),
                        Work::Apply(plan) => engine
                            .apply_saved(&plan, &sink, &c)
                            .await
                            .map(|r| WorkOutput::Run(Box::new(r))),
                        Work::Check => Ok(WorkOutput::Check(engine.check().await)),
                        Work::Init => {
                            engine.sign_in().await?;
                            engine.init().await.map(WorkOutput::Init)
                        }
                    }
                });
                drop(runtime);
                q.end();
                (engine, result)
            })
            .map_err(|e| SyncError::Invalid(format!("cannot start the run's thread: {e}")))?;
        Ok(RunHandle {
            queue,
            cancel,
            thread: Some(thread),
        })
    }
}

impl RunHandle {
    /// The events emitted since the last poll; never blocks.
    pub fn poll(&self) -> Vec<Event> {
        self.queue.lock().0.drain(..).collect()
    }

    /// The events emitted since the last poll, waiting up to `timeout` for at least one (or
    /// for the run to end).
    pub fn poll_timeout(&self, timeout: Duration) -> Vec<Event> {
        let q = self.queue.lock();
        let (mut q, _) = self
            .queue
            .ready
            .wait_timeout_while(q, timeout, |(events, ended)| events.is_empty() && !*ended)
            .unwrap_or_else(|e| e.into_inner());
        q.0.drain(..).collect()
    }

    /// Asks the run to stop at its next safe point (between apply steps); what was applied
    /// stays applied and is recorded.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// True once the run has ended (its result is ready; events may still wait for a poll).
    pub fn is_finished(&self) -> bool {
        self.queue.lock().1
    }

    /// Waits for the run to end; returns the engine and the run's result.
    pub fn wait(mut self) -> (Engine, Result<WorkOutput, SyncError>) {
        let thread = self.thread.take().expect("a handle is waited for once");
        match thread.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.cancel.cancel();
            let _ = thread.join();
        }
    }
}

/// What crosses threads must be `Send`: the engine (moved onto the run's thread), the handle
/// (held by hosts on any thread) and the results.
const _: () = {
    const fn send<T: Send>() {}
    send::<Engine>();
    send::<RunHandle>();
    send::<WorkOutput>();
    send::<SyncError>();
    send::<Event>();
};

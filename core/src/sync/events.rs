//! Progress events and cancellation: how a running cycle talks to whoever runs it (the CLI
//! renders events, the C ABI queues them for polling).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::plan::OperationKind;

/// The stages of one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Stage {
    /// Signing in to both tenants.
    SignIn,
    /// Reading the source (full or delta) and the target.
    Observe,
    /// Evaluating mappings and making the plan.
    Plan,
    /// Writing to the target.
    Apply,
    /// Saving state and the run summary.
    Record,
}

impl Stage {
    /// The stage's name in progress lines (`sign-in`, `observe`, `plan`, `apply`, `record`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::SignIn => "sign-in",
            Stage::Observe => "observe",
            Stage::Plan => "plan",
            Stage::Apply => "apply",
            Stage::Record => "record",
        }
    }
}

/// How one operation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OperationStatus {
    /// Graph accepted it.
    Success,
    /// Graph refused it, or it could not be sent; the object is escrowed.
    Failure,
    /// Not attempted (its object is escrowed, blocked by a failed dependency, or the run was
    /// cancelled).
    Skipped,
}

impl OperationStatus {
    /// The status's name as in JSON and the provisioning log.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Success => "success",
            OperationStatus::Failure => "failure",
            OperationStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for OperationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One thing that happened during a cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Event {
    /// A stage started.
    #[serde(rename_all = "camelCase")]
    Stage {
        /// The stage.
        stage: Stage,
        /// What it does now.
        message: String,
    },
    /// Work done within a stage.
    #[serde(rename_all = "camelCase")]
    Progress {
        /// The stage.
        stage: Stage,
        /// Units done.
        done: u64,
        /// Units to do (0 when unknown).
        total: u64,
        /// The object at hand, for people.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object: Option<String>,
    },
    /// One operation was applied (or failed, or was skipped).
    #[serde(rename_all = "camelCase")]
    Operation {
        /// The operation kind (`createUser`, ...).
        op: OperationKind,
        /// For people.
        display: String,
        /// How it went.
        status: OperationStatus,
        /// Why it failed or was skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Something an admin should know that is not a failure.
    #[serde(rename_all = "camelCase")]
    Warning {
        /// What.
        message: String,
    },
}

/// Receives events. Implementations must be quick: they run on the cycle's task.
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn emit(&self, event: Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}

impl<F: Fn(Event) + Send + Sync> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Asks a running cycle to stop at the next safe point (between apply steps). Cloning shares
/// the token.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

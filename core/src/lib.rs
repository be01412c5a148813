//! # tenantsync-core
//!
//! The engine of tenantsync: one-way synchronization of Microsoft Entra ID users and security
//! groups, with their memberships, from a source tenant into a target tenant.
//!
//! The modules follow one sync cycle (observe, transform, plan, apply, record); everything here
//! that needs no network is pure and deterministic:
//!
//! - [`config`]: the job configuration (`job.toml`).
//! - [`value`]: typed attribute values.
//! - [`expr`]: Entra's attribute-mapping expression language (parser, evaluator, functions).
//! - [`schema`]: Microsoft Graph's `synchronizationSchema` (read, write, validate, default).
//! - [`scope`]: assignment scoping and scoping filters.
//! - [`snapshot`]: the JSON snapshot of a tenant's users, groups and memberships.
//! - [`plan`]: the planner, a pure function from snapshots to an ordered list of operations.
//! - [`state`]: the state store (SQLite), one file per job.
//! - [`clock`]: the one injected clock the engine reads time from.
//! - [`entra`]: the Entra bridge: Entra's own cross-tenant synchronization jobs (group sync,
//!   export).

#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod entra;
pub mod expr;
pub mod graph;
pub mod plan;
pub mod plugin;
pub mod schema;
pub mod scope;
pub mod snapshot;
pub mod state;
pub mod sync;
pub mod value;

pub use value::Value;

// The host API, flat: what the command line, the C ABI and other hosts build on.
pub use config::{ConfigError, JobConfig};
pub use plan::{Operation, OperationKind, Plan};
pub use state::{LogEntry, LogFilter, ResetScope, RunRecord};
pub use sync::{
    CancelToken, CheckItem, CheckReport, CheckStatus, Cycle, Engine, ErrorCode, Event, EventSink,
    NoEvents, ObjectVersion, Observation, OperationStatus, ResetSummary, RunHandle, RunMode,
    RunOutcome, RunReport, SavedPlan, Stage, StaleObject, SyncError, SyncRequest, Work, WorkOutput,
    advice,
};

/// This library's version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

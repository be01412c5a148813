//! Stable numbers: the code of each kind of [`SyncError`], the exit code of each
//! [`RunOutcome`], and what to do about a Graph error code. The command line's exit codes and
//! the C ABI's status codes are these numbers; they never change meaning, and a retired number
//! is never reused.

use serde::{Deserialize, Serialize};

use super::{RunOutcome, SyncError};

/// The kind of a [`SyncError`], as a stable number (the C ABI's status code for it).
/// Numbered in blocks: 100–199 the job's input, 200–299 signing in, 300–399 running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[repr(u32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The job configuration is unusable.
    Config = 100,
    /// Something the job needs is missing or wrong.
    Invalid = 101,
    /// The schema is unusable.
    Schema = 102,
    /// A plugin of the job cannot be loaded.
    Plugin = 103,
    /// A saved plan's objects changed since it was made.
    StalePlan = 104,
    /// Signing in to a tenant failed.
    SignIn = 200,
    /// The token is for another tenant than the one configured.
    WrongTenant = 201,
    /// Graph failed in a way that stops the cycle.
    Graph = 300,
    /// The state store failed.
    State = 301,
    /// Another cycle of the same job is running.
    Busy = 302,
    /// The planner refused its input.
    Plan = 303,
    /// The job's state in Azure Storage cannot be reached or used: the run did not start.
    StateRemote = 305,
    /// The state blob was rewritten by someone else during the run: the run stopped.
    StateConflict = 306,
    /// The run lost its lease on the state blob: the run stopped.
    LeaseLost = 307,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::Config,
        ErrorCode::Invalid,
        ErrorCode::Schema,
        ErrorCode::Plugin,
        ErrorCode::StalePlan,
        ErrorCode::SignIn,
        ErrorCode::WrongTenant,
        ErrorCode::Graph,
        ErrorCode::State,
        ErrorCode::Busy,
        ErrorCode::Plan,
        ErrorCode::StateRemote,
        ErrorCode::StateConflict,
        ErrorCode::LeaseLost,
    ];

    /// The number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The code with this number.
    pub fn from_number(n: u32) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.number() == n)
    }

    /// A short, lower-case description of the kind of failure.
    pub fn message(self) -> &'static str {
        self.message_cstr().to_str().expect("messages are ascii")
    }

    /// [`ErrorCode::message`] NUL-terminated, for the C ABI's static strings.
    pub fn message_cstr(self) -> &'static std::ffi::CStr {
        match self {
            ErrorCode::Config => c"the job configuration is unusable",
            ErrorCode::Invalid => c"something the job needs is missing or wrong",
            ErrorCode::Schema => c"the synchronization schema is unusable",
            ErrorCode::Plugin => c"a plugin of the job cannot be loaded",
            ErrorCode::StalePlan => c"the saved plan is stale: objects it touches changed",
            ErrorCode::SignIn => c"signing in to a tenant failed",
            ErrorCode::WrongTenant => c"the token is for another tenant than the one configured",
            ErrorCode::Graph => c"microsoft graph failed",
            ErrorCode::State => c"the job's state store failed",
            ErrorCode::Busy => c"another cycle of this job is running",
            ErrorCode::Plan => c"the planner refused its input",
            ErrorCode::StateRemote => c"the job's state in azure storage cannot be used",
            ErrorCode::StateConflict => c"the job's state blob was rewritten by someone else",
            ErrorCode::LeaseLost => c"the run lost its lease on the job's state blob",
        }
    }
}

/// Exit code of a problem an admin fixes in configuration or credentials.
pub(crate) const EXIT_CONFIG: u8 = 3;
/// Exit code of a saved plan refused as stale: nothing was applied.
pub(crate) const EXIT_STALE_PLAN: u8 = 8;
/// Exit code of a job whose other run holds its state (here, or on another host).
pub(crate) const EXIT_BUSY: u8 = 9;
/// Exit code of a run stopped at its max duration: progress made, run again.
pub(crate) const EXIT_INCOMPLETE: u8 = 10;
/// Exit code of any other failure.
pub(crate) const EXIT_FAILURE: u8 = 1;

impl SyncError {
    /// The error's stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SyncError::Config(_) => ErrorCode::Config,
            SyncError::Invalid(_) => ErrorCode::Invalid,
            SyncError::Schema(_) => ErrorCode::Schema,
            SyncError::SignIn { .. } => ErrorCode::SignIn,
            SyncError::WrongTenant { .. } => ErrorCode::WrongTenant,
            SyncError::Graph(_) => ErrorCode::Graph,
            SyncError::State(_) => ErrorCode::State,
            SyncError::Plan(_) => ErrorCode::Plan,
            SyncError::Plugin(_) => ErrorCode::Plugin,
            SyncError::StalePlan { .. } => ErrorCode::StalePlan,
            SyncError::Busy { .. } => ErrorCode::Busy,
            SyncError::StateBlob(e) => match e {
                crate::blob::BlobError::Conflict { .. } => ErrorCode::StateConflict,
                crate::blob::BlobError::LeaseLost { .. } => ErrorCode::LeaseLost,
                _ => ErrorCode::StateRemote,
            },
        }
    }

    /// The command line's exit code for this error: 3 for what an admin fixes in the job or
    /// its credentials, 8 for a stale saved plan, 9 when another run of the job holds its
    /// state, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if matches!(self, SyncError::StalePlan { .. }) {
            EXIT_STALE_PLAN
        } else if matches!(self, SyncError::Busy { .. }) {
            EXIT_BUSY
        } else if self.is_configuration() {
            EXIT_CONFIG
        } else {
            EXIT_FAILURE
        }
    }
}

impl RunOutcome {
    /// The outcome's stable code (the C ABI's `outcomeCode`).
    pub fn code(self) -> u32 {
        match self {
            RunOutcome::Converged => 0,
            RunOutcome::Escrowed => 4,
            RunOutcome::Refused => 5,
            RunOutcome::Quarantined => 6,
            RunOutcome::DryRun => 9,
            RunOutcome::Cancelled => 10,
            RunOutcome::Incomplete => 11,
        }
    }

    /// The command line's exit code: 0 converged or dry run, 4 escrowed, 5 refused,
    /// 6 quarantined, 1 cancelled, 10 incomplete (stopped at its max duration: run again).
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Converged | RunOutcome::DryRun => 0,
            RunOutcome::Escrowed => 4,
            RunOutcome::Refused => 5,
            RunOutcome::Quarantined => 6,
            RunOutcome::Cancelled => EXIT_FAILURE,
            RunOutcome::Incomplete => EXIT_INCOMPLETE,
        }
    }
}

/// What to do about a failed operation, from its Graph error code and message.
pub fn advice(code: Option<&str>, message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    match code.unwrap_or("") {
        "Authorization_RequestDenied" | "Forbidden" | "accessDenied" => {
            "the target application lacks a permission: run `tenantsync check` and grant what it names"
        }
        "Request_ResourceNotFound" | "ResourceNotFound" => {
            "the object disappeared meanwhile; it is retried at the next cycle"
        }
        "ObjectConflict" => {
            "an object with the same unique value (userPrincipalName, mail, mailNickname) exists in the target: match it or rename it, then the next cycle retries"
        }
        "Directory_QuotaExceeded" => {
            "the target's directory object quota is reached: ask Microsoft to raise it or remove objects"
        }
        "TooManyRequests" | "activityLimitReached" => {
            "the target throttled the job: lower [sync] concurrency or lengthen [sync] interval"
        }
        "Request_BadRequest" if lower.contains("already exist") => {
            "the value already exists on another object in the target: resolve the conflict, then the next cycle retries"
        }
        "Request_BadRequest" | "BadRequest" => {
            "the target refused a value: check the attribute mappings (`tenantsync schema validate`) and the provisioning log"
        }
        "ServiceUnavailable"
        | "serviceNotAvailable"
        | "generalException"
        | "InternalServerError" => {
            "a transient Graph failure; the object is escrowed and retried automatically"
        }
        _ if lower.contains("no answer from graph") => {
            "the target did not answer; the object is escrowed and retried automatically"
        }
        _ => {
            "the object is escrowed and retried at later cycles; `tenantsync logs --object ID` shows its history"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_numbered_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.number()), "{c:?} reuses a number");
            assert_eq!(ErrorCode::from_number(c.number()), Some(*c));
            assert!((100..400).contains(&c.number()));
            assert!(!c.message().is_empty());
        }
        assert_eq!(ErrorCode::from_number(0), None);
        // The numbers are a contract: spot-check that they never move.
        assert_eq!(ErrorCode::Config.number(), 100);
        assert_eq!(ErrorCode::StalePlan.number(), 104);
        assert_eq!(ErrorCode::Busy.number(), 302);
        assert_eq!(ErrorCode::StateRemote.number(), 305);
        assert_eq!(ErrorCode::LeaseLost.number(), 307);
    }

    #[test]
    fn a_busy_job_exits_with_its_own_code_naming_where_it_runs() {
        let local = SyncError::Busy {
            state: "/jobs/a.state.db".into(),
            lease_seconds: None,
        };
        assert_eq!(local.exit_code(), 9);
        assert!(local.to_string().contains("/jobs/a.state.db"));
        let remote = SyncError::Busy {
            state: "https://acct.blob.core.windows.net/jobs/a.db".into(),
            lease_seconds: Some(60),
        };
        assert_eq!(remote.exit_code(), 9);
        let text = remote.to_string();
        assert!(
            text.contains("running elsewhere") && text.contains("at most 60 s"),
            "{text}"
        );
        assert_eq!(remote.code(), ErrorCode::Busy);
    }

    #[test]
    fn outcomes_map_to_the_documented_exit_codes() {
        assert_eq!(RunOutcome::Converged.exit_code(), 0);
        assert_eq!(RunOutcome::DryRun.exit_code(), 0);
        assert_eq!(RunOutcome::Escrowed.exit_code(), 4);
        assert_eq!(RunOutcome::Refused.exit_code(), 5);
        assert_eq!(RunOutcome::Quarantined.exit_code(), 6);
        assert_eq!(RunOutcome::Cancelled.exit_code(), 1);
        assert_eq!(RunOutcome::Incomplete.exit_code(), 10);
        assert_eq!(RunOutcome::Incomplete.code(), 11);
    }

    #[test]
    fn advice_names_permissions_and_conflicts() {
        assert!(advice(Some("Authorization_RequestDenied"), "").contains("tenantsync check"));
        assert!(advice(Some("ObjectConflict"), "").contains("unique value"));
        assert!(
            advice(Some("Request_BadRequest"), "Another object already exists")
                .contains("conflict")
        );
        assert!(advice(None, "no answer from graph").contains("did not answer"));
    }
}

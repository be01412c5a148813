//! The status every exported function returns: a stable, numbered code.

use safer_ffi::prelude::*;
use tenantsync_core::ErrorCode;

/// What a call of the C ABI did. `TENANTSYNC_STATUS_OK` (0) is success; anything else is a
/// failure whose message `tenantsync_last_error_message` returns on the same thread.
///
/// The numbers are a contract, in blocks: 0 success; 1-99 how the call was made (the
/// library's own); 100-899 the engine's failures, with the numbers of core's `ErrorCode`
/// (the same the command line reports: 100-199 the job's input, 200-299 signing in, 300-399
/// running); 900-999 the library itself. New codes take a free number in their block, and a
/// retired number is never reused.
#[derive_ReprC(rename = "tenantsync_status")]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The call succeeded and wrote its outputs.
    Ok = 0,

    // --- 1-99: how the call was made -----------------------------------------------------
    /// A pointer argument that must not be NULL was NULL.
    NullArgument = 1,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 2,
    /// A JSON argument is not valid JSON, or not of the documented shape.
    InvalidJson = 3,
    /// An argument has a value outside what the function accepts.
    InvalidArgument = 4,
    /// A handle (job, run, or library string) is not live: never issued, already freed, or
    /// of another kind.
    InvalidHandle = 5,
    /// The handle is in use: by a call on another thread, or (for a job) by a run.
    Busy = 6,
    /// The run has not finished yet: poll it until it reports `"finished": true`.
    RunNotFinished = 7,
    /// An expression does not parse or cannot be evaluated.
    Expression = 8,
    /// A file the call writes cannot be written.
    Io = 9,

    // --- 100-199: the job's input (core's ErrorCode) -------------------------------------
    /// The job configuration is unusable.
    Config = 100,
    /// Something the job needs is missing or wrong.
    Invalid = 101,
    /// The synchronization schema is unusable (or, for `tenantsync_schema_validate`, the text
    /// is not a schema).
    Schema = 102,
    /// A plugin of the job cannot be loaded.
    Plugin = 103,
    /// A saved plan is stale: objects it touches changed since it was made; nothing was
    /// applied.
    StalePlan = 104,

    // --- 200-299: signing in (core's ErrorCode) ------------------------------------------
    /// Signing in to a tenant failed.
    SignIn = 200,
    /// The token is for another tenant than the one configured.
    WrongTenant = 201,

    // --- 300-399: running (core's ErrorCode) ---------------------------------------------
    /// Microsoft Graph failed in a way that stops the operation.
    Graph = 300,
    /// The job's state store failed.
    State = 301,
    /// Another cycle of this job, in this or another process, holds its state.
    JobLocked = 302,
    /// The planner refused its input.
    Plan = 303,
    /// The job's state in Azure Storage cannot be reached or used: the run did not start.
    StateRemote = 305,
    /// The job's state blob was rewritten by someone else during the run: the run stopped.
    StateConflict = 306,
    /// The run lost its lease on the job's state blob: the run stopped.
    LeaseLost = 307,

    // --- 900-999: the library itself -----------------------------------------------------
    /// The library panicked; the call was abandoned (please report it).
    Panic = 900,
    /// The engine failed in a way this version of the library has no code for.
    Unknown = 901,
}

impl Status {
    /// Every status, in numeric order.
    pub const ALL: &'static [Status] = &[
        Status::Ok,
        Status::NullArgument,
        Status::InvalidUtf8,
        Status::InvalidJson,
        Status::InvalidArgument,
        Status::InvalidHandle,
        Status::Busy,
        Status::RunNotFinished,
        Status::Expression,
        Status::Io,
        Status::Config,
        Status::Invalid,
        Status::Schema,
        Status::Plugin,
        Status::StalePlan,
        Status::SignIn,
        Status::WrongTenant,
        Status::Graph,
        Status::State,
        Status::JobLocked,
        Status::Plan,
        Status::StateRemote,
        Status::StateConflict,
        Status::LeaseLost,
        Status::Panic,
        Status::Unknown,
    ];

    /// The status of an engine error code: the same number.
    pub fn of(code: ErrorCode) -> Status {
        Status::from_code(code.number())
            .filter(|s| (100..900).contains(&(*s as u32)))
            .unwrap_or(Status::Unknown)
    }

    /// The status with this number, if there is one.
    pub fn from_code(code: u32) -> Option<Status> {
        Status::ALL.iter().copied().find(|s| *s as u32 == code)
    }

    /// A short, lower-case sentence saying what the status means (NUL-terminated, static).
    pub fn message_cstr(self) -> &'static std::ffi::CStr {
        match self {
            Status::Ok => c"ok",
            Status::NullArgument => c"a pointer argument is null",
            Status::InvalidUtf8 => c"a string argument is not valid utf-8",
            Status::InvalidJson => c"a json argument is invalid or not of the documented shape",
            Status::InvalidArgument => c"an argument has a value the function does not accept",
            Status::InvalidHandle => {
                c"the handle is not live: never issued, already freed, or of another kind"
            }
            Status::Busy => c"the handle is in use by another call or by a run: try again later",
            Status::RunNotFinished => c"the run has not finished: poll it until it has",
            Status::Expression => c"the expression does not parse or cannot be evaluated",
            Status::Io => c"a file cannot be written",
            // The engine's codes: core's message for the same number.
            Status::Config
            | Status::Invalid
            | Status::Schema
            | Status::Plugin
            | Status::StalePlan
            | Status::SignIn
            | Status::WrongTenant
            | Status::Graph
            | Status::State
            | Status::JobLocked
            | Status::Plan
            | Status::StateRemote
            | Status::StateConflict
            | Status::LeaseLost => ErrorCode::from_number(self as u32)
                .map_or(c"the engine failed", ErrorCode::message_cstr),
            Status::Panic => c"the library panicked; the call was abandoned",
            Status::Unknown => c"the engine failed in a way this library has no code for",
        }
    }

    /// The message of status number `code`, or `unknown status code`.
    pub fn message_of(code: u32) -> &'static std::ffi::CStr {
        match Status::from_code(code) {
            Some(status) => status.message_cstr(),
            None => c"unknown status code",
        }
    }

    /// [`Status::message_cstr`] as text.
    pub fn message(self) -> &'static str {
        self.message_cstr().to_str().expect("messages are ascii")
    }
}

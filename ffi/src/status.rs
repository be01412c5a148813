//! The status every exported function returns: a stable, numbered code.

use safer_ffi::prelude::*;

/// What a call of the C ABI did. `TENANTSYNC_STATUS_OK` (0) is success; anything else is a
/// failure whose message `tenantsync_last_error_message` returns on the same thread.
///
/// The numbers are a contract: they come in blocks (0 success, 1-99 how the call was made,
/// 100-199 the job and its inputs, 200-299 runs and the engine, 900-999 the library itself),
/// new codes take a free number in their block, and a retired number is never reused.
#[derive_ReprC(rename = "tenantsync_status")]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// The call succeeded and wrote its outputs.
    Ok = 0,

    // --- 1-99: how the call was made ---------------------------------------------------
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

    // --- 100-199: the job and its inputs -----------------------------------------------
    /// The job configuration, its schema, plugins or credentials cannot be used.
    Config = 100,
    /// An expression does not parse or cannot be evaluated.
    Expression = 101,
    /// A mapping schema does not parse.
    Schema = 102,
    /// The job's state file cannot be read or written.
    State = 103,

    // --- 200-299: runs and the engine --------------------------------------------------
    /// The engine failed: Graph or the state store stopped the operation.
    Engine = 200,
    /// Another run of the same job (in this or another process) holds its state.
    JobLocked = 201,

    // --- 900-999: the library itself ----------------------------------------------------
    /// The library panicked; the call was abandoned (the handles it used may be unusable).
    Panic = 900,
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
        Status::Config,
        Status::Expression,
        Status::Schema,
        Status::State,
        Status::Engine,
        Status::JobLocked,
        Status::Panic,
    ];

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
            Status::Config => c"the job configuration, schema, plugins or credentials are unusable",
            Status::Expression => c"the expression does not parse or cannot be evaluated",
            Status::Schema => c"the mapping schema does not parse",
            Status::State => c"the job's state file cannot be read or written",
            Status::Engine => c"the engine failed: graph or the state store stopped the operation",
            Status::JobLocked => c"another run of this job holds its state: wait for it to finish",
            Status::Panic => c"the library panicked; the call was abandoned",
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

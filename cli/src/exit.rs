//! Exit codes: stable numbers that scripts and runbooks rely on.

/// The process exit codes of `tenantsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success: the command did what it was asked (a sync converged, a plan was made).
    Ok = 0,
    /// An unexpected failure.
    Failure = 1,
    /// The command line is wrong (clap's own code).
    Usage = 2,
    /// A configuration, schema, snapshot or sign-in problem: fix the input and run again.
    Config = 3,
    /// Some objects failed and were escrowed for the next cycle; the rest was applied.
    Escrowed = 4,
    /// The plan passed the deletion threshold and was refused: nothing was applied.
    Refused = 5,
    /// The job is quarantined.
    Quarantined = 6,
    /// An invalid input was found by a check (`schema validate`).
    Invalid = 7,
    /// A saved plan is stale: objects it touches changed since it was made; nothing applied.
    StalePlan = 8,
    /// Another run of the job holds its state: here, in another process, or on another host
    /// (the state blob is leased). Nothing was done; run again later.
    Busy = 9,
    /// The run stopped at its max duration (`--max-duration`, `[sync] max_duration`) after
    /// making progress: run again to continue with what is left.
    Incomplete = 10,
}

impl Code {
    /// The code with this number, as core's [`tenantsync_core::SyncError::exit_code`]
    /// and [`tenantsync_core::RunOutcome::exit_code`] give it.
    pub fn from_number(n: u8) -> Code {
        match n {
            0 => Code::Ok,
            2 => Code::Usage,
            3 => Code::Config,
            4 => Code::Escrowed,
            5 => Code::Refused,
            6 => Code::Quarantined,
            7 => Code::Invalid,
            8 => Code::StalePlan,
            9 => Code::Busy,
            10 => Code::Incomplete,
            _ => Code::Failure,
        }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(c: Code) -> Self {
        std::process::ExitCode::from(c as u8)
    }
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What went wrong.
    pub error: anyhow::Error,
}

impl Failure {
    /// An input problem (exit code 3).
    pub fn config(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: Code::Config,
            error: error.into(),
        }
    }

    /// True when the error is a closed standard output.
    pub fn is_broken_pipe(&self) -> bool {
        self.error
            .chain()
            .filter_map(|e| e.downcast_ref::<std::io::Error>())
            .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            code: Code::Failure,
            error: e.into(),
        }
    }
}

/// The error and its causes on one line, each cause once: library errors often already name
/// their cause in their own message.
pub fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

//! What the commands that run a job share: the `--config` argument, the async runtime,
//! opening the engine, mapping engine errors to exit codes, and Ctrl-C.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use tenantsync_core::{CancelToken, Engine, SyncError};

use crate::exit::{Code, Failure};

/// The job a command works on.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job configuration (docs/configuration.md).
    #[arg(long, value_name = "FILE", env = "TENANTSYNC_CONFIG")]
    pub config: PathBuf,
}

/// The exit code of an engine error: 3 for configuration and sign-in problems, else 1.
pub fn sync_failure(error: SyncError) -> Failure {
    Failure {
        code: Code::from_number(error.exit_code()),
        error: error.into(),
    }
}

/// A runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::from(anyhow!("cannot start the async runtime: {e}")))
}

/// Opens the job (no network yet).
pub fn open(args: &JobArgs) -> Result<Engine, Failure> {
    Engine::open(&args.config).map_err(sync_failure)
}

/// Cancels `token` on the first Ctrl-C (the cycle stops at its next safe point and records
/// what it did); a second Ctrl-C ends the process at once. Call inside the runtime.
pub fn cancel_on_ctrl_c(token: CancelToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\ninterrupted: stopping at the next safe point and recording the run (Ctrl-C again to quit at once)"
        );
        token.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("quitting without recording; the next cycle repeats the unfinished work");
            std::process::exit(130);
        }
    });
}

pub use tenantsync_core::advice;

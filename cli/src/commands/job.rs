//! What the commands that run a job share: the `--config` argument, the async runtime,
//! opening the engine, mapping engine errors to exit codes, and Ctrl-C.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use tenantsync_core::sync::{CancelToken, Engine, SyncError};

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
    let code = if error.is_configuration() {
        Code::Config
    } else {
        Code::Failure
    };
    Failure {
        code,
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
    fn advice_names_permissions_and_conflicts() {
        assert!(advice(Some("Authorization_RequestDenied"), "").contains("tenantsync check"));
        assert!(
            advice(
                Some("Request_BadRequest"),
                "Another object with the same value for property proxyAddresses already exists."
            )
            .contains("already exists")
        );
        assert!(advice(None, "boom").contains("escrowed"));
    }
}

//! `tenantsync`: the command-line program, thin over `tenantsync-core`.
//!
//! Parse, run, map the outcome to an exit code (see `exit.rs` and `docs/operations.md`).

mod commands;
mod exit;

use std::io::Write;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(failure) => {
            // A closed pipe (`tenantsync plan | head`) is not an error worth reporting.
            if failure.is_broken_pipe() {
                return exit::Code::Ok.into();
            }
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                exit::message(&failure.error)
            );
            failure.code.into()
        }
    }
}

//! `tenantsync reset --config job.toml --scope watermark|escrows|quarantine|full`: like Graph's
//! `restart` with `resetScope`.

use clap::{Args, ValueEnum};
use tenantsync_core::ResetScope;

use super::job::{self, JobArgs};
use crate::exit::{Code, Failure};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scope {
    /// Delta links and the source cache: the next cycle reads the source in full.
    Watermark,
    /// Escrowed objects: they are retried at the next cycle.
    Escrows,
    /// The quarantine: the next cycle runs at the normal rate.
    Quarantine,
    /// All of the above and the anchors cache (run history and the log are kept).
    Full,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    job: JobArgs,
    /// What to clear.
    #[arg(long, value_enum)]
    scope: Scope,
}

pub fn run(args: ResetArgs) -> Result<Code, Failure> {
    let mut engine = job::open(&args.job)?;
    let scope = match args.scope {
        Scope::Watermark => ResetScope::Watermark,
        Scope::Escrows => ResetScope::Escrows,
        Scope::Quarantine => ResetScope::Quarantine,
        Scope::Full => ResetScope::Full,
    };
    // Under the job's lock: a reset while a cycle runs is refused (Busy), never interleaved.
    let done = engine.reset(scope).map_err(job::sync_failure)?;
    let mut cleared = Vec::new();
    if done.delta_links {
        cleared.push(
            "the delta links and the source cache: the next cycle reads the source in full"
                .to_string(),
        );
    }
    if matches!(scope, ResetScope::Escrows | ResetScope::Full) {
        cleared.push(format!(
            "{} escrowed objects: they are retried at the next cycle",
            done.escrows
        ));
    }
    if matches!(scope, ResetScope::Quarantine | ResetScope::Full) {
        cleared.push(match &done.quarantine {
            Some(q) => format!(
                "the quarantine ({} since {}: {}): the next cycle runs at the normal rate",
                q.reason, q.began_at, q.error
            ),
            None => "no quarantine (the job was not quarantined)".to_string(),
        });
    }
    if done.anchors {
        cleared.push(
            "the anchors cache: the next cycle matches by the anchors stored in the target"
                .to_string(),
        );
    }
    println!("Cleared in {}:", done.state.display());
    for c in cleared {
        println!("  - {c}");
    }
    println!("The run history and the provisioning log are kept.");
    Ok(Code::Ok)
}

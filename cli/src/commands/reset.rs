//! `tenantsync reset --config job.toml --scope watermark|escrows|quarantine|full`: like Graph's
//! `restart` with `resetScope`.

use clap::{Args, ValueEnum};
use tenantsync_core::state::ResetScope;

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
    let state = engine.state().map_err(job::sync_failure)?;
    let escrows = state.escrows().map_err(anyhow::Error::from)?.len();
    let quarantine = state.quarantine().map_err(anyhow::Error::from)?;
    let (scope, cleared) = match args.scope {
        Scope::Watermark => (
            ResetScope::Watermark,
            vec![
                "the delta links and the source cache: the next cycle reads the source in full"
                    .to_string(),
            ],
        ),
        Scope::Escrows => (
            ResetScope::Escrows,
            vec![format!(
                "{escrows} escrowed objects: they are retried at the next cycle"
            )],
        ),
        Scope::Quarantine => (
            ResetScope::Quarantine,
            vec![match &quarantine {
                Some(q) => format!(
                    "the quarantine ({} since {}: {}): the next cycle runs at the normal rate",
                    q.reason, q.began_at, q.error
                ),
                None => "nothing: the job was not quarantined".to_string(),
            }],
        ),
        Scope::Full => (
            ResetScope::Full,
            vec![
                "the delta links and the source cache: the next cycle reads the source in full"
                    .to_string(),
                format!("{escrows} escrowed objects"),
                match &quarantine {
                    Some(q) => format!("the quarantine ({})", q.reason),
                    None => "no quarantine (there was none)".to_string(),
                },
                "the anchors cache: the next cycle matches by the anchors stored in the target"
                    .to_string(),
            ],
        ),
    };
    state.reset(scope).map_err(anyhow::Error::from)?;
    println!("Cleared in {}:", state.path().display());
    for c in cleared {
        println!("  - {c}");
    }
    println!("The run history and the provisioning log are kept.");
    Ok(Code::Ok)
}

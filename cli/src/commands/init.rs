//! `tenantsync init --config job.toml`: sign in, create or find the anchor extension.

use clap::Args;

use super::job::{self, JobArgs};
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    job: JobArgs,
}

pub fn run(args: InitArgs) -> Result<Code, Failure> {
    let mut engine = job::open(&args.job)?;
    let runtime = job::runtime()?;
    let name = runtime
        .block_on(async {
            engine.sign_in().await?;
            engine.init().await
        })
        .map_err(job::sync_failure)?;
    println!("Signed in to both tenants.");
    println!("Anchors are kept in the directory extension {name} of the target tenant.");
    println!("State: {}", engine.state_location());
    println!(
        "Next: `tenantsync check --config {}`, then `tenantsync sync --config {} --dry-run`.",
        args.job.config.display(),
        args.job.config.display()
    );
    Ok(Code::Ok)
}

//! `tenantsync check --config job.toml [--json]`: the preflight, one verdict per item.

use std::io::Write;

use clap::Args;
use tenantsync_core::{CheckReport, CheckStatus};

use super::job::{self, JobArgs};
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Print the verdicts as one JSON document.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CheckArgs) -> Result<Code, Failure> {
    let mut engine = job::open(&args.job)?;
    let runtime = job::runtime()?;
    let report = runtime.block_on(engine.check());
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        render(&mut out, &report)?;
    }
    Ok(if report.passed() {
        Code::Ok
    } else {
        Code::Config
    })
}

pub(crate) fn render(out: &mut impl Write, report: &CheckReport) -> std::io::Result<()> {
    for item in &report.items {
        let mark = match item.status {
            CheckStatus::Ok => "ok     ",
            CheckStatus::Warning => "warning",
            CheckStatus::Failed => "FAILED ",
        };
        writeln!(out, "{mark}  {}: {}", item.name, item.detail)?;
        if let Some(remedy) = &item.remedy {
            writeln!(out, "         what to do: {remedy}")?;
        }
    }
    let failed = report
        .items
        .iter()
        .filter(|i| i.status == CheckStatus::Failed)
        .count();
    let warnings = report
        .items
        .iter()
        .filter(|i| i.status == CheckStatus::Warning)
        .count();
    if failed == 0 {
        writeln!(
            out,
            "\nReady: {} checks passed{}. Next: `tenantsync sync --dry-run`.",
            report.items.len() - warnings,
            if warnings > 0 {
                format!(", {warnings} with warnings")
            } else {
                String::new()
            }
        )
    } else {
        writeln!(
            out,
            "\nNot ready: {failed} of {} checks failed. Fix them and run `tenantsync check` again.",
            report.items.len()
        )
    }
}

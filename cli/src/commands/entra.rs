//! `tenantsync entra ...`: Entra's own cross-tenant synchronization jobs in the source tenant
//! (list, status, enable group sync, restore a schema, export to a tenantsync job). Signs in
//! with the `[source]` section of `--config`. See docs/entra.md.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use tenantsync_core::{
    EntraError, EntraJobView, EntraSchemaChange, GraphClient, GraphClientOptions, GroupSyncOptions,
    JobConfig, apply_entra_schema_change, enable_entra_group_sync, entra_job_status,
    export_entra_job, list_entra_jobs, load_entra_schema_backup, plan_entra_schema_change,
    read_entra_job, render_entra_diff,
};

use super::job;
use crate::exit::{Code, Failure};

#[derive(Debug, Subcommand)]
pub enum EntraCommand {
    /// List the source tenant's cross-tenant synchronization jobs.
    Jobs(JobsArgs),
    /// Turn on group synchronization in an Entra job's schema (shows the change first).
    EnableGroupSync(EnableArgs),
    /// Put a saved schema back into an Entra job (shows the change first).
    RestoreSchema(RestoreArgs),
    /// Write a tenantsync job (job.toml and schema.json) from an Entra job.
    Export(ExportArgs),
    /// Show Entra's view of a job: state, quarantine, escrows, last cycles.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct Source {
    /// A job configuration; only its [source] section is used (a file with only [source] is
    /// enough).
    #[arg(long, value_name = "FILE", env = "TENANTSYNC_CONFIG")]
    config: PathBuf,
}

#[derive(Debug, Args)]
pub struct JobRef {
    /// The Entra synchronization job id (`tenantsync entra jobs` lists them).
    #[arg(long = "job", value_name = "JOB_ID")]
    job: String,
    /// The job's service principal (object id); found by itself when left out.
    #[arg(long, value_name = "ID")]
    service_principal: Option<String>,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    source: Source,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    job: JobRef,
    /// Only show the change.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
    /// Where the backup of the current schema is written. Default: the current directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    backup_dir: PathBuf,
    /// Group attributes to map, comma-separated, from displayName, description,
    /// mailNickname, mailEnabled, securityEnabled (mailEnabled is always mapped). Default: all.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    attributes: Option<Vec<String>>,
    /// Do not map members (memberships).
    #[arg(long)]
    no_members: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    job: JobRef,
    /// The saved schema to put back (a backup written by enable-group-sync).
    #[arg(long = "from", value_name = "BACKUP")]
    from: PathBuf,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
    /// Where the backup of the schema being replaced is written. Default: the current
    /// directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    backup_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    job: JobRef,
    /// The directory to write job.toml and schema.json into (made if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    job: JobRef,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(command: EntraCommand) -> Result<Code, Failure> {
    match command {
        EntraCommand::Jobs(a) => jobs(a),
        EntraCommand::EnableGroupSync(a) => enable(a),
        EntraCommand::RestoreSchema(a) => restore(a),
        EntraCommand::Export(a) => export(a),
        EntraCommand::Status(a) => status(a),
    }
}

fn load(source: &Source) -> Result<(JobConfig, GraphClient), Failure> {
    let config = JobConfig::load(&source.config).map_err(Failure::config)?;
    let tenant = config.source.clone().ok_or_else(|| {
        Failure::config(anyhow!(
            "{} has no [source] section: name the source tenant and its credential (docs/entra.md)",
            source.config.display()
        ))
    })?;
    let client = GraphClient::for_credential(
        &tenant.cloud,
        tenant.credential,
        GraphClientOptions::default(),
    )
    .map_err(|e| {
        Failure::config(anyhow!(
            "the source credential or cloud cannot be used: {e}"
        ))
    })?;
    Ok((config, client))
}

/// The exit code of an Entra bridge error, with advice for a missing permission.
fn failure(e: EntraError) -> Failure {
    match &e {
        EntraError::NotFound(_) | EntraError::Invalid(_) | EntraError::Schema(_) => {
            Failure::config(e)
        }
        EntraError::Graph(g) if g.status() == Some(403) => Failure::config(anyhow!(
            "{e}; the source application lacks a permission: docs/entra.md lists what each command needs (Synchronization.ReadWrite.All, Application.Read.All)"
        )),
        _ => Failure::from(e),
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn jobs(args: JobsArgs) -> Result<Code, Failure> {
    let (_, client) = load(&args.source)?;
    let views = job::runtime()?
        .block_on(list_entra_jobs(&client))
        .map_err(failure)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&views)?)?;
        return Ok(Code::Ok);
    }
    if views.is_empty() {
        writeln!(
            out,
            "No cross-tenant synchronization job in the source tenant."
        )?;
        return Ok(Code::Ok);
    }
    writeln!(
        out,
        "SERVICE PRINCIPAL\tJOB\tTARGET TENANT\tSTATE\tLAST CYCLE\tQUARANTINE"
    )?;
    for v in &views {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}{}\t{}",
            v.service_principal_id,
            v.job_id,
            opt(&v.target_tenant_id),
            v.state,
            opt(&v.last_cycle),
            v.last_cycle_state
                .as_ref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            opt(&v.quarantine),
        )?;
    }
    Ok(Code::Ok)
}

fn print_status(out: &mut impl Write, v: &EntraJobView) -> std::io::Result<()> {
    writeln!(out, "Job:                    {}", v.job_id)?;
    writeln!(
        out,
        "Service principal:      {} ({})",
        v.service_principal_id, v.service_principal_name
    )?;
    writeln!(out, "Target tenant:          {}", opt(&v.target_tenant_id))?;
    writeln!(
        out,
        "State:                  {} (schedule {})",
        v.state, v.schedule
    )?;
    writeln!(
        out,
        "Quarantine:             {}",
        match (&v.quarantine, &v.quarantine_since) {
            (Some(r), Some(s)) => format!("{r} since {s}"),
            (Some(r), None) => r.clone(),
            _ => "none".into(),
        }
    )?;
    writeln!(
        out,
        "Last cycle:             {}{}",
        opt(&v.last_cycle),
        v.last_cycle_state
            .as_ref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "Last successful cycle:  {}",
        opt(&v.last_successful_cycle)
    )?;
    writeln!(
        out,
        "Escrowed:               {}",
        v.escrowed
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into())
    )?;
    if let Some(n) = v.successive_failures {
        writeln!(out, "Failed cycles in a row: {n}")?;
    }
    for (k, n) in &v.synchronized {
        writeln!(out, "Synchronized:           {n} {k}")?;
    }
    if let Some(g) = v.group_sync {
        writeln!(
            out,
            "Group mapping:          {}",
            if g { "enabled" } else { "disabled" }
        )?;
    }
    Ok(())
}

fn status(args: StatusArgs) -> Result<Code, Failure> {
    let (_, client) = load(&args.source)?;
    let view = job::runtime()?
        .block_on(entra_job_status(
            &client,
            &args.job.job,
            args.job.service_principal.as_deref(),
        ))
        .map_err(failure)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?;
    } else {
        print_status(&mut out, &view)?;
    }
    Ok(Code::Ok)
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::config(anyhow!(
            "not applied: standard input is not a terminal to confirm on; run again with --yes to apply (or --dry-run to only show the change)"
        )));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Shows `change`, then applies it when confirmed. Returns whether it was applied.
/// The change `change` makes to the schema of the job `job` names.
fn plan_change(
    client: &GraphClient,
    runtime: &tokio::runtime::Runtime,
    job: &JobRef,
    change: impl FnOnce(&serde_json::Value) -> Result<serde_json::Value, EntraError>,
) -> Result<EntraSchemaChange, Failure> {
    runtime
        .block_on(plan_entra_schema_change(
            client,
            &job.job,
            job.service_principal.as_deref(),
            change,
        ))
        .map_err(failure)
}

fn show_and_apply(
    client: &GraphClient,
    runtime: &tokio::runtime::Runtime,
    change: &EntraSchemaChange,
    yes: bool,
    dry_run: bool,
    backup_dir: &Path,
) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Changes to the schema of job {} ({} change{}):",
        change.job_id,
        change.changes.len(),
        if change.changes.len() == 1 { "" } else { "s" }
    )?;
    write!(out, "{}", render_entra_diff(&change.changes))?;
    drop(out);
    if dry_run {
        println!("Dry run: nothing was changed.");
        return Ok(false);
    }
    if !yes && !confirm("Apply this change to the Entra job?")? {
        println!("Not applied.");
        return Ok(false);
    }
    let applied = runtime
        .block_on(apply_entra_schema_change(
            client,
            change,
            backup_dir,
            chrono::Utc::now(),
        ))
        .map_err(failure)?;
    println!(
        "Applied and verified. The previous schema is saved in {}",
        applied.backup.display()
    );
    Ok(true)
}

fn enable(args: EnableArgs) -> Result<Code, Failure> {
    let (_, client) = load(&args.source)?;
    let options = GroupSyncOptions {
        attributes: args
            .attributes
            .clone()
            .unwrap_or_else(|| GroupSyncOptions::default().attributes),
        members: !args.no_members,
    };
    options.targets().map_err(failure)?;
    let runtime = job::runtime()?;
    let change = plan_change(&client, &runtime, &args.job, |s| {
        enable_entra_group_sync(s, &options)
    })?;
    if change.changes.is_empty() {
        println!(
            "Nothing to do: group synchronization is already enabled in job {} with the chosen attributes.",
            change.job_id
        );
        return Ok(Code::Ok);
    }
    let applied = show_and_apply(
        &client,
        &runtime,
        &change,
        args.yes,
        args.dry_run,
        &args.backup_dir,
    )?;
    if applied || args.dry_run {
        if applied {
            println!(
                "Group synchronization is on. Entra runs a new initial cycle; the target must allow group synchronization (docs/entra.md)."
            );
        }
        Ok(Code::Ok)
    } else {
        Ok(Code::Failure)
    }
}

fn restore(args: RestoreArgs) -> Result<Code, Failure> {
    let (_, client) = load(&args.source)?;
    let saved = load_entra_schema_backup(&args.from).map_err(failure)?;
    let runtime = job::runtime()?;
    let change = plan_change(&client, &runtime, &args.job, |current| {
        // The job's id stays the job's own.
        let mut s = saved.clone();
        if let (Some(o), Some(id)) = (s.as_object_mut(), current.get("id")) {
            o.insert("id".into(), id.clone());
        }
        Ok(s)
    })?;
    if change.changes.is_empty() {
        println!(
            "Nothing to do: job {} already has the schema saved in {}.",
            change.job_id,
            args.from.display()
        );
        return Ok(Code::Ok);
    }
    if show_and_apply(
        &client,
        &runtime,
        &change,
        args.yes,
        false,
        &args.backup_dir,
    )? {
        Ok(Code::Ok)
    } else {
        Ok(Code::Failure)
    }
}

fn export(args: ExportArgs) -> Result<Code, Failure> {
    let (config, client) = load(&args.source)?;
    let source = config.source.clone().expect("load checked [source]");
    let job = job::runtime()?
        .block_on(read_entra_job(
            &client,
            &args.job.job,
            args.job.service_principal.as_deref(),
        ))
        .map_err(failure)?;
    let exported = export_entra_job(&job, &source, config.target.as_ref()).map_err(failure)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))
        .map_err(Failure::config)?;
    for (name, text) in [
        ("job.toml", &exported.job_toml),
        ("schema.json", &exported.schema_json),
    ] {
        let path = args.out.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot write {} (an existing file is never overwritten: choose another --out)",
                    path.display()
                )
            })
            .map_err(Failure::config)?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Wrote {} and {}.",
        args.out.join("job.toml").display(),
        args.out.join("schema.json").display()
    )?;
    writeln!(out, "What tenantsync does differently for this job:")?;
    for d in &exported.differences {
        writeln!(out, "  - {d}")?;
    }
    writeln!(
        out,
        "Next: `tenantsync check --config {0}`, then `tenantsync sync --config {0} --dry-run` to compare with what Entra has done.",
        args.out.join("job.toml").display()
    )?;
    Ok(Code::Ok)
}

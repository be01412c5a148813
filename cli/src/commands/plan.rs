//! `tenantsync plan --source S.json --target T.json [--schema F] [--config job.toml] [--json]
//! [--now TIME]`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use clap::Args;
use tenantsync_core::{
    Clock, JobConfig, LastKnownState, Plan, PlanInput, Snapshot, SystemClock, plan, simulate_plan,
};

use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The source tenant snapshot (JSON; see docs/planning.md).
    #[arg(long, value_name = "FILE")]
    source: PathBuf,
    /// The target tenant snapshot.
    #[arg(long, value_name = "FILE")]
    target: PathBuf,
    /// The mapping schema; overrides the job's. Default: the job's, else the built-in schema.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// The job configuration (scope and options). Default: nothing assigned, default options.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the plan as JSON (its stable form).
    #[arg(long)]
    json: bool,
    /// Let a plan over the deletion threshold through.
    #[arg(long)]
    allow_deletes: bool,
    /// The moment the plan is made at, RFC 3339: what `Now()` and every date function see,
    /// and where the 30-day restore window ends. The same inputs and --now give the same
    /// plan. Default: the current time.
    #[arg(long, value_name = "TIME", visible_alias = "now", value_parser = super::expr::parse_now)]
    as_of: Option<DateTime<Utc>>,
    /// Also write the target snapshot as it would be after applying the plan.
    #[arg(long, value_name = "FILE")]
    write_target: Option<PathBuf>,
    /// A WebAssembly plugin whose functions the schema's expressions may call (repeatable);
    /// added to the job's [[plugins]].
    #[arg(long, value_name = "FILE")]
    plugin: Vec<PathBuf>,
}

/// The job's pinned [[plugins]] and the `--plugin` files, in one registry.
fn load_plugins(
    config: &JobConfig,
    extra: &[PathBuf],
) -> Result<Option<tenantsync_core::PluginRegistry>, Failure> {
    use tenantsync_core::{PluginHost, PluginRegistry};
    if config.plugins.is_empty() && extra.is_empty() {
        return Ok(None);
    }
    let host = PluginHost::new(None).map_err(Failure::config)?;
    let mut plugins = Vec::new();
    for p in &config.plugins {
        plugins.push(
            host.load(
                &config.base_dir.join(&p.path),
                Some(&p.sha256),
                p.limits.resolve(),
            )
            .map_err(Failure::config)?,
        );
    }
    for f in extra {
        plugins.push(
            host.load(f, None, Default::default())
                .map_err(Failure::config)?,
        );
    }
    Ok(Some(PluginRegistry::new(plugins).map_err(Failure::config)?))
}

pub fn run(args: PlanArgs) -> Result<Code, Failure> {
    let source = Snapshot::load(&args.source).map_err(Failure::config)?;
    let target = Snapshot::load(&args.target).map_err(Failure::config)?;
    let mut config = match &args.config {
        Some(path) => JobConfig::load(path).map_err(Failure::config)?,
        None => JobConfig::default(),
    };
    if args.allow_deletes {
        config.options.allow_deletes = true;
    }
    let registry = load_plugins(&config, &args.plugin)?;
    let schema = config
        .load_schema_with(args.schema.as_deref(), registry.as_ref())
        .map_err(|e| Failure::config(anyhow!(e)))?;
    let state = LastKnownState::default();
    let input = PlanInput {
        source: &source,
        target: &target,
        schema: &schema,
        scope: &config.scope,
        options: &config.options,
        state: &state,
        as_of: args.as_of.unwrap_or_else(|| SystemClock.now()),
        functions: registry
            .as_ref()
            .map(|r| r as &dyn tenantsync_core::FunctionRegistry),
    };
    let plan = plan(&input).map_err(Failure::config)?;
    if let Some(path) = &args.write_target {
        let after = simulate_plan(&target, &plan.operations)?;
        std::fs::write(path, after.to_json_pretty())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", plan.to_json_pretty())?;
    } else {
        render(&mut out, &plan)?;
    }
    Ok(if plan.refused.is_some() {
        Code::Refused
    } else {
        Code::Ok
    })
}

/// Prints a plan for people: counts, the operations in order, a refusal, the report. Shared
/// by `plan`, `sync --dry-run` and `provision`.
pub(crate) fn render(out: &mut impl Write, plan: &Plan) -> std::io::Result<()> {
    let s = &plan.summary;
    writeln!(
        out,
        "In scope: {} users, {} groups.",
        s.users_in_scope, s.groups_in_scope
    )?;
    if let Some(refusal) = &plan.refused {
        writeln!(out, "\nREFUSED: {}", refusal.message)?;
        writeln!(out, "Would delete or disable:")?;
        for op in &refusal.would_deprovision {
            writeln!(out, "  - {}", op.describe())?;
        }
    } else if plan.operations.is_empty() {
        writeln!(out, "\nNothing to do: the target is in sync.")?;
    } else {
        let counts: Vec<String> = s
            .operations
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        writeln!(
            out,
            "\nPlan: {} operations ({}):",
            plan.operations.len(),
            counts.join(", ")
        )?;
        for (i, op) in plan.operations.iter().enumerate() {
            writeln!(out, "{:>5}. {}", i + 1, op.describe())?;
        }
    }
    if !plan.report.is_empty() {
        writeln!(out, "\nReport: {} entries:", plan.report.len())?;
        for r in &plan.report {
            let code = serde_json::to_value(r.reason).unwrap_or_default();
            writeln!(
                out,
                "  [{}] {:?} {}: {}",
                code.as_str().unwrap_or(""),
                r.kind,
                r.display,
                r.detail
            )?;
        }
    }
    Ok(())
}

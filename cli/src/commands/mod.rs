//! The subcommands. Each module parses its raw arguments into what core needs, calls core, and
//! renders the result.

mod bench;
mod bench_watch;
mod check;
mod demo;
mod emulator;
mod entra;
mod expr;
mod init;
mod job;
mod logs;
mod plan;
mod plugin;
mod reset;
mod schema;
mod sync;

use clap::{Parser, Subcommand};

use crate::exit::{Code, Failure};

/// One-way synchronization of Microsoft Entra ID users and security groups, with their
/// memberships, from a source tenant into a target tenant.
#[derive(Debug, Parser)]
#[command(name = "tenantsync", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read, validate and print mapping schemas (Graph synchronizationSchema JSON).
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
    /// Evaluate attribute-mapping expressions.
    #[command(subcommand)]
    Expr(expr::ExprCommand),
    /// Plan a sync offline from two tenant snapshots: prints the operations and the report.
    Plan(plan::PlanArgs),
    /// Run one sync cycle (or, with --watch, cycles until Ctrl-C) from the source tenant
    /// into the target tenant.
    Sync(sync::SyncArgs),
    /// Apply a plan saved by `sync --dry-run --save-plan FILE`, exactly as it was shown;
    /// refused (exit 8) when objects it touches changed since it was made.
    Apply(sync::ApplyArgs),
    /// Preflight a job: sign-in, permissions, cross-tenant access policy, anchor extension,
    /// schema, state file. Exit 0 when nothing failed, 3 otherwise.
    Check(check::CheckArgs),
    /// Provision one source user or group (with its members) now, showing every step.
    Provision(sync::ProvisionArgs),
    /// Show the provisioning log, newest first.
    Logs(logs::LogsArgs),
    /// Clear part of the job's state (like Graph's restart with resetScope).
    Reset(reset::ResetArgs),
    /// Sign in and create (or find) the anchor extension in the target tenant.
    Init(init::InitArgs),
    /// Run a self-contained demo: two emulated tenants, a full sync, changes, a delta sync.
    Demo(demo::DemoArgs),
    /// Write, check and call WebAssembly transform plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the local Microsoft Graph emulator.
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    /// Measure sync speed against the emulator (use a release build).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Work with Entra's own cross-tenant synchronization jobs in the source tenant: list,
    /// status, enable group sync, restore a schema, export to a tenantsync job.
    #[command(subcommand)]
    Entra(entra::EntraCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Code, Failure> {
    match cli.command {
        Command::Schema(c) => schema::run(c),
        Command::Expr(c) => expr::run(c),
        Command::Plan(a) => plan::run(a),
        Command::Sync(a) => sync::run(a),
        Command::Apply(a) => sync::apply(a),
        Command::Check(a) => check::run(a),
        Command::Provision(a) => sync::provision(a),
        Command::Logs(a) => logs::run(a),
        Command::Reset(a) => reset::run(a),
        Command::Init(a) => init::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Plugin(c) => plugin::run(c),
        Command::Emulator(c) => emulator::run(c),
        Command::Bench(c) => bench::run(c),
        Command::Entra(c) => entra::run(c),
    }
}

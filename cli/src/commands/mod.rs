//! The subcommands. Each module parses its raw arguments into what core needs, calls core, and
//! renders the result.

mod bench;
mod demo;
mod emulator;
mod expr;
mod plan;
mod schema;

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
    /// Run a self-contained demo: two emulated tenants, a full sync, changes, a delta sync.
    Demo(demo::DemoArgs),
    /// Run the local Microsoft Graph emulator.
    #[command(subcommand)]
    Emulator(emulator::EmulatorCommand),
    /// Measure sync speed against the emulator (use a release build).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Code, Failure> {
    match cli.command {
        Command::Schema(c) => schema::run(c),
        Command::Expr(c) => expr::run(c),
        Command::Plan(a) => plan::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Emulator(c) => emulator::run(c),
        Command::Bench(c) => bench::run(c),
    }
}

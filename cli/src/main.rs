//! `tenantsync`: the command-line program, thin over `tenantsync-core`.

use clap::Parser;

/// One-way synchronization of Microsoft Entra ID users and security groups between tenants.
#[derive(Debug, Parser)]
#[command(name = "tenantsync", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}

//! `tenantsync emulator serve [--tenants N] [--port P] [--seed-users N ...]`: the local
//! Microsoft Graph emulator on its own, for trying tenantsync (or any Graph client) by hand.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use tenantsync_emulator::{Emulator, EmulatorConfig, SeedSpec};

use crate::exit::{Code, Failure};

#[derive(Debug, Subcommand)]
pub enum EmulatorCommand {
    /// Serve emulated tenants until Ctrl-C: prints the base URL, the CA file, each tenant's
    /// id, domain and app credentials, and a job.toml for the first two tenants.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Number of tenants (`contoso`, `fabrikam`, `northwind`, ...). The last one stays empty
    /// as a sync target; the others are seeded.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    tenants: u16,
    /// TCP port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seeded member users per seeded tenant (0: no seed).
    #[arg(long, default_value_t = 200)]
    seed_users: usize,
    /// Seeded security groups per seeded tenant.
    #[arg(long, default_value_t = 20)]
    seed_groups: usize,
    /// Seeded Microsoft 365 groups per seeded tenant.
    #[arg(long, default_value_t = 2)]
    seed_m365_groups: usize,
    /// Seeded mail-enabled security groups per seeded tenant.
    #[arg(long, default_value_t = 2)]
    seed_mail_enabled_groups: usize,
    /// Seeded security groups nested in another security group.
    #[arg(long, default_value_t = 2)]
    seed_nested: usize,
    /// Average user members per seeded group.
    #[arg(long, default_value_t = 15)]
    seed_avg_members: usize,
    /// Random seed of the synthetic content (the same seed gives the same directory).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep the CA certificate in this directory (default: a temporary one, removed on exit).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (for debugging with tools that cannot add a CA).
    #[arg(long)]
    plain_http: bool,
    /// Add an Entra cross-tenant synchronization job to the first tenant (towards the last
    /// one, with a few users and a group assigned, the group mapping disabled) and grant its
    /// app the synchronization permissions, to try `tenantsync entra` (docs/entra.md).
    #[arg(long)]
    cross_tenant_sync: bool,
}

pub fn run(command: EmulatorCommand) -> Result<Code, Failure> {
    match command {
        EmulatorCommand::Serve(args) => serve(args),
    }
}

/// The emulator configuration the arguments describe.
fn config(args: &ServeArgs) -> EmulatorConfig {
    let seed = (args.seed_users > 0).then_some(SeedSpec {
        seed: args.seed,
        users: args.seed_users,
        security_groups: args.seed_groups,
        m365_groups: args.seed_m365_groups,
        mail_enabled_groups: args.seed_mail_enabled_groups,
        nested: args.seed_nested,
        avg_members: args.seed_avg_members,
    });
    let mut config = EmulatorConfig::demo(usize::from(args.tenants), args.port, seed);
    config.tls = !args.plain_http;
    config.data_dir = args.data_dir.clone();
    if args.cross_tenant_sync {
        for app in &mut config.tenants[0].apps {
            app.roles.extend(
                ["Synchronization.ReadWrite.All", "Application.Read.All"].map(String::from),
            );
        }
    }
    config
}

/// Seeds the cross-tenant synchronization job of `--cross-tenant-sync`; returns a line
/// naming it.
fn seed_cross_tenant_job(emulator: &Emulator, config: &EmulatorConfig) -> anyhow::Result<String> {
    let (Some(source), Some(target)) = (config.tenants.first(), config.tenants.last()) else {
        return Err(anyhow!("the emulator serves no tenant"));
    };
    let handle = emulator.tenant(&source.tenant_id)?;
    let state = handle.state();
    let mut assigned: Vec<String> = state
        .users
        .iter()
        .take(5)
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    assigned.extend(
        state
            .groups
            .iter()
            .find(|g| g["securityEnabled"] == true && g["mailEnabled"] == false)
            .and_then(|g| g["id"].as_str().map(str::to_string)),
    );
    let job = handle.seed_cross_tenant_sync(&target.tenant_id, &assigned, false)?;
    Ok(format!(
        "Entra cross-tenant synchronization job {} (service principal {}) in tenant {}: try `tenantsync entra jobs --config job.toml`.\n",
        job.job_id, job.service_principal_id, source.tenant_id
    ))
}

fn serve(args: ServeArgs) -> Result<Code, Failure> {
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))
            .map_err(Failure::config)?;
    }
    let config = config(&args);
    let emulator = Emulator::start(config.clone()).map_err(Failure::config)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", emulator.describe())?;
    if args.cross_tenant_sync {
        writeln!(out, "{}", seed_cross_tenant_job(&emulator, &config)?)?;
    }
    if config.tenants.len() >= 2 {
        writeln!(
            out,
            "A job.toml syncing the first tenant into the last (set the two variables below):\n"
        )?;
        let (job, exports) = job_snippet(&emulator, &config)?;
        writeln!(out, "{job}\n# the secrets (emulator only):\n{exports}")?;
    }
    writeln!(out, "Serving until Ctrl-C.")?;
    out.flush()?;
    drop(out);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime to wait for Ctrl-C")?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .context("cannot listen for Ctrl-C")?;
    emulator.shutdown();
    eprintln!("emulator stopped");
    Ok(Code::Ok)
}

/// The environment variable the printed job reads a side's client secret from.
fn secret_variable(side: &str) -> String {
    format!("TENANTSYNC_{}_SECRET", side.to_ascii_uppercase())
}

/// A job configuration synchronizing the first tenant into the last one (the empty one),
/// assigning every group of the source, with the client secrets read from environment
/// variables; and the shell commands that set them.
fn job_snippet(emulator: &Emulator, config: &EmulatorConfig) -> anyhow::Result<(String, String)> {
    let (Some(source), Some(target)) = (config.tenants.first(), config.tenants.last()) else {
        return Err(anyhow!("the emulator serves no tenant"));
    };
    let base = emulator.base_url();
    let cloud = match emulator.ca_pem_path() {
        Some(ca) => format!(
            "{{ custom = {{ login_host = \"{base}\", graph_host = \"{base}\", ca_file = '{}' }} }}",
            ca.display()
        ),
        None => format!("{{ custom = {{ login_host = \"{base}\", graph_host = \"{base}\" }} }}"),
    };
    let groups: Vec<String> = emulator
        .tenant(&source.tenant_id)?
        .state()
        .groups
        .iter()
        .filter_map(|g| g.get("id").and_then(|v| v.as_str()))
        .map(|id| format!("\"{id}\""))
        .collect();
    let mut text = format!(
        "# {} -> {}\nname = \"emulator\"\nstate_path = \"state.db\"\n\n[scope]\ngroups = [{}]\n",
        source.domain,
        target.domain,
        groups.join(", ")
    );
    let mut exports = String::new();
    for (side, tenant) in [("source", source), ("target", target)] {
        let app = tenant
            .apps
            .iter()
            .find(|a| a.client_secret.is_some())
            .ok_or_else(|| anyhow!("the {side} tenant has no app with a client secret"))?;
        let variable = secret_variable(side);
        text.push_str(&format!(
            "\n[{side}]\ntenant_id = \"{tenant_id}\"\ncloud = {cloud}\ncredential = {{ kind = \"client-secret\", tenant_id = \"{tenant_id}\", client_id = \"{client}\", secret = {{ env = \"{variable}\" }} }}\n",
            tenant_id = tenant.tenant_id,
            client = app.client_id,
        ));
        exports.push_str(&format!(
            "export {variable}={}\n",
            app.client_secret.as_deref().unwrap_or_default()
        ));
    }
    Ok((text, exports))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(subcommand)]
        command: EmulatorCommand,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        let mut all = vec!["probe", "serve"];
        all.extend_from_slice(args);
        match Probe::parse_from(all).command {
            EmulatorCommand::Serve(a) => a,
        }
    }

    #[test]
    fn arguments_make_a_seeded_configuration_with_an_empty_last_tenant() {
        let c = config(&parse(&[
            "--tenants",
            "3",
            "--seed-users",
            "10",
            "--port",
            "0",
        ]));
        assert_eq!(c.tenants.len(), 3);
        assert_eq!(c.tenants[0].seed.as_ref().map(|s| s.users), Some(10));
        assert!(c.tenants[2].seed.is_none());
        assert!(c.tls);
    }

    #[test]
    fn cross_tenant_sync_seeds_a_job_the_source_app_may_read() {
        let c = config(&parse(&["--seed-users", "8", "--cross-tenant-sync"]));
        assert!(
            c.tenants[0].apps[0]
                .roles
                .iter()
                .any(|r| r == "Synchronization.ReadWrite.All")
        );
        let emulator = Emulator::start(c.clone()).expect("the emulator starts");
        let line = seed_cross_tenant_job(&emulator, &c).expect("seeded");
        assert!(line.contains("Azure2Azure."), "{line}");
        let without = config(&parse(&["--seed-users", "8"]));
        assert!(
            !without.tenants[0].apps[0]
                .roles
                .iter()
                .any(|r| r.starts_with("Synchronization."))
        );
    }

    #[test]
    fn no_seed_users_means_empty_tenants() {
        let c = config(&parse(&["--seed-users", "0", "--plain-http"]));
        assert!(c.tenants.iter().all(|t| t.seed.is_none()));
        assert!(!c.tls);
    }

    #[test]
    fn the_job_snippet_is_a_loadable_job() {
        let c = config(&parse(&[
            "--tenants",
            "3",
            "--seed-users",
            "10",
            "--seed-groups",
            "2",
        ]));
        let emulator = Emulator::start(c.clone()).expect("the emulator starts");
        let (text, exports) = job_snippet(&emulator, &c).expect("snippet");
        let job =
            tenantsync_core::JobConfig::from_toml(&text, "snippet").expect("the snippet loads");
        assert_eq!(
            job.source.as_ref().map(|s| s.tenant_id.as_str()),
            Some(c.tenants[0].tenant_id.as_str())
        );
        assert_eq!(
            job.target.as_ref().map(|s| s.tenant_id.as_str()),
            Some(c.tenants[2].tenant_id.as_str()),
            "the target is the empty last tenant"
        );
        assert_eq!(
            job.scope.groups.len(),
            2 + 2 + 2,
            "every source group is assigned"
        );
        assert!(text.contains(&emulator.base_url()));
        assert!(exports.contains("export TENANTSYNC_TARGET_SECRET=emulator-secret-2"));
    }
}

//! Runs the emulator with demo tenants until interrupted.
//!
//! `cargo run -p tenantsync-emulator --example serve -- [--tenants N] [--users N] [--port N] [--plain]`

use tenantsync_emulator::{EmulatorConfig, SeedSpec, serve_forever};

fn main() {
    let mut tenants = 2usize;
    let mut users = 200usize;
    let mut port = 0u16;
    let mut tls = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => n,
                None => {
                    eprintln!("{name} needs a number");
                    std::process::exit(2);
                }
            }
        };
        match a.as_str() {
            "--tenants" => tenants = num("--tenants") as usize,
            "--users" => users = num("--users") as usize,
            "--port" => port = num("--port") as u16,
            "--plain" => tls = false,
            other => {
                eprintln!(
                    "unknown argument {other}; use --tenants N, --users N, --port N, --plain"
                );
                std::process::exit(2);
            }
        }
    }
    let seed = SeedSpec {
        seed: 1,
        users,
        security_groups: (users / 10).max(1),
        m365_groups: (users / 100).max(1),
        mail_enabled_groups: (users / 100).max(1),
        nested: (users / 50).max(1),
        avg_members: 10,
    };
    let mut config = EmulatorConfig::demo(tenants, port, Some(seed));
    config.tls = tls;
    if let Err(e) = serve_forever(config) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

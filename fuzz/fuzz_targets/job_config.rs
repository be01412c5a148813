//! The job configuration (`job.toml`) as `tenantsync` reads it, with the checks made before a
//! job runs: `[sync]` durations, each tenant's credential and cloud, the paths it names, and a
//! plan of the example tenants under its scope and options with the built-in schema.

#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tenantsync_core::{
    JobConfig, LastKnownState, PlanInput, Snapshot, SynchronizationSchema, default_schema,
    parse_duration, plan,
};

/// The example tenants and the built-in schema, read once.
static EXAMPLES: LazyLock<(Snapshot, Snapshot, SynchronizationSchema)> = LazyLock::new(|| {
    (
        Snapshot::from_json(include_str!("../../examples/source.json"), "source").unwrap(),
        Snapshot::from_json(include_str!("../../examples/target.json"), "target").unwrap(),
        default_schema(),
    )
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = JobConfig::from_toml(text, "job.toml") else {
        return;
    };
    config.base_dir = Path::new("/etc/tenantsync").to_path_buf();
    let _ = (
        config.state_file(Path::new("/etc/tenantsync/job.toml")),
        config.schema_path(),
    );
    for value in [
        &config.sync.interval,
        &config.sync.escrow_retry,
        &config.sync.request_timeout,
    ] {
        if let Ok(d) = parse_duration(value) {
            let _ = chrono::Duration::from_std(d);
        }
    }
    for tenant in config.source.iter().chain(&config.target) {
        let credential = &tenant.credential;
        let _ = (
            credential.validate(),
            credential.kind(),
            credential.client_id(),
        );
        let _ = credential.tenant_id();
        if tenant.cloud.validate().is_ok() {
            let cloud = &tenant.cloud;
            let _ = (
                cloud.login_authority(),
                cloud.graph_base(),
                cloud.graph_scope(),
            );
            let _ = (cloud.token_exchange_audience(), cloud.ca_file());
        }
    }
    // What tenantsync writes, it reads back.
    if let Ok(written) = toml::to_string(&config)
        && let Err(e) = JobConfig::from_toml(&written, "written")
    {
        panic!("the written configuration does not read back: {e}\n{written}");
    }
    let (source, target, schema) = &*EXAMPLES;
    let input = PlanInput {
        source,
        target,
        schema,
        scope: &config.scope,
        options: &config.options,
        state: &LastKnownState::default(),
        as_of: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        functions: None,
    };
    if let Ok(p) = plan(&input) {
        let _ = serde_json::to_string(&p);
    }
});

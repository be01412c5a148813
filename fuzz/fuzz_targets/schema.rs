//! Schema JSON as `tenantsync` reads it: a `synchronizationSchema`, or a template or job that
//! holds one (strictly, and as published with repairs), then validation, writing it back, and (when it validates) planning the example
//! tenants with it, which evaluates its expressions and scoping filters.

#![no_main]

use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tenantsync_core::{
    JobConfig, LastKnownState, PlanInput, Snapshot, has_schema_errors, load_schema,
    load_schema_as_published, plan, schema_to_json_pretty, validate_schema,
};

/// The example tenants and job, read once.
static EXAMPLES: LazyLock<(Snapshot, Snapshot, JobConfig)> = LazyLock::new(|| {
    (
        Snapshot::from_json(include_str!("../../examples/source.json"), "source").unwrap(),
        Snapshot::from_json(include_str!("../../examples/target.json"), "target").unwrap(),
        JobConfig::from_toml(include_str!("../../examples/job.toml"), "job").unwrap(),
    )
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Read as published (`schema validate`): repairs never panic, and a strict document
    // needs none.
    let strict = load_schema(text);
    if let Ok((_, repairs)) = load_schema_as_published(text) {
        assert!(
            strict.is_err() || repairs.is_empty(),
            "a strict document was repaired: {repairs:?}"
        );
        for r in &repairs {
            let _ = r.to_string();
        }
    }
    let Ok(loaded) = strict else {
        return;
    };
    let issues = validate_schema(&loaded);
    for issue in &issues {
        let _ = issue.to_string();
    }
    // What tenantsync writes, it reads back unchanged.
    let written = schema_to_json_pretty(&loaded);
    match load_schema(&written) {
        Ok(again) => assert_eq!(again, loaded, "the written schema reads back differently"),
        Err(e) => panic!("the written schema does not load: {e}\n{written}"),
    }
    if has_schema_errors(&issues) {
        return;
    }
    let (source, target, job) = &*EXAMPLES;
    let input = PlanInput {
        source,
        target,
        schema: &loaded,
        scope: &job.scope,
        options: &job.options,
        state: &LastKnownState::default(),
        as_of: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        functions: None,
    };
    if let Ok(p) = plan(&input) {
        let _ = serde_json::to_string(&p);
    }
});

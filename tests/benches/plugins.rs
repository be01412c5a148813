//! The cost of plugins: one call of a short string transform (contract 0.2.0, and a 0.1.0
//! plugin for comparison), one instantiation, the first load (compilation) and a cached load,
//! and planning 100,000 users with and without one plugin function in the schema.
//!
//! Run: `cargo bench --workspace --bench plugins` (builds the plugins of `plugins/` for
//! wasm32-wasip2 first). `-- plan` runs only the planning pair, `-- "plugin call"` the calls.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tenantsync_core::{
    DirectoryObject, FunctionRegistry, LastKnownState, Limits, PlanInput, PlanOptions, PluginHost,
    PluginRegistry, ScopeMode, ScopeOptions, Snapshot, SynchronizationSchema, Value,
    default_schema, parse_expression, plan, schema_to_json_pretty,
};
use tenantsync_tests::plugins::plugin;

const USERS: usize = 100_000;
const DEPTS: &[&str] = &["ENG", "FIN", "HR", "LEG", "MKT", "OPS", "SAL"];

fn calls(c: &mut Criterion) {
    let host = PluginHost::new(None).unwrap();
    let upn = host
        .load(&plugin("upn-suffix"), None, Limits::default())
        .unwrap();
    let args = [
        Value::string("ada.lovelace@contoso.com"),
        Value::string("fabrikam.com"),
    ];
    c.bench_function("plugin call (RewriteUpnSuffix, short string)", |b| {
        b.iter(|| upn.call(black_box("RewriteUpnSuffix"), black_box(&args)))
    });
    let legacy = host
        .load(&plugin("legacy-0-1"), None, Limits::default())
        .unwrap();
    let text = [Value::string("ada.lovelace@contoso.com")];
    c.bench_function("plugin call 0.1.0 (Upper, short string)", |b| {
        b.iter(|| legacy.call(black_box("Upper"), black_box(&text)))
    });
    c.bench_function("plugin instantiation", |b| {
        b.iter(|| upn.instantiate_once().unwrap())
    });
    let mut g = c.benchmark_group("plugin load");
    g.sample_size(10);
    g.bench_function("first load (compile)", |b| {
        b.iter(|| {
            host.load(&plugin("upn-suffix"), None, Limits::default())
                .unwrap()
        })
    });
    let cache = tempfile::tempdir().unwrap();
    let cached = PluginHost::new(Some(cache.path().to_path_buf())).unwrap();
    cached
        .load(&plugin("upn-suffix"), None, Limits::default())
        .unwrap();
    g.bench_function("cached load", |b| {
        b.iter(|| {
            let p = cached
                .load(&plugin("upn-suffix"), None, Limits::default())
                .unwrap();
            assert!(p.from_cache());
            p
        })
    });
    g.finish();
}

fn source() -> Snapshot {
    let mut s = Snapshot {
        tenant_id: "11111111-1111-1111-1111-111111111111".into(),
        ..Snapshot::default()
    };
    for i in 0..USERS {
        let mail = format!("user{i}@contoso.com");
        s.users.push(
            DirectoryObject::new(format!("{i:08x}-0000-4000-8000-000000000000"))
                .with("displayName", format!("User {i}"))
                .with("givenName", "User")
                .with("surname", format!("N{i}"))
                .with("mail", mail.as_str())
                .with("userPrincipalName", mail.as_str())
                .with("department", DEPTS[i % DEPTS.len()])
                .with("accountEnabled", true)
                .with("userType", "Member"),
        );
    }
    s
}

/// The default schema with `department` mapped through `expression`.
fn schema_with(expression: &str) -> SynchronizationSchema {
    let mut json: serde_json::Value =
        serde_json::from_str(&schema_to_json_pretty(&default_schema())).unwrap();
    for rule in json["synchronizationRules"].as_array_mut().unwrap() {
        for mapping in rule["objectMappings"].as_array_mut().unwrap() {
            if mapping["sourceObjectName"] != "User" {
                continue;
            }
            for a in mapping["attributeMappings"].as_array_mut().unwrap() {
                if a["targetAttributeName"] == "department" {
                    a["source"] = serde_json::to_value(
                        parse_expression(expression).unwrap().to_mapping_source(),
                    )
                    .unwrap();
                }
            }
        }
    }
    serde_json::from_value(json).unwrap()
}

fn planning(c: &mut Criterion) {
    let source = source();
    let target = Snapshot {
        tenant_id: "22222222-2222-2222-2222-222222222222".into(),
        default_domain: Some("fabrikam.onmicrosoft.com".into()),
        ..Snapshot::default()
    };
    let scope = ScopeOptions {
        mode: ScopeMode::All,
        ..ScopeOptions::default()
    };
    let options = PlanOptions::default();
    let state = LastKnownState::default();
    let as_of = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let host = PluginHost::new(None).unwrap();
    let registry = PluginRegistry::new(vec![
        host.load(&plugin("department-codes"), None, Limits::default())
            .unwrap(),
    ])
    .unwrap();
    let plain = default_schema();
    let with_plugin = schema_with("DepartmentName([department])");
    let input = |schema, functions| PlanInput {
        source: &source,
        target: &target,
        schema,
        scope: &scope,
        options: &options,
        state: &state,
        as_of,
        functions,
    };
    let check = plan(&input(
        &with_plugin,
        Some(&registry as &dyn FunctionRegistry),
    ))
    .unwrap();
    assert_eq!(check.operations.len(), USERS, "{:?}", check.report.first());
    let mut g = c.benchmark_group("plan 100,000 users");
    g.sample_size(10);
    g.bench_function("without plugins", |b| {
        b.iter(|| plan(&input(&plain, None)).unwrap())
    });
    g.bench_function("with one plugin function", |b| {
        b.iter(|| {
            plan(&input(
                &with_plugin,
                Some(&registry as &dyn FunctionRegistry),
            ))
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, calls, planning);
criterion_main!(benches);

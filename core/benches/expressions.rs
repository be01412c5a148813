//! Throughput of the expression evaluator on typical cross-tenant mappings.
//!
//! The planner evaluates every mapping of every in-scope user: 100,000 users with 20 mappings is
//! two million evaluations per run. Run with `cargo bench -p tenantsync-core --bench expressions`.

use std::collections::BTreeMap;
use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tenantsync_core::{AttributeMap, StaticContext, Value, evaluate_expression, parse_expression};

fn user(i: usize) -> StaticContext {
    let mut m = BTreeMap::new();
    m.insert("givenName".to_string(), Value::string(format!("Zoë{i}")));
    m.insert("surname".to_string(), Value::string("Smith-Jones"));
    m.insert(
        "userPrincipalName".to_string(),
        Value::string(format!("zoe{i}@contoso.com")),
    );
    m.insert("country".to_string(), Value::string("USA"));
    m.insert("department".to_string(), Value::string("Sales"));
    m.insert(
        "telephoneNumber".to_string(),
        Value::string("+91 9998887777"),
    );
    m.insert("netId".to_string(), Value::string("10032000A1B2C3D4"));
    m.insert(
        "proxyAddresses".to_string(),
        Value::Multi(vec![Value::string("SMTP:a@x"), Value::string("smtp:b@x")]),
    );
    let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    StaticContext::new(AttributeMap(m), now)
}

const MAPPINGS: &[&str] = &[
    "[givenName]",
    "[surname]",
    r#"Join(" ", [givenName], [surname])"#,
    r#"ToLower(Join("@", NormalizeDiacritics(StripSpaces(Join(".", [givenName], [surname]))), "contoso.com"))"#,
    r#"IIF([country]="USA", [country], [department])"#,
    r#"Replace([telephoneNumber], , "\\+(?<isdCode>\\d* )(?<phoneNumber>\\d{10})", , "${phoneNumber}", , )"#,
    r#"Switch([country], "Other", "USA", "United States", "FR", "France")"#,
    "AltSecIdFromNetId([netId])",
    r#"IgnoreFlowIfNullOrEmpty([department])"#,
    "Item([proxyAddresses], 1)",
    r#"PCase([surname])"#,
    r#"Append([userPrincipalName], ".test")"#,
    r#"FormatDateTime("20150123105347.1Z", , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")"#,
    r#""Member""#,
    "true",
];

fn bench(c: &mut Criterion) {
    let exprs: Vec<_> = MAPPINGS
        .iter()
        .map(|m| parse_expression(m).unwrap())
        .collect();
    let users: Vec<StaticContext> = (0..100).map(user).collect();
    c.bench_function("evaluate 15 mappings x 100 users", |b| {
        b.iter(|| {
            for u in &users {
                for e in &exprs {
                    black_box(evaluate_expression(e, u).ok());
                }
            }
        })
    });
    for (m, e) in MAPPINGS.iter().zip(&exprs) {
        let u = &users[0];
        c.bench_function(&format!("evaluate {m}"), |b| {
            b.iter(|| black_box(evaluate_expression(e, u).ok()))
        });
    }
    c.bench_function("parse", |b| {
        b.iter(|| {
            for m in MAPPINGS {
                black_box(parse_expression(m).ok());
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

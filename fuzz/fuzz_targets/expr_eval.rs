//! Evaluation of parsed expressions against attributes: no panic, no runaway time or memory
//! (huge counts in `Left`, `Mid`, `RandomString`, `Word`, deep nesting of growing values).
//!
//! Input: the expression text, optionally followed by a NUL byte and a JSON object of
//! attributes (`{"mail": "a@b", "proxyAddresses": ["x", "y"]}`). Without one, the expression
//! sees a fixed set of attributes of every kind.

#![no_main]

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tenantsync_core::{AttributeMap, StaticContext, Value, evaluate_expression, parse_expression};

fuzz_target!(|data: &[u8]| {
    let (expression, attributes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(expression) else {
        return;
    };
    let Ok(e) = parse_expression(text) else {
        return;
    };
    let attributes = attributes
        .and_then(|a| serde_json::from_slice::<serde_json::Value>(a).ok())
        .and_then(|v| AttributeMap::from_json(&v))
        .unwrap_or_else(fixed_attributes);
    let mut ctx = StaticContext::new(
        attributes,
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 30, 45).unwrap(),
    );
    ctx.seed = data.len() as u64;
    ctx.existing = BTreeSet::from(["taken".to_string(), "taken1@contoso.com".to_string()]);
    ctx.default_domain = Some("contoso.onmicrosoft.com".into());
    if let Ok(result) = evaluate_expression(&e, &ctx)
        && let Some(v) = result.value
    {
        let _ = (v.to_json(), v.to_string());
    }
});

/// Attributes of every kind a source object can have.
fn fixed_attributes() -> AttributeMap {
    let mut a = AttributeMap::default();
    let date = Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap();
    for (name, value) in [
        ("givenName", Value::from("Zoë")),
        ("surname", Value::from("O'Brien-Łukasz")),
        ("displayName", Value::from("  Ada   Lovelace ")),
        ("mail", Value::from("ada@contoso.com")),
        (
            "userPrincipalName",
            Value::from("ada_contoso.com#EXT#@fabrikam.onmicrosoft.com"),
        ),
        ("empty", Value::from("")),
        ("null", Value::Null),
        ("n", Value::Number(3)),
        ("big", Value::Number(i64::MAX)),
        ("small", Value::Number(i64::MIN)),
        ("accountEnabled", Value::Bool(true)),
        ("created", Value::DateTime(date)),
        (
            "manager",
            Value::Reference("11111111-1111-1111-1111-111111111111".into()),
        ),
        (
            "proxyAddresses",
            Value::Multi(vec![
                Value::from("SMTP:ada@contoso.com"),
                Value::from("smtp:ada@contoso.net"),
                Value::from("smtp:ada@contoso.com"),
            ]),
        ),
        ("emptyList", Value::Multi(vec![])),
        ("long", Value::String("é".repeat(4096))),
        ("number", Value::from("00042")),
        ("dateText", Value::from("20240229235959.0Z")),
    ] {
        a.0.insert(name.to_string(), value);
    }
    a
}

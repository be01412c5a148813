//! Values between the engine ([`crate::value::Value`]) and the plugin contract.

use chrono::{DateTime, Utc};

use super::bindings::tenantsync::transform::types::{Timestamp, Value as WitValue};
use crate::value::Value;

/// An engine value as a plugin argument. References become their id; the elements of a list
/// become their text (null elements are left out).
pub(crate) fn to_wit(v: &Value) -> WitValue {
    match v {
        Value::Null => WitValue::Null,
        Value::String(s) | Value::Reference(s) => WitValue::Text(s.clone()),
        Value::Number(n) => WitValue::Number(*n),
        Value::Bool(b) => WitValue::Boolean(*b),
        Value::DateTime(d) => WitValue::Datetime(Timestamp {
            seconds: d.timestamp(),
            nanoseconds: d.timestamp_subsec_nanos(),
        }),
        Value::Multi(items) => WitValue::Multi(items.iter().filter_map(Value::as_text).collect()),
    }
}

/// A plugin's result as an engine value, checked against `max_bytes` (the size of its text).
pub(crate) fn from_wit(v: WitValue, max_bytes: u64) -> Result<Value, String> {
    let size: u64 = match &v {
        WitValue::Text(s) => s.len() as u64,
        WitValue::Multi(items) => items.iter().map(|s| s.len() as u64).sum(),
        _ => 0,
    };
    if size > max_bytes {
        return Err(format!(
            "{size} bytes, more than the {max_bytes} allowed (limits.max_output_bytes)"
        ));
    }
    Ok(match v {
        WitValue::Null => Value::Null,
        WitValue::Text(s) => Value::String(s),
        WitValue::Multi(items) => Value::Multi(items.into_iter().map(Value::String).collect()),
        WitValue::Boolean(b) => Value::Bool(b),
        WitValue::Number(n) => Value::Number(n),
        WitValue::Datetime(t) => {
            let d: Option<DateTime<Utc>> = DateTime::from_timestamp(t.seconds, t.nanoseconds);
            Value::DateTime(d.ok_or_else(|| {
                format!(
                    "the date {}s {}ns is out of range",
                    t.seconds, t.nanoseconds
                )
            })?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_output_is_bounded() {
        let d = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        for v in [
            Value::Null,
            Value::string("a"),
            Value::Number(-3),
            Value::Bool(true),
            Value::DateTime(d),
            Value::Multi(vec![Value::string("x"), Value::string("y")]),
        ] {
            assert_eq!(from_wit(to_wit(&v), 100).unwrap(), v);
        }
        assert_eq!(
            from_wit(to_wit(&Value::Reference("id".into())), 100).unwrap(),
            Value::string("id")
        );
        assert!(from_wit(WitValue::Text("x".repeat(11)), 10).is_err());
        assert!(from_wit(WitValue::Multi(vec!["x".repeat(6), "y".repeat(5)]), 10).is_err());
        assert!(
            from_wit(
                WitValue::Datetime(Timestamp {
                    seconds: i64::MAX,
                    nanoseconds: 0
                }),
                10
            )
            .is_err()
        );
    }
}

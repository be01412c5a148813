//! Values between the engine ([`crate::value::Value`]) and the plugin contracts: 0.1.0's typed
//! `list<value>`, 0.2.0's packed arguments, and both versions' typed results.

use chrono::{DateTime, Utc};

use super::world_0_1::tenantsync::transform::types as v01;
use crate::value::Value;

/// An engine value as a 0.1.0 plugin argument. References become their id; the elements of a
/// list become their text (null elements are left out).
pub(crate) fn to_wit(v: &Value) -> v01::Value {
    match v {
        Value::Null => v01::Value::Null,
        Value::String(s) | Value::Reference(s) => v01::Value::Text(s.clone()),
        Value::Number(n) => v01::Value::Number(*n),
        Value::Bool(b) => v01::Value::Boolean(*b),
        Value::DateTime(d) => v01::Value::Datetime(v01::Timestamp {
            seconds: d.timestamp(),
            nanoseconds: d.timestamp_subsec_nanos(),
        }),
        Value::Multi(items) => v01::Value::Multi(items.iter().filter_map(Value::as_text).collect()),
    }
}

/// Tags of the packed encoding (contract 0.2.0, `plugins/wit/transform.wit`).
mod tag {
    pub const NULL: u8 = 0;
    pub const TEXT: u8 = 1;
    pub const MULTI: u8 = 2;
    pub const BOOLEAN: u8 = 3;
    pub const NUMBER: u8 = 4;
    pub const DATETIME: u8 = 5;
}

/// Why arguments cannot be packed: a string (or a list) longer than the encoding's u32
/// lengths, which no attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong;

/// Appends an engine value, packed for a 0.2.0 plugin, to `out`: a tag byte and its payload,
/// numbers little-endian. References become their id; the elements of a list become their text
/// (null elements are left out), as for 0.1.0.
pub(crate) fn pack(v: &Value, out: &mut Vec<u8>) -> Result<(), TooLong> {
    fn len(n: usize) -> Result<[u8; 4], TooLong> {
        u32::try_from(n).map(u32::to_le_bytes).map_err(|_| TooLong)
    }
    fn text(s: &str, out: &mut Vec<u8>) -> Result<(), TooLong> {
        out.extend_from_slice(&len(s.len())?);
        out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    match v {
        Value::Null => out.push(tag::NULL),
        Value::String(s) | Value::Reference(s) => {
            out.push(tag::TEXT);
            text(s, out)?;
        }
        Value::Number(n) => {
            out.push(tag::NUMBER);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[tag::BOOLEAN, u8::from(*b)]),
        Value::DateTime(d) => {
            out.push(tag::DATETIME);
            out.extend_from_slice(&d.timestamp().to_le_bytes());
            out.extend_from_slice(&d.timestamp_subsec_nanos().to_le_bytes());
        }
        Value::Multi(items) => {
            out.push(tag::MULTI);
            // The count is written once the elements are: null elements are left out.
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            let mut n = 0;
            for item in items {
                match item {
                    Value::String(s) | Value::Reference(s) => text(s, out)?,
                    other => match other.as_text() {
                        Some(s) => text(&s, out)?,
                        None => continue,
                    },
                }
                n += 1;
            }
            out[at..at + 4].copy_from_slice(&len(n)?);
        }
    }
    Ok(())
}

/// A plugin's result as an engine value (both contract versions share the `value` type),
/// checked against `max_bytes` (the size of its text).
pub(crate) fn from_wit(v: v01::Value, max_bytes: u64) -> Result<Value, String> {
    let size: u64 = match &v {
        v01::Value::Text(s) => s.len() as u64,
        v01::Value::Multi(items) => items.iter().map(|s| s.len() as u64).sum(),
        _ => 0,
    };
    if size > max_bytes {
        return Err(format!(
            "{size} bytes, more than the {max_bytes} allowed (limits.max_output_bytes)"
        ));
    }
    Ok(match v {
        v01::Value::Null => Value::Null,
        v01::Value::Text(s) => Value::String(s),
        v01::Value::Multi(items) => Value::Multi(items.into_iter().map(Value::String).collect()),
        v01::Value::Boolean(b) => Value::Bool(b),
        v01::Value::Number(n) => Value::Number(n),
        v01::Value::Datetime(t) => {
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

    fn samples() -> Vec<Value> {
        let d = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        vec![
            Value::Null,
            Value::string("a"),
            Value::Number(-3),
            Value::Bool(true),
            Value::DateTime(d),
            Value::Multi(vec![Value::string("x"), Value::string("y")]),
        ]
    }

    #[test]
    fn values_round_trip_and_output_is_bounded() {
        for v in samples() {
            assert_eq!(from_wit(to_wit(&v), 100).unwrap(), v);
        }
        assert_eq!(
            from_wit(to_wit(&Value::Reference("id".into())), 100).unwrap(),
            Value::string("id")
        );
        assert!(from_wit(v01::Value::Text("x".repeat(11)), 10).is_err());
        assert!(from_wit(v01::Value::Multi(vec!["x".repeat(6), "y".repeat(5)]), 10).is_err());
        assert!(from_wit(v01::Value::Text("x".repeat(11)), 10).is_err());
        assert!(
            from_wit(
                v01::Value::Datetime(v01::Timestamp {
                    seconds: i64::MAX,
                    nanoseconds: 0
                }),
                10
            )
            .is_err()
        );
        assert!(
            from_wit(
                v01::Value::Datetime(v01::Timestamp {
                    seconds: 0,
                    nanoseconds: u32::MAX
                }),
                10
            )
            .is_err()
        );
    }

    /// A reader of the packed encoding as `plugins/wit/transform.wit` documents it, written
    /// from the table there, independent of [`pack`].
    fn unpack(mut b: &[u8]) -> Result<Vec<Value>, String> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
            if b.len() < n {
                return Err("truncated".into());
            }
            let (h, t) = b.split_at(n);
            *b = t;
            Ok(h)
        }
        fn u32_(b: &mut &[u8]) -> Result<u32, String> {
            Ok(u32::from_le_bytes(take(b, 4)?.try_into().unwrap()))
        }
        fn text(b: &mut &[u8]) -> Result<String, String> {
            let n = u32_(b)? as usize;
            String::from_utf8(take(b, n)?.to_vec()).map_err(|e| e.to_string())
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let t = take(&mut b, 1)?[0];
            out.push(match t {
                0 => Value::Null,
                1 => Value::String(text(&mut b)?),
                2 => {
                    let n = u32_(&mut b)?;
                    Value::Multi(
                        (0..n)
                            .map(|_| text(&mut b).map(Value::String))
                            .collect::<Result<_, _>>()?,
                    )
                }
                3 => Value::Bool(take(&mut b, 1)?[0] == 1),
                4 => Value::Number(i64::from_le_bytes(take(&mut b, 8)?.try_into().unwrap())),
                5 => {
                    let s = i64::from_le_bytes(take(&mut b, 8)?.try_into().unwrap());
                    let n = u32_(&mut b)?;
                    Value::DateTime(DateTime::from_timestamp(s, n).ok_or("date")?)
                }
                t => return Err(format!("tag {t}")),
            });
        }
        Ok(out)
    }

    #[test]
    fn packed_arguments_follow_the_documented_layout() {
        let mut b = Vec::new();
        pack(&Value::string("ab"), &mut b).unwrap();
        assert_eq!(b, [1, 2, 0, 0, 0, b'a', b'b']);
        b.clear();
        pack(&Value::Bool(true), &mut b).unwrap();
        pack(&Value::Null, &mut b).unwrap();
        pack(&Value::Number(-2), &mut b).unwrap();
        assert_eq!(
            b,
            [3, 1, 0, 4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        b.clear();
        let values = samples();
        for v in &values {
            pack(v, &mut b).unwrap();
        }
        assert_eq!(unpack(&b).unwrap(), values);
        b.clear();
        pack(&Value::Reference("id".into()), &mut b).unwrap();
        pack(
            &Value::Multi(vec![Value::Null, Value::string("x"), Value::Null]),
            &mut b,
        )
        .unwrap();
        assert_eq!(
            unpack(&b).unwrap(),
            [Value::string("id"), Value::Multi(vec![Value::string("x")])]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_arguments_pack_and_read_back(
            texts in proptest::collection::vec(".{0,12}", 0..4),
            n in proptest::num::i64::ANY,
            b in proptest::bool::ANY,
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
        ) {
            let values = vec![
                Value::Multi(texts.iter().map(Value::string).collect()),
                Value::Number(n),
                texts.first().map_or(Value::Null, Value::string),
                Value::Bool(b),
                Value::DateTime(DateTime::from_timestamp(secs, nanos).unwrap()),
            ];
            let mut bytes = Vec::new();
            for v in &values {
                pack(v, &mut bytes).unwrap();
            }
            proptest::prop_assert_eq!(unpack(&bytes).unwrap(), values);
        }
    }
}

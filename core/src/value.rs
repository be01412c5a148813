//! Typed attribute values, shared by snapshots, the expression language and the planner.
//!
//! Entra's provisioning engine treats an absent attribute as *null*; a multi-valued attribute is
//! a list; references (a group's members, a user's manager) carry object ids. [`Value`] models
//! exactly these cases, and converts to and from JSON the way snapshots and `expr eval` use it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One attribute value.
///
/// `Null` is "absent": Entra never provisions a null, so the planner treats it as "nothing to
/// write" unless a mapping's `defaultValue` fills it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// The attribute is absent (or explicitly null).
    #[default]
    Null,
    /// A string.
    String(String),
    /// A whole number (Graph's `Integer`/`Int64`, and AD dates such as FILETIME values).
    Number(i64),
    /// A boolean.
    Bool(bool),
    /// A point in time, always UTC.
    DateTime(DateTime<Utc>),
    /// The id of another directory object (a group member, a manager).
    Reference(String),
    /// A multi-valued attribute. Elements are never `Multi` themselves.
    Multi(Vec<Value>),
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// True for `Null`, the empty string and an empty list: what Entra calls "null or empty".
    pub fn is_null_or_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Multi(v) => v.is_empty(),
            _ => false,
        }
    }

    /// The string form Entra uses when a value flows into a string attribute: booleans are
    /// `True`/`False`, dates `M/d/yyyy h:mm:ss tt` (UTC), a list is its first element.
    /// `None` for `Null`.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::String(s) | Value::Reference(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            Value::DateTime(d) => Some(format_entra_datetime(d)),
            Value::Multi(v) => v.first().and_then(Value::as_text),
        }
    }

    /// A boolean, also from the strings `"True"`/`"False"` (any case) that Entra's constant
    /// mappings produce; `None` for anything else.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// The values of a multi-valued attribute; a single value is a list of one, `Null` is empty.
    pub fn as_list(&self) -> Vec<Value> {
        match self {
            Value::Null => Vec::new(),
            Value::Multi(v) => v.clone(),
            other => vec![other.clone()],
        }
    }

    /// Converts from JSON as snapshots and `--attributes` give it: strings, numbers (whole
    /// numbers; a fractional number becomes its decimal string), booleans, null and arrays.
    /// Objects are kept as their JSON text, since no Entra attribute type is an object.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Number(i),
                None => Value::String(n.to_string()),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Multi(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(_) => Value::String(v.to_string()),
        }
    }

    /// Converts to JSON: dates as ISO 8601 (`2024-01-02T03:04:05Z`), references as their id.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::String(s) | Value::Reference(s) => serde_json::Value::String(s.clone()),
            Value::Number(n) => serde_json::Value::from(*n),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::DateTime(d) => {
                serde_json::Value::String(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            Value::Multi(v) => serde_json::Value::Array(v.iter().map(Value::to_json).collect()),
        }
    }

    /// Compares two values the way the planner decides whether an attribute changed: a string
    /// `"True"` equals the boolean `true`, a number equals its decimal string, a single value
    /// equals a list of one, and lists compare in order.
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Multi(a), Value::Multi(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Value::Multi(a), single) | (single, Value::Multi(a)) => {
                if single.is_null() {
                    a.is_empty()
                } else {
                    a.len() == 1 && a[0].same_as(single)
                }
            }
            (Value::Bool(a), Value::String(s)) | (Value::String(s), Value::Bool(a)) => {
                s.eq_ignore_ascii_case(if *a { "true" } else { "false" })
            }
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::Null, Value::Null) => true,
            (a, b) => match (a.as_text(), b.as_text()) {
                (None, None) => true,
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Multi(v) => {
                let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                write!(f, "[{}]", parts.join(", "))
            }
            Value::Null => f.write_str("null"),
            other => f.write_str(&other.as_text().unwrap_or_default()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(n)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(deserializer)?;
        Ok(Value::from_json(&v))
    }
}

/// Formats a date the way Entra's expression functions return dates: `M/d/yyyy h:mm:ss tt`, UTC.
pub(crate) fn format_entra_datetime(d: &DateTime<Utc>) -> String {
    d.format("%-m/%-d/%Y %-I:%M:%S %p").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn entra_date_format_matches_the_reference() {
        let d = Utc.with_ymd_and_hms(2012, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(format_entra_datetime(&d), "12/31/2012 12:00:00 AM");
        let d = Utc.with_ymd_and_hms(2024, 3, 5, 14, 7, 9).unwrap();
        assert_eq!(format_entra_datetime(&d), "3/5/2024 2:07:09 PM");
    }

    #[test]
    fn same_as_is_lenient_on_representation_only() {
        assert!(Value::Bool(true).same_as(&Value::string("True")));
        assert!(Value::Number(5).same_as(&Value::string("5")));
        assert!(Value::Multi(vec!["a".into()]).same_as(&"a".into()));
        assert!(Value::Multi(vec![]).same_as(&Value::Null));
        assert!(!Value::string("a").same_as(&Value::string("A")));
        assert!(!Value::Null.same_as(&Value::string("")));
    }

    #[test]
    fn json_round_trip() {
        let j = serde_json::json!({"a": ["x", 1, true, null]});
        let v = Value::from_json(&j["a"]);
        assert_eq!(v.to_json(), j["a"]);
    }
}

//! A readable difference between two JSON documents: only what changes, each change with a
//! path that names list elements by their `name` (or `targetAttributeName`, `id`) rather than
//! by position, so that an added attribute mapping reads as one addition.

use serde::Serialize;
use serde_json::Value;

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    /// A property or list element that only the new document has.
    Added {
        /// Where, e.g. `synchronizationRules[USER_INBOUND_USER].objectMappings[...]`.
        path: String,
        /// Its value.
        value: Value,
    },
    /// A property or list element that only the old document has.
    Removed {
        /// Where.
        path: String,
        /// Its old value.
        value: Value,
    },
    /// A value that differs.
    Changed {
        /// Where.
        path: String,
        /// The old value.
        old: Value,
        /// The new value.
        new: Value,
    },
}

impl Change {
    /// The path of the change.
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. }
            | Change::Removed { path, .. }
            | Change::Changed { path, .. } => path,
        }
    }
}

/// A value on one line, or, when long, indented JSON on the lines below.
fn shown(value: &Value) -> String {
    let line = value.to_string();
    if line.len() <= 80 {
        return format!(" {line}");
    }
    let pretty = serde_json::to_string_pretty(value).unwrap_or(line);
    let indented: Vec<String> = pretty.lines().map(|l| format!("    {l}")).collect();
    format!("\n{}", indented.join("\n"))
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added { path, value } => write!(f, "+ {path}:{}", shown(value)),
            Change::Removed { path, value } => write!(f, "- {path}:{}", shown(value)),
            Change::Changed { path, old, new } => write!(f, "~ {path}: {old} -> {new}"),
        }
    }
}

/// The differences from `old` to `new`, in document order.
pub(crate) fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

/// The text of a diff: one change per line, or `no change` when there is none.
pub fn render(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no change\n".into();
    }
    changes.iter().map(|c| format!("{c}\n")).collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The key naming an element of a list, when every element of both lists has a distinct one.
fn identity(v: &Value) -> Option<String> {
    ["targetAttributeName", "name", "id", "key"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
}

fn keyed(list: &[Value]) -> Option<Vec<String>> {
    let keys: Option<Vec<String>> = list.iter().map(identity).collect();
    let keys = keys?;
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    (sorted.len() == keys.len()).then_some(keys)
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => walk(&join(path, k), va, vb, out),
                    None => out.push(Change::Removed {
                        path: join(path, k),
                        value: va.clone(),
                    }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(Change::Added {
                        path: join(path, k),
                        value: vb.clone(),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => match (keyed(a), keyed(b)) {
            (Some(ka), Some(kb)) => {
                for (i, va) in a.iter().enumerate() {
                    let p = format!("{path}[{}]", ka[i]);
                    match kb.iter().position(|k| *k == ka[i]) {
                        Some(j) => walk(&p, va, &b[j], out),
                        None => out.push(Change::Removed {
                            path: p,
                            value: va.clone(),
                        }),
                    }
                }
                for (j, vb) in b.iter().enumerate() {
                    if !ka.contains(&kb[j]) {
                        out.push(Change::Added {
                            path: format!("{path}[{}]", kb[j]),
                            value: vb.clone(),
                        });
                    }
                }
            }
            _ => {
                for i in 0..a.len().max(b.len()) {
                    let p = format!("{path}[{i}]");
                    match (a.get(i), b.get(i)) {
                        (Some(x), Some(y)) => walk(&p, x, y, out),
                        (Some(x), None) => out.push(Change::Removed {
                            path: p,
                            value: x.clone(),
                        }),
                        (None, Some(y)) => out.push(Change::Added {
                            path: p,
                            value: y.clone(),
                        }),
                        (None, None) => {}
                    }
                }
            }
        },
        _ => {
            if old != new {
                out.push(Change::Changed {
                    path: path.to_string(),
                    old: old.clone(),
                    new: new.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_list_elements_and_shows_only_changes() {
        let old = json!({"rules": [{"name": "a", "on": false}, {"name": "b", "x": 1}], "v": 1});
        let new = json!({"rules": [{"name": "a", "on": true}, {"name": "b", "x": 1}, {"name": "c"}], "v": 1});
        let d = diff(&old, &new);
        assert_eq!(
            render(&d),
            "~ rules[a].on: false -> true\n+ rules[c]: {\"name\":\"c\"}\n"
        );
        assert!(diff(&old, &old).is_empty());
        assert_eq!(render(&[]), "no change\n");
    }

    #[test]
    fn lists_without_names_compare_by_position() {
        let d = diff(&json!({"l": [1, 2]}), &json!({"l": [1]}));
        assert_eq!(render(&d), "- l[1]: 2\n");
        let d = diff(&json!({"k": 1}), &json!({}));
        assert_eq!(d[0].path(), "k");
    }

    #[test]
    fn long_values_are_shown_indented_below_their_path() {
        let big = json!({"name": "members", "referencedObjects": [{"referencedObjectName": "User"}, {"referencedObjectName": "Group"}]});
        let text = render(&diff(&json!({"a": []}), &json!({"a": [big]})));
        assert!(
            text.starts_with("+ a[members]:\n    {\n      \"name\": \"members\","),
            "{text}"
        );
    }
}

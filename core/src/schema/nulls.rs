//! Where a loaded document wrote `null`, so that writing it back keeps its nulls.
//!
//! Graph writes `null` for many properties it has no value for (`"name": null` on an object
//! mapping, `"scope": null`, `"expression": null`, `"defaultValue": null`). The model reads such a
//! null as the property's absent value (an empty name, no scope, no expression). To write the
//! document back unchanged in meaning, and in form where nothing was edited, [`NullMarks`]
//! remembers each null's JSON pointer and what the model wrote there right after loading. On
//! writing, a property still written exactly as it was right after loading is written as `null`
//! again; a property whose value was changed since is written with its new value.
//!
//! Empty lists are kept the same way where the model leaves them out (Graph writes
//! `"parameters": []` on attribute nodes of an expression tree, which the model omits).

use serde_json::Value;

/// The nulls (and omitted empty lists) of a loaded document: each one's JSON pointer (from the
/// schema's root), what the model wrote at that pointer right after loading (`None`: nothing,
/// the property was left out), and what the document had there (`null` or `[]`).
///
/// Two schemas compare equal whatever their marks: a null is how a document was written, not
/// what it means.
#[derive(Debug, Clone, Default)]
pub(crate) struct NullMarks(Vec<Mark>);

#[derive(Debug, Clone)]
struct Mark {
    pointer: String,
    was: Option<Value>,
    loaded: Value,
}

impl PartialEq for NullMarks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl NullMarks {
    /// Records every property of `loaded` (the document as read) whose value is `null`, and
    /// every empty list that `written` (the model written right after loading) leaves out.
    pub(crate) fn record(loaded: &Value, written: &Value) -> NullMarks {
        let mut pointers = Vec::new();
        collect(loaded, &mut String::new(), &mut pointers);
        NullMarks(
            pointers
                .into_iter()
                .filter_map(|(pointer, loaded)| {
                    let was = written.pointer(&pointer).cloned();
                    if !loaded.is_null() && was.is_some() {
                        // An empty list the model writes itself needs no mark.
                        return None;
                    }
                    Some(Mark {
                        pointer,
                        was,
                        loaded,
                    })
                })
                .collect(),
        )
    }

    /// Writes `null` (or `[]`) back wherever `written` still holds what it held right after
    /// loading.
    pub(crate) fn restore(&self, written: &mut Value) {
        for mark in &self.0 {
            let pointer = &mark.pointer;
            let Some(cut) = pointer.rfind('/') else {
                continue;
            };
            let key = unescape(&pointer[cut + 1..]);
            let Some(Value::Object(parent)) = written.pointer_mut(&pointer[..cut]) else {
                continue;
            };
            if parent.get(&key) == mark.was.as_ref() {
                parent.insert(key, mark.loaded.clone());
            }
        }
    }

    /// How many nulls were recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

fn collect(v: &Value, at: &mut String, out: &mut Vec<(String, Value)>) {
    let len = at.len();
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                at.push('/');
                at.push_str(&escape(k));
                let empty_list = child.as_array().is_some_and(Vec::is_empty);
                if child.is_null() || empty_list {
                    out.push((at.clone(), child.clone()));
                } else {
                    collect(child, at, out);
                }
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push('/');
                at.push_str(&i.to_string());
                collect(child, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// RFC 6901 escaping of one pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restores_under_keys_that_need_escaping_and_skips_changed_values() {
        let loaded = json!({"a/b": null, "c~d": {"e": null}, "list": [{"f": null}], "g": []});
        // What a model might write: "a/b" left out, "e" as "", "f" edited, "g" left out.
        let written = json!({"c~d": {"e": ""}, "list": [{"f": ""}]});
        let marks = NullMarks::record(&loaded, &written);
        assert_eq!(marks.len(), 4);
        let mut out = json!({"c~d": {"e": ""}, "list": [{"f": "edited"}]});
        marks.restore(&mut out);
        assert_eq!(
            out,
            json!({"c~d": {"e": null}, "list": [{"f": "edited"}], "a/b": null, "g": []})
        );
    }

    #[test]
    fn an_empty_list_the_model_writes_is_not_marked() {
        let loaded = json!({"values": []});
        let marks = NullMarks::record(&loaded, &json!({"values": []}));
        assert_eq!(marks.len(), 0);
    }
}

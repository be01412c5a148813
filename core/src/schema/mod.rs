//! Microsoft Graph's `synchronizationSchema`: read, write, validate, and the built-in default.
//!
//! An admin who runs Entra cross-tenant synchronization can export the schema of a job
//! (`GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`) or of a template and use
//! it unchanged. [`load`] accepts the bare schema, the job and template objects that hold one
//! under `schema`, and Graph's list response (`{"value": [ ... ]}`) holding one template or job;
//! `null` is read wherever Graph writes it, as the property's absent value. Properties this
//! version does not model, and the document's nulls, are kept and written back by
//! [`to_json_pretty`]. See `docs/mapping.md`.

mod locate;
mod model;
mod nulls;
mod relaxed;
mod validate;

use std::path::{Path, PathBuf};

pub use model::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition, Filter,
    FilterClause, FilterGroup, FilterOperand, FlowBehavior, FlowType, FlowTypes, MetadataEntry,
    Mutability, ObjectDefinition, ObjectMapping, ReferencedObject, SynchronizationRule,
    SynchronizationSchema,
};
pub use relaxed::{Repair, load_as_published};
pub use validate::{
    Severity, ValidationIssue, has_errors, validate, validate_with, validate_with_plugins,
};

use nulls::NullMarks;

/// The built-in default schema, as JSON (also in `examples/schema-default.json`).
pub(crate) const DEFAULT_SCHEMA_JSON: &str = include_str!("default_schema.json");

/// A schema that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not valid JSON.
    #[error("malformed json at line {line}, column {column}: {message}; fix the json syntax")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The JSON is valid but a property has the wrong shape (for example a string where Graph
    /// has a list, or an `attributeMappingSource` without its `type`).
    #[error(
        "invalid synchronizationSchema at {path} (line {line}, column {column}): {message}; \
         compare the property with Graph's synchronizationSchema reference"
    )]
    Shape {
        /// 1-based line (where the JSON parser noticed the problem; for a property nested in
        /// an object this can be the end of that object).
        line: usize,
        /// 1-based column.
        column: usize,
        /// JSON path of the offending property in the file, for example
        /// `$.synchronizationRules[0].objectMappings[0].attributeMappings[0].source`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The JSON is neither a schema nor a template or job holding one.
    #[error(
        "not a synchronizationSchema: expected an object with `directories` and \
         `synchronizationRules`, or a synchronizationTemplate or synchronizationJob with the \
         schema under `schema`; found {found}"
    )]
    NotASchema {
        /// A description of what was found.
        found: String,
    },
    /// The file could not be read.
    #[error("cannot read schema file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// serde_json's message without its trailing " at line L column C".
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    }
}

/// A template or job export, parsed from the text only for the position of a shape error.
#[derive(serde::Deserialize)]
#[expect(dead_code, reason = "parsed only for the position of a shape error")]
struct Wrapper {
    schema: SynchronizationSchema,
}

/// Graph's list response holding templates or jobs, parsed like [`Wrapper`].
#[derive(serde::Deserialize)]
#[expect(dead_code, reason = "parsed only for the position of a shape error")]
struct ListWrapper {
    value: Vec<ListItem>,
}

/// One element of a list response; only the one holding a schema can fail to parse.
#[derive(serde::Deserialize)]
#[expect(dead_code, reason = "parsed only for the position of a shape error")]
struct ListItem {
    #[serde(default)]
    schema: Option<SynchronizationSchema>,
}

/// Reads a schema from JSON: a bare `synchronizationSchema`, a `synchronizationTemplate` or
/// `synchronizationJob` that holds one under `schema`, or Graph's list response
/// (`{"value": [...]}`) holding exactly one such template or job.
///
/// `null` is accepted wherever Graph writes it and read as the property's absent value;
/// [`to_json_pretty`] writes it back as `null`. A leading byte-order mark (as Windows
/// PowerShell 5.1 writes with `Out-File`) is ignored.
pub fn load(json: &str) -> Result<SynchronizationSchema, SchemaError> {
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| SchemaError::Syntax {
        line: e.line(),
        column: e.column(),
        message: bare_message(&e),
    })?;
    let (root, at) = find_schema(&value)?;
    let mut schema: SynchronizationSchema =
        serde_json::from_value(root.clone()).map_err(|e| shape_error(json, root, &at, &e))?;
    // Serializing the model cannot fail: all keys are strings and no value is a float NaN.
    let written = serde_json::to_value(&schema).unwrap_or_default();
    schema.nulls = NullMarks::record(root, &written);
    Ok(schema)
}

/// The schema inside `value`, with its JSON path.
fn find_schema(value: &serde_json::Value) -> Result<(&serde_json::Value, String), SchemaError> {
    let serde_json::Value::Object(map) = value else {
        return Err(SchemaError::NotASchema {
            found: format!("a json {}", json_kind(value)),
        });
    };
    if map.contains_key("synchronizationRules") || map.contains_key("directories") {
        return Ok((value, "$".to_string()));
    }
    match map.get("schema") {
        Some(inner @ serde_json::Value::Object(_)) => {
            return Ok((inner, "$.schema".to_string()));
        }
        Some(other) => {
            return Err(SchemaError::NotASchema {
                found: format!("`schema` holding a json {}", json_kind(other)),
            });
        }
        None => {}
    }
    if let Some(serde_json::Value::Array(items)) = map.get("value") {
        let holding: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].get("schema").is_some_and(|s| s.is_object()))
            .collect();
        match holding.as_slice() {
            [i] => return Ok((&items[*i]["schema"], format!("$.value[{i}].schema"))),
            [] => {}
            many => {
                return Err(SchemaError::NotASchema {
                    found: format!(
                        "a list of {} templates or jobs holding a schema; save the one you want \
                         on its own (GET .../templates/{{templateId}}/schema)",
                        many.len()
                    ),
                });
            }
        }
    }
    let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
    Err(SchemaError::NotASchema {
        found: if keys.is_empty() {
            "an empty object".to_string()
        } else {
            format!("an object with properties {}", keys.join(", "))
        },
    })
}

/// A shape error: the JSON path of the offending property (found by reading the schema part by
/// part), and the line and column where the JSON parser noticed it.
fn shape_error(
    json: &str,
    root: &serde_json::Value,
    at: &str,
    e: &serde_json::Error,
) -> SchemaError {
    let (path, message) = match locate::first_problem(root) {
        Some((path, message)) => (format!("{at}{path}"), message),
        None => (at.to_string(), bare_message(e)),
    };
    // Parsing the text again (not the value) gives the position the parser reached.
    let positioned = match at {
        "$" => serde_json::from_str::<SynchronizationSchema>(json).err(),
        "$.schema" => serde_json::from_str::<Wrapper>(json).err(),
        _ => serde_json::from_str::<ListWrapper>(json).err(),
    };
    let (line, column) = positioned.map(|p| (p.line(), p.column())).unwrap_or((0, 0));
    SchemaError::Shape {
        line,
        column,
        path,
        message,
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Reads a schema file (see [`load`]).
pub fn load_file(path: impl AsRef<Path>) -> Result<SynchronizationSchema, SchemaError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load(&text)
}

/// Writes a schema as indented JSON, in Graph's property names, unknown properties included.
///
/// Where the loaded document had `null` and the property still holds what it loaded as, `null`
/// is written again, so a schema read from Entra and written back unedited means the same to
/// Entra (see `docs/mapping.md`).
pub fn to_json_pretty(schema: &SynchronizationSchema) -> String {
    // Serializing these types cannot fail: all keys are strings and no value is a float NaN.
    let mut value = match serde_json::to_value(schema) {
        Ok(v) => v,
        Err(e) => return format!("{{\"error\": \"{e}\"}}"),
    };
    schema.nulls.restore(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The built-in default schema for cross-tenant synchronization of users and security groups
/// (see `docs/mapping.md` for its mappings).
pub fn default_schema() -> SynchronizationSchema {
    // The embedded file is tested to load and validate; a broken build would fail that test.
    load(DEFAULT_SCHEMA_JSON).unwrap_or_else(|e| panic!("built-in default schema is invalid: {e}"))
}

impl SynchronizationSchema {
    /// The directory named `name` (case-insensitive).
    pub fn directory(&self, name: &str) -> Option<&DirectoryDefinition> {
        self.directories
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The first enabled object mapping whose `sourceObjectName` is `source_object`
    /// (case-insensitive, for example `"User"` or `"Group"`), with its rule.
    pub fn object_mapping(
        &self,
        source_object: &str,
    ) -> Option<(&SynchronizationRule, &ObjectMapping)> {
        self.synchronization_rules.iter().find_map(|rule| {
            rule.object_mappings
                .iter()
                .find(|m| m.enabled && m.source_object_name.eq_ignore_ascii_case(source_object))
                .map(|m| (rule, m))
        })
    }

    /// The definition of `attribute` on the target object of `object` under `rule`.
    pub fn target_attribute(
        &self,
        rule: &SynchronizationRule,
        object: &ObjectMapping,
        attribute: &str,
    ) -> Option<&AttributeDefinition> {
        self.directory(&rule.target_directory_name)?
            .object(&object.target_object_name)?
            .attribute(attribute)
    }

    /// The definition of `attribute` on the source object of `object` under `rule`.
    pub fn source_attribute(
        &self,
        rule: &SynchronizationRule,
        object: &ObjectMapping,
        attribute: &str,
    ) -> Option<&AttributeDefinition> {
        self.directory(&rule.source_directory_name)?
            .object(&object.source_object_name)?
            .attribute(attribute)
    }
}

impl DirectoryDefinition {
    /// The object named `name` (case-insensitive).
    pub fn object(&self, name: &str) -> Option<&ObjectDefinition> {
        self.objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests;

//! Microsoft Graph's `synchronizationSchema`: read, write, validate, and the built-in default.
//!
//! An admin who runs Entra cross-tenant synchronization can export the schema of a job
//! (`GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`) or of a template and use
//! it unchanged. [`load`] accepts the bare schema and the job and template objects that hold one
//! under `schema`; properties this version does not model are kept and written back by
//! [`to_json_pretty`]. See `docs/mapping.md`.

mod model;
mod validate;

use std::path::{Path, PathBuf};

pub use model::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition, Extra, Filter,
    FilterClause, FilterGroup, FilterOperand, FlowBehavior, FlowType, FlowTypes, MetadataEntry,
    Mutability, ObjectDefinition, ObjectMapping, ReferencedObject, SynchronizationRule,
    SynchronizationSchema,
};
pub use validate::{
    Severity, ValidationIssue, has_errors, validate, validate_with, validate_with_plugins,
};

/// The built-in default schema, as JSON (also in `examples/schema-default.json`).
pub const DEFAULT_SCHEMA_JSON: &str = include_str!("default_schema.json");

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
    /// has a list).
    #[error(
        "invalid synchronizationSchema at line {line}, column {column}: {message}; \
         compare the property with Graph's synchronizationSchema reference"
    )]
    Shape {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
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

impl SchemaError {
    fn from_json(e: serde_json::Error) -> SchemaError {
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        let (line, column) = (e.line(), e.column());
        match e.classify() {
            serde_json::error::Category::Data => SchemaError::Shape {
                line,
                column,
                message,
            },
            _ => SchemaError::Syntax {
                line,
                column,
                message,
            },
        }
    }
}

/// A template or job export: only its `schema` is read.
#[derive(serde::Deserialize)]
struct Wrapper {
    schema: SynchronizationSchema,
}

/// Reads a schema from JSON: a bare `synchronizationSchema`, or a `synchronizationTemplate` or
/// `synchronizationJob` that holds one under `schema`.
///
/// A leading byte-order mark (as Windows PowerShell 5.1 writes with `Out-File`) is ignored.
pub fn load(json: &str) -> Result<SynchronizationSchema, SchemaError> {
    let json = json.strip_prefix('\u{feff}').unwrap_or(json);
    let value: serde_json::Value = serde_json::from_str(json).map_err(SchemaError::from_json)?;
    let serde_json::Value::Object(map) = &value else {
        return Err(SchemaError::NotASchema {
            found: format!("a json {}", json_kind(&value)),
        });
    };
    let is_schema = map.contains_key("synchronizationRules") || map.contains_key("directories");
    if is_schema {
        // Parsing the text again (not the value) keeps line and column in shape errors.
        return serde_json::from_str(json).map_err(SchemaError::from_json);
    }
    match map.get("schema") {
        Some(serde_json::Value::Object(_)) => serde_json::from_str::<Wrapper>(json)
            .map(|w| w.schema)
            .map_err(SchemaError::from_json),
        Some(other) => Err(SchemaError::NotASchema {
            found: format!("`schema` holding a json {}", json_kind(other)),
        }),
        None => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
            Err(SchemaError::NotASchema {
                found: if keys.is_empty() {
                    "an empty object".to_string()
                } else {
                    format!("an object with properties {}", keys.join(", "))
                },
            })
        }
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
pub fn to_json_pretty(schema: &SynchronizationSchema) -> String {
    // Serializing these types cannot fail: all keys are strings and no value is a float NaN.
    serde_json::to_string_pretty(schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
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

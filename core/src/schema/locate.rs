//! Finds where in a schema a shape error is, as a JSON path.
//!
//! serde reports what is wrong but, through the flattened `extra` maps of the model, not where.
//! [`first_problem`] reads the schema part by part, descending into the first part that does not
//! read, down to the property at fault.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::model::{
    AttributeDefinition, AttributeMapping, DirectoryDefinition, Filter, FilterClause, FilterGroup,
    FilterOperand, MetadataEntry, ObjectDefinition, ObjectMapping, ReferencedObject,
    SynchronizationRule, SynchronizationSchema,
};
use crate::expr::{AttributeMappingSource, MappingSourceParameter};

/// The kinds of object a schema holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Schema,
    Directory,
    Object,
    Attribute,
    Reference,
    Metadata,
    Rule,
    ObjectMapping,
    AttributeMapping,
    Source,
    Parameter,
    Filter,
    Group,
    Clause,
    Operand,
}

impl Kind {
    /// Whether `v` reads as this kind; the error message when it does not.
    fn check(self, v: &Value) -> Result<(), String> {
        fn read<T: DeserializeOwned>(v: &Value) -> Result<(), String> {
            serde_json::from_value::<T>(v.clone())
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        match self {
            Kind::Schema => read::<SynchronizationSchema>(v),
            Kind::Directory => read::<DirectoryDefinition>(v),
            Kind::Object => read::<ObjectDefinition>(v),
            Kind::Attribute => read::<AttributeDefinition>(v),
            Kind::Reference => read::<ReferencedObject>(v),
            Kind::Metadata => read::<MetadataEntry>(v),
            Kind::Rule => read::<SynchronizationRule>(v),
            Kind::ObjectMapping => read::<ObjectMapping>(v),
            Kind::AttributeMapping => read::<AttributeMapping>(v),
            Kind::Source => read::<AttributeMappingSource>(v),
            Kind::Parameter => read::<MappingSourceParameter>(v),
            Kind::Filter => read::<Filter>(v),
            Kind::Group => read::<FilterGroup>(v),
            Kind::Clause => read::<FilterClause>(v),
            Kind::Operand => read::<FilterOperand>(v),
        }
    }

    /// The modeled properties of this kind that hold other kinds: (name, kind, is a list).
    fn children(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Kind::Schema => &[
                ("directories", Kind::Directory, true),
                ("synchronizationRules", Kind::Rule, true),
            ],
            Kind::Directory => &[("objects", Kind::Object, true)],
            Kind::Object => &[
                ("attributes", Kind::Attribute, true),
                ("metadata", Kind::Metadata, true),
            ],
            Kind::Attribute => &[
                ("referencedObjects", Kind::Reference, true),
                ("metadata", Kind::Metadata, true),
            ],
            Kind::Rule => &[
                ("objectMappings", Kind::ObjectMapping, true),
                ("metadata", Kind::Metadata, true),
            ],
            Kind::ObjectMapping => &[
                ("attributeMappings", Kind::AttributeMapping, true),
                ("scope", Kind::Filter, false),
                ("metadata", Kind::Metadata, true),
            ],
            Kind::AttributeMapping => &[("source", Kind::Source, false)],
            Kind::Source => &[("parameters", Kind::Parameter, true)],
            Kind::Parameter => &[("value", Kind::Source, false)],
            Kind::Filter => &[
                ("groups", Kind::Group, true),
                ("inputFilterGroups", Kind::Group, true),
                ("categoryFilterGroups", Kind::Group, true),
            ],
            Kind::Group => &[("clauses", Kind::Clause, true)],
            Kind::Clause => &[("targetOperand", Kind::Operand, false)],
            Kind::Reference | Kind::Metadata | Kind::Operand => &[],
        }
    }
}

/// The JSON path (relative to the schema, starting with `.` or empty) and message of the first
/// part of `schema` that does not read; `None` when it all reads.
pub(crate) fn first_problem(schema: &Value) -> Option<(String, String)> {
    find(Kind::Schema, schema, String::new())
}

fn find(kind: Kind, v: &Value, path: String) -> Option<(String, String)> {
    let message = kind.check(v).err()?;
    let Value::Object(map) = v else {
        return Some((path, message));
    };
    for &(name, child, list) in kind.children() {
        let Some(value) = map.get(name) else {
            continue;
        };
        let at = format!("{path}.{name}");
        match (list, value) {
            (_, Value::Null) => {}
            (true, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(found) = find(child, item, format!("{at}[{i}]")) {
                        return Some(found);
                    }
                }
            }
            (true, _) => {
                return Some((
                    at,
                    format!("expected a list, found a json {}", kind_of(value)),
                ));
            }
            (false, _) => {
                if let Some(found) = find(child, value, at) {
                    return Some(found);
                }
            }
        }
    }
    // The problem is a property of this object itself: the first one whose removal lets the
    // object read, or whose value alone is of the wrong type.
    for key in map.keys() {
        let mut without = map.clone();
        without.remove(key);
        if kind.check(&Value::Object(without)).is_ok() {
            return Some((format!("{path}.{key}"), message));
        }
    }
    Some((path, message))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

//! The serde types of Graph v1.0 `synchronizationSchema` and everything it contains.
//!
//! Property names follow Microsoft Graph exactly (camelCase). Every struct keeps the properties
//! this version does not model in `extra`, so reading and writing a schema never drops anything.
//! Modeled properties are always written, the way Entra's own export writes them (`null` for an
//! absent value, `[]` for an empty list).
//!
//! Graph writes `null` for many properties it has no value for; every property reads `null` as
//! its absent value (an empty name, `false`, `0`, no scope, an empty list, the enumeration's
//! default), so a document Graph returned always loads. Where the document had `null`, writing it
//! back writes `null` again (see `nulls.rs`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::nulls::NullMarks;
use crate::expr::AttributeMappingSource;

/// Properties this version does not model, preserved on round trip.
pub(crate) type Extra = serde_json::Map<String, serde_json::Value>;

/// `synchronizationSchema`: the directories a job connects and the rules that map one to the
/// other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationSchema {
    /// The schema identifier (Entra uses the job or template id).
    #[serde(default)]
    pub id: Option<String>,
    /// The directories (source and target) and the objects and attributes they hold.
    #[serde(default, deserialize_with = "null_as_default")]
    pub directories: Vec<DirectoryDefinition>,
    /// The rules: which objects flow from which directory into which, and how.
    #[serde(default, deserialize_with = "null_as_default")]
    pub synchronization_rules: Vec<SynchronizationRule>,
    /// The schema version (read-only in Graph).
    #[serde(default)]
    pub version: Option<String>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
    /// Where the loaded document wrote `null`, written back as `null` by `to_json_pretty`.
    #[serde(skip)]
    pub(crate) nulls: NullMarks,
}

/// `directoryDefinition`: one directory and the objects it supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryDefinition {
    /// Directory identifier.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Directory name, unique within the schema; rules refer to directories by this name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// What discovery the directory supports: Graph's flag enum `directoryDefinitionDiscoverabilities`
    /// as written (for example `"AttributeNames, AttributeDataTypes"`), kept verbatim.
    #[serde(default)]
    pub discoverabilities: Option<String>,
    /// The objects (for example `User`, `Group`) the directory supports.
    #[serde(default, deserialize_with = "null_as_default")]
    pub objects: Vec<ObjectDefinition>,
    /// Properties this version does not model (`discoveryDateTime`, `readOnly`, `version`...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `objectDefinition`: one object type of a directory and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDefinition {
    /// Object name, unique within the directory (for example `User`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The attributes of this object.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<AttributeDefinition>,
    /// The APIs the directory supports for this object (informational).
    #[serde(default, deserialize_with = "null_as_default")]
    pub supported_apis: Vec<String>,
    /// Metadata entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Vec<MetadataEntry>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ObjectDefinition {
    /// The attribute named `name`, compared case-insensitively as Entra does.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDefinition> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// `attributeDefinition`: one attribute of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDefinition {
    /// Attribute name, unique within the object.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Value type. Default `String`.
    #[serde(rename = "type", default)]
    pub kind: AttributeType,
    /// True when the attribute holds a list of values. Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub multivalued: bool,
    /// True when an object cannot be created without this attribute. Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub required: bool,
    /// Whether the attribute can be read and written. Default `ReadWrite`.
    #[serde(default)]
    pub mutability: Mutability,
    /// True for the one attribute that identifies the object (immutable, unique). Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub anchor: bool,
    /// True when values compare case-sensitively for change detection. Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub case_exact: bool,
    /// The value used for a required attribute that has no value during synchronization.
    #[serde(default)]
    pub default_value: Option<String>,
    /// For `Reference` attributes, the objects referred to (for example `User` for `manager`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub referenced_objects: Vec<ReferencedObject>,
    /// True to allow null values to flow. Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub flow_null_values: bool,
    /// Metadata entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Vec<MetadataEntry>,
    /// Properties this version does not model (`apiExpressions`...), preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `referencedObject`: an object a reference attribute points to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferencedObject {
    /// The referenced object's name (for example `User`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub referenced_object_name: String,
    /// The referenced object's property used for the reference, when not its anchor.
    #[serde(default)]
    pub referenced_property: Option<String>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `key`/`value` metadata entry (`metadataEntry`, `stringKeyStringValuePair`,
/// `attributeDefinitionMetadataEntry`, `objectDefinitionMetadataEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    /// The value (Entra often stores JSON text here, for example `"\"Normal\""`).
    #[serde(default)]
    pub value: Option<String>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `synchronizationRule`: how objects flow from one directory into another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SynchronizationRule {
    /// Rule identifier.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// Human-readable name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The name of the source directory (a `directories[].name`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub source_directory_name: String,
    /// The name of the target directory (a `directories[].name`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_directory_name: String,
    /// The object mappings of this rule.
    #[serde(default, deserialize_with = "null_as_default")]
    pub object_mappings: Vec<ObjectMapping>,
    /// True when the rule may be customized.
    #[serde(default, deserialize_with = "null_as_default")]
    pub editable: bool,
    /// Processing order relative to other rules; the lowest number runs first.
    #[serde(default)]
    pub priority: Option<i64>,
    /// Metadata entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Vec<MetadataEntry>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `objectMapping`: how one source object type maps onto one target object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMapping {
    /// When false, the mapping is skipped during synchronization.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: bool,
    /// Which actions (Add, Update, Delete) the mapping performs. Default all three.
    #[serde(default)]
    pub flow_types: FlowTypes,
    /// Human-friendly name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The object name in the source directory (for example `User`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub source_object_name: String,
    /// The object name in the target directory.
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_object_name: String,
    /// The scoping filter: which source objects are provisioned. `None` means all.
    #[serde(default)]
    pub scope: Option<Filter>,
    /// The attribute mappings.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attribute_mappings: Vec<AttributeMapping>,
    /// Metadata entries.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Vec<MetadataEntry>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `attributeMapping`: how one target attribute gets its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    /// Where the value comes from; `None` means only `defaultValue` flows.
    #[serde(default)]
    pub source: Option<AttributeMappingSource>,
    /// The value used when the source evaluates to null.
    #[serde(default)]
    pub default_value: Option<String>,
    /// For missing references; internal to Entra, kept as written. Default false.
    #[serde(default, deserialize_with = "null_as_default")]
    pub export_missing_references: bool,
    /// When the value is written. Default `FlowWhenChanged`.
    #[serde(default)]
    pub flow_behavior: FlowBehavior,
    /// Under which conditions the value is written. Default `Always`.
    #[serde(default)]
    pub flow_type: FlowType,
    /// 0: not a matching attribute; above 0: matching attribute, the lowest value tried first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub matching_priority: i32,
    /// The target attribute written.
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_attribute_name: String,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `filter`: a scoping filter, an OR of groups that are each an AND of clauses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Filter groups deciding scope: an object is in scope if any group is true (or there is no
    /// group). Objects leaving this scope are deprovisioned.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<FilterGroup>,
    /// Filter groups used as input to synchronization; objects leaving them are not
    /// deprovisioned.
    #[serde(default, deserialize_with = "null_as_default")]
    pub input_filter_groups: Vec<FilterGroup>,
    /// Filter groups by category (`@odata` category filters); kept as written.
    #[serde(default, deserialize_with = "null_as_default")]
    pub category_filter_groups: Vec<FilterGroup>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `filterGroup`: clauses that must all be true.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterGroup {
    /// Human-friendly name of the group.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The clauses, ANDed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clauses: Vec<FilterClause>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `filterClause`: one condition on a source attribute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterClause {
    /// The operator (for example `EQUALS`, `REGEX MATCH`); see `docs/scoping.md`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub operator_name: String,
    /// The source attribute tested.
    #[serde(default, deserialize_with = "null_as_default")]
    pub source_operand_name: String,
    /// The values compared against (none for unary operators such as `IS NULL`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub target_operand: FilterOperand,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `filterOperand`: the constant values of a clause.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FilterOperand {
    /// The values.
    #[serde(default, deserialize_with = "null_as_default")]
    pub values: Vec<String>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Reads `null` as the type's default (Entra writes `null` for empty lists in places).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Defines a string enum of Graph that keeps any value it does not know in `Other`, so that a
/// schema written by a newer Entra still loads (validation reports the unknown value).
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, default $default:ident, [$($(#[$vmeta:meta])* $variant:ident),+ $(,)?]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version does not know, kept as written.
            Other(String),
        }

        impl $name {
            /// Every value this version knows, in Graph's spelling.
            pub const KNOWN: &'static [&'static str] = &[$(stringify!($variant)),+];

            /// Graph's spelling of the value.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                    $name::Other(s) => s,
                }
            }

            /// Parses Graph's spelling (case-insensitively); unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case(stringify!($variant)) {
                    return $name::$variant;
                })+
                $name::Other(s.to_string())
            }

            /// False for `Other`.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = Option::<String>::deserialize(deserializer)?;
                Ok(s.map(|s| $name::parse(&s)).unwrap_or_default())
            }
        }
    };
}

string_enum!(
    /// `attributeType`: the value type of an attribute.
    AttributeType, default String, [
        /// Text.
        String,
        /// A whole number.
        Integer,
        /// A reference to another object (its id).
        Reference,
        /// Bytes (base64 in JSON).
        Binary,
        /// True or false.
        Boolean,
        /// A point in time.
        DateTime,
    ]
);

string_enum!(
    /// `mutability`: whether an attribute can be read and written.
    Mutability, default ReadWrite, [
        /// Readable and writable.
        ReadWrite,
        /// Readable only.
        ReadOnly,
        /// Written once at creation.
        Immutable,
        /// Writable only.
        WriteOnly,
    ]
);

string_enum!(
    /// `attributeFlowBehavior`: when a mapped value is written.
    FlowBehavior, default FlowWhenChanged, [
        /// Write only when the source value changed.
        FlowWhenChanged,
        /// Write on every synchronization of the object.
        FlowAlways,
    ]
);

string_enum!(
    /// `attributeFlowType`: under which conditions a mapped value is written.
    FlowType, default Always, [
        /// On create and on every update.
        Always,
        /// Only when the object is created ("Only during creation" in the portal).
        ObjectAddOnly,
        /// Only when the change adds new values to a multi-valued attribute.
        MultiValueAddOnly,
        /// When the target has a value, only "add" operations flow, never "remove".
        ValueAddOnly,
        /// Only when the target attribute has no value at all.
        AttributeAddOnly,
    ]
);

/// `objectFlowTypes`: Graph's flag enum of the actions an object mapping performs, written as a
/// comma-separated string (`"Add, Update, Delete"`; `"None"` for no action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTypes {
    /// Create objects in the target.
    pub add: bool,
    /// Update existing target objects.
    pub update: bool,
    /// Deprovision target objects.
    pub delete: bool,
    /// Flags this version does not know, kept as written (validation reports them).
    pub unknown: Vec<String>,
}

impl FlowTypes {
    /// Add, Update and Delete: Graph's default.
    pub const ALL: FlowTypes = FlowTypes {
        add: true,
        update: true,
        delete: true,
        unknown: Vec::new(),
    };

    /// Parses the comma-separated flag string; case-insensitive, spaces ignored.
    pub fn parse(s: &str) -> FlowTypes {
        let mut out = FlowTypes {
            add: false,
            update: false,
            delete: false,
            unknown: Vec::new(),
        };
        for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "add" => out.add = true,
                "update" => out.update = true,
                "delete" => out.delete = true,
                "none" => {}
                _ => out.unknown.push(token.to_string()),
            }
        }
        out
    }
}

impl Default for FlowTypes {
    fn default() -> Self {
        FlowTypes::ALL
    }
}

impl fmt::Display for FlowTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = Vec::new();
        if self.add {
            parts.push("Add");
        }
        if self.update {
            parts.push("Update");
        }
        if self.delete {
            parts.push("Delete");
        }
        parts.extend(self.unknown.iter().map(String::as_str));
        if parts.is_empty() {
            f.write_str("None")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Serialize for FlowTypes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FlowTypes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(deserializer)?;
        Ok(s.map(|s| FlowTypes::parse(&s)).unwrap_or_default())
    }
}

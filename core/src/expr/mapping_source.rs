//! Graph's `attributeMappingSource`: the parsed (tree) form of an expression, as it appears in a
//! `synchronizationSchema`'s attribute mappings.

use serde::{Deserialize, Serialize};

/// `attributeMappingSource` (Graph v1.0): where a mapped value comes from.
///
/// Unknown properties are kept in `extra` and written back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMappingSource {
    /// `Attribute`, `Constant` or `Function`.
    #[serde(rename = "type")]
    pub kind: MappingSourceType,
    /// The attribute name, the constant's value, or the function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The expression text of this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// A function's parameters, by name (`null`, as Graph may write it, reads as none).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub parameters: Vec<MappingSourceParameter>,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `attributeMappingSourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MappingSourceType {
    /// A source attribute, `[name]`.
    Attribute,
    /// A constant value.
    Constant,
    /// A function call with parameters.
    Function,
}

/// `stringKeyAttributeMappingSourceValuePair`: one named function parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingSourceParameter {
    /// The parameter name (for example `source`, `oldValue`).
    pub key: String,
    /// The parameter's value.
    pub value: AttributeMappingSource,
    /// Properties this version does not model, preserved on round trip.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Reads `null` as an empty list.
fn null_as_empty<'de, D>(deserializer: D) -> Result<Vec<MappingSourceParameter>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Vec<MappingSourceParameter>>::deserialize(deserializer)?.unwrap_or_default())
}

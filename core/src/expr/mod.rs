//! Entra's attribute-mapping expression language.
//!
//! See Microsoft's "Reference for writing expressions for attribute mappings in Microsoft Entra
//! ID" and `docs/mapping.md`.

mod mapping_source;

pub use mapping_source::{AttributeMappingSource, MappingSourceType, MappingSourceParameter};

/// The built-in functions of the expression language, by their exact (case-sensitive) names.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "AltSecIdFromNetId",
    "Append",
    "AppRoleAssignmentsComplex",
    "BitAnd",
    "CBool",
    "CDate",
    "Coalesce",
    "ConvertToBase64",
    "ConvertToUTF8Hex",
    "Count",
    "CStr",
    "DateAdd",
    "DateDiff",
    "DateFromNum",
    "DefaultDomain",
    "FormatDateTime",
    "Guid",
    "IgnoreFlowIfNullOrEmpty",
    "IIF",
    "InStr",
    "IsNull",
    "IsNullOrEmpty",
    "IsPresent",
    "IsString",
    "Item",
    "Join",
    "Left",
    "Mid",
    "NormalizeDiacritics",
    "Not",
    "Now",
    "NumFromDate",
    "PCase",
    "RandomString",
    "Redact",
    "RemoveDuplicates",
    "Replace",
    "SelectUniqueValue",
    "SingleAppRoleAssignment",
    "Split",
    "StripSpaces",
    "Switch",
    "ToLower",
    "ToUpper",
    "Word",
];

/// True when `name` is a built-in function (names are case-sensitive, as in Entra).
pub fn is_builtin(name: &str) -> bool {
    BUILTIN_FUNCTIONS.contains(&name)
}

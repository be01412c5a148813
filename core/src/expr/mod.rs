//! Entra's attribute-mapping expression language: [`parse`] text into an [`Expr`], [`evaluate`]
//! it against an [`EvalContext`], and convert it to and from Graph's tree form
//! ([`AttributeMappingSource`]).
//!
//! See Microsoft's "Reference for writing expressions for attribute mappings in Microsoft Entra
//! ID" and `docs/expressions.md`.

mod ast;
mod datetime;
mod eval;
mod functions;
mod mapping_source;
mod parser;
mod signature;
mod text;
mod tree;

#[cfg(test)]
mod tests;

pub use ast::{CompareOp, Expr};
pub use eval::MAX_VALUE_BYTES;
pub use eval::{
    AttributeMap, EvalContext, EvalError, Evaluated, FunctionRegistry, StaticContext, evaluate,
};
pub use mapping_source::{AttributeMappingSource, MappingSourceParameter, MappingSourceType};
#[cfg(test)]
use parser::MAX_NESTING;
pub use parser::{MAX_EXPRESSION_CHARS, ParseError, parse};
#[cfg(test)]
use signature::signature;
pub use tree::MappingSourceError;

/// The built-in functions of the expression language, by their exact (case-sensitive) names.
pub(crate) const BUILTIN_FUNCTIONS: &[&str] = &[
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
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTIN_FUNCTIONS.contains(&name)
}

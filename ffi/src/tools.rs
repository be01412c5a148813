//! Calls that need no job: the version, status messages, the last error, freeing strings,
//! evaluating an expression and validating a schema.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use safer_ffi::c_char;
use safer_ffi::prelude::*;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use tenantsync_core::Value;
use tenantsync_core::{
    AttributeMap, Clock, StaticContext, SystemClock, evaluate_expression, has_schema_errors,
    load_schema, parse_expression, validate_schema_with,
};

use crate::boundary::{
    Failure, check_out, free_string, guard, guard_value, input_str, json_arg, last_error,
    output_string, to_json, write_out,
};
use crate::status::Status;

/// What the functions that return a static string return if they panic.
const EMPTY: &std::ffi::CStr = c"";

/// The library version (for example `0.1.0`) as a static NUL-terminated UTF-8 string: never
/// free it.
#[ffi_export]
pub fn tenantsync_version() -> *const c_char {
    guard_value(EMPTY.as_ptr().cast(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// What status `code` means: a short lower-case sentence as a static NUL-terminated string
/// (never free it). An unknown code gives `unknown status code`.
#[ffi_export]
pub fn tenantsync_status_message(code: u32) -> *const c_char {
    guard_value(EMPTY.as_ptr().cast(), || {
        Status::message_of(code).as_ptr().cast()
    })
}

/// The message of the last call on this thread that returned a status other than
/// `TENANTSYNC_STATUS_OK`: what went wrong and what to do, lower-case. Writes a library string
/// (free it with `tenantsync_string_free`) to `out_message`; an empty string when no call has
/// failed on this thread. Fails only with `NULL_ARGUMENT` (and then leaves the last error as
/// it was).
///
/// # Safety
/// `out_message` is NULL or writable.
#[ffi_export]
pub unsafe fn tenantsync_last_error_message(out_message: *mut *mut c_char) -> Status {
    let previous = last_error();
    let status = guard("tenantsync_last_error_message", || {
        check_out(out_message, "out_message")?;
        let text = previous
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_default();
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(out_message, output_string(text)) };
        Ok(())
    });
    if let Some(previous) = previous {
        crate::boundary::set_last_error(previous);
    }
    status
}

/// Frees a string the library returned (through any `out_*` parameter). NULL is a no-op. A
/// pointer the library did not return, or one already freed, is refused with
/// `INVALID_HANDLE` (nothing is freed).
///
/// # Safety
/// None: the pointer is looked up among the library's live strings before it is touched.
#[ffi_export]
pub unsafe fn tenantsync_string_free(text: *mut c_char) -> Status {
    guard("tenantsync_string_free", || free_string(text))
}

/// The input of [`tenantsync_expr_eval`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EvalInput {
    #[serde(default)]
    attributes: BTreeMap<String, Json>,
    #[serde(default)]
    now: Option<DateTime<Utc>>,
}

/// Evaluates an attribute-mapping expression (docs/expressions.md), as
/// `tenantsync expr eval --json` does.
///
/// `input_json` is NULL or `{"attributes": {NAME: VALUE, ...}, "now": "RFC 3339 time"}`
/// (both optional; `now` is what `Now()` returns, default the current time). Writes
/// `{"value": V}`, or `{"flow": false}` when the attribute does not flow, to `out_json`.
/// Fails with `EXPRESSION` when the expression does not parse or evaluate.
///
/// # Safety
/// `expression` and `input_json` are NULL or NUL-terminated strings; `out_json` is NULL or
/// writable.
#[ffi_export]
pub unsafe fn tenantsync_expr_eval(
    expression: *const c_char,
    input_json: *const c_char,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_expr_eval", || {
        check_out(out_json, "out_json")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let text = unsafe { input_str(expression, "expression") }?;
        let input: EvalInput = unsafe {
            json_arg(
                input_json,
                "input_json",
                r#"{"attributes": {"name": value}, "now": "2026-01-01T00:00:00Z"}"#,
            )
        }?;
        let parsed = parse_expression(text).map_err(|e| {
            Failure::new(
                Status::Expression,
                format!("cannot parse the expression {e}"),
            )
        })?;
        let attributes = input
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect();
        let now = input.now.unwrap_or_else(|| SystemClock.now());
        let ctx = StaticContext::new(AttributeMap(attributes), now);
        let result = evaluate_expression(&parsed, &ctx)
            .map_err(|e| Failure::new(Status::Expression, format!("evaluation failed: {e}")))?;
        let body = match result.value {
            Some(v) => json!({ "value": v.to_json() }),
            None => json!({ "flow": false }),
        };
        let text = to_json(&body)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_json, output_string(text)) };
        Ok(())
    })
}

/// The input of [`tenantsync_schema_validate`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SchemaInput {
    #[serde(default)]
    functions: Vec<String>,
}

/// Validates a mapping schema (a Graph `synchronizationSchema`, or a template or job export
/// holding one), as `tenantsync schema validate --json` does.
///
/// `schema_json` is the schema's JSON text; `input_json` is NULL or `{"functions": [NAME,
/// ...]}` (plugin functions expressions may call besides the built-ins). Writes
/// `{"valid": BOOL, "issues": [{"path", "severity": "error"|"warning", "message"}]}` to
/// `out_json`; a schema with errors is still a successful call (`"valid": false`). Fails with
/// `SCHEMA` when the text is not a schema at all.
///
/// # Safety
/// `schema_json` and `input_json` are NULL or NUL-terminated strings; `out_json` is NULL or
/// writable.
#[ffi_export]
pub unsafe fn tenantsync_schema_validate(
    schema_json: *const c_char,
    input_json: *const c_char,
    out_json: *mut *mut c_char,
) -> Status {
    guard("tenantsync_schema_validate", || {
        check_out(out_json, "out_json")?;
        // SAFETY: the caller promises NUL-terminated strings or NULL.
        let text = unsafe { input_str(schema_json, "schema_json") }?;
        let input: SchemaInput =
            unsafe { json_arg(input_json, "input_json", r#"{"functions": ["Name"]}"#) }?;
        let parsed = load_schema(text).map_err(|e| Failure::new(Status::Schema, e.to_string()))?;
        let extra: Vec<&str> = input.functions.iter().map(String::as_str).collect();
        let issues = validate_schema_with(&parsed, &extra);
        let body = json!({
            "valid": !has_schema_errors(&issues),
            "issues": issues.iter().map(|i| json!({
                "path": i.path,
                "severity": if i.is_error() { "error" } else { "warning" },
                "message": i.message,
            })).collect::<Vec<_>>(),
        });
        let text = to_json(&body)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out_json, output_string(text)) };
        Ok(())
    })
}

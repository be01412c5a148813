//! `tenantsync expr eval EXPRESSION [--attributes JSON] [--now TIME] [--json]`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use tenantsync_core::{
    AttributeMap, Clock, FunctionRegistry, StaticContext, SystemClock, Value, evaluate_expression,
    parse_expression,
};

use crate::exit::{Code, Failure};

#[derive(Debug, Subcommand)]
pub enum ExprCommand {
    /// Evaluate an expression against attributes; prints {"value": V} or {"flow": false} with
    /// --json. A parse or evaluation error exits non-zero with the message on stderr.
    Eval {
        #[arg(help = r#"The expression, for example 'Join(" ", [givenName], [surname])'"#)]
        expression: String,
        /// The source attributes as a JSON object: name -> string, number, boolean, null or array.
        #[arg(long, value_name = "JSON")]
        attributes: Option<String>,
        /// The moment `Now()` and every date function that reads the clock see, RFC 3339
        /// (for example 2021-08-25T17:41:18Z). Default: the current time.
        #[arg(long, value_name = "TIME", value_parser = parse_now)]
        now: Option<DateTime<Utc>>,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// A WebAssembly plugin whose functions the expression may call (repeatable).
        #[arg(long, value_name = "FILE")]
        plugin: Vec<std::path::PathBuf>,
    },
}

/// Reads a `--now` (or `--as-of`) value: an RFC 3339 time, converted to UTC.
pub(crate) fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("{e}; give an RFC 3339 time with its offset, for example 2021-08-25T17:41:18Z")
        })
}

pub fn run(command: ExprCommand) -> Result<Code, Failure> {
    let ExprCommand::Eval {
        expression,
        attributes,
        now,
        json,
        plugin,
    } = command;
    let parsed = parse_expression(&expression)
        .map_err(|e| Failure::config(anyhow!("cannot parse the expression {e}")))?;
    let mut attrs = BTreeMap::new();
    if let Some(text) = attributes {
        let value: serde_json::Value = serde_json::from_str(&text)
            .context("--attributes is not valid JSON")
            .map_err(Failure::config)?;
        let serde_json::Value::Object(map) = value else {
            return Err(Failure::config(anyhow!(
                "--attributes must be a JSON object of attribute name -> value, for example '{{\"givenName\":\"Ada\"}}'"
            )));
        };
        for (k, v) in map {
            attrs.insert(k, Value::from_json(&v));
        }
    }
    // One reading of the clock for the whole evaluation, pinned by --now, plus plugins.
    let now = now.unwrap_or_else(|| SystemClock.now());
    let mut ctx = StaticContext::new(AttributeMap(attrs), now);
    ctx.functions = super::plugin::load_registry(&plugin)?
        .map(|r| std::sync::Arc::new(r) as std::sync::Arc<dyn FunctionRegistry>);
    let result = evaluate_expression(&parsed, &ctx)
        .map_err(|e| Failure::config(anyhow!("evaluation failed: {e}")))?;
    let mut out = std::io::stdout().lock();
    match (json, result.value) {
        (true, Some(v)) => writeln!(out, "{}", serde_json::json!({ "value": v.to_json() }))?,
        (true, None) => writeln!(out, "{}", serde_json::json!({ "flow": false }))?,
        (false, Some(v)) => writeln!(out, "{v}")?,
        (false, None) => writeln!(out, "(does not flow)")?,
    }
    Ok(Code::Ok)
}

//! `tenantsync expr eval EXPRESSION [--attributes JSON] [--json]`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use tenantsync_core::Value;
use tenantsync_core::expr;

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
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// A WebAssembly plugin whose functions the expression may call (repeatable).
        #[arg(long, value_name = "FILE")]
        plugin: Vec<std::path::PathBuf>,
    },
}

pub fn run(command: ExprCommand) -> Result<Code, Failure> {
    let ExprCommand::Eval {
        expression,
        attributes,
        json,
        plugin,
    } = command;
    let parsed = expr::parse(&expression)
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
    // The same as evaluating against the attributes alone (now, seed 0), plus plugins.
    let mut ctx = expr::StaticContext::new(expr::AttributeMap(attrs), chrono::Utc::now());
    ctx.functions = super::plugin::load_registry(&plugin)?
        .map(|r| std::sync::Arc::new(r) as std::sync::Arc<dyn expr::FunctionRegistry>);
    let result = expr::evaluate(&parsed, &ctx)
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

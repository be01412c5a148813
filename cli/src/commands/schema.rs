//! `tenantsync schema validate FILE` and `tenantsync schema default`.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use tenantsync_core::{
    Severity, ValidationIssue, default_schema, load_schema_as_published, schema_to_json_pretty,
    validate_schema_with,
};

use crate::exit::{Code, Failure};

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Check a schema file: exit 0 when valid, 7 with every problem listed otherwise.
    Validate {
        /// The schema JSON: a bare synchronizationSchema, or a template or job export holding one.
        file: PathBuf,
        /// Plugin functions the schema may call, besides the built-ins (repeatable).
        #[arg(long = "function", value_name = "NAME")]
        functions: Vec<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the built-in cross-tenant schema (users and security groups).
    Default,
}

pub fn run(command: SchemaCommand) -> Result<Code, Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        SchemaCommand::Default => {
            writeln!(out, "{}", schema_to_json_pretty(&default_schema()))?;
            Ok(Code::Ok)
        }
        SchemaCommand::Validate {
            file,
            functions,
            json,
        } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::config(anyhow::anyhow!("cannot read {}: {e}", file.display()))
            })?;
            // As published: documentation pages shorten their examples; each repair is an
            // error (Graph refuses the text as it is), and the rest is validated.
            let (parsed, repairs) = load_schema_as_published(&text).map_err(Failure::config)?;
            let extra: Vec<&str> = functions.iter().map(String::as_str).collect();
            let mut issues: Vec<ValidationIssue> = repairs
                .iter()
                .map(|r| ValidationIssue {
                    path: if r.line == 0 {
                        "$".to_string()
                    } else {
                        format!("line {}, column {}", r.line, r.column)
                    },
                    severity: Severity::Error,
                    message: format!(
                        "not JSON as Graph reads it: {}; fix the text before sending it to Graph",
                        r.what
                    ),
                })
                .collect();
            issues.extend(validate_schema_with(&parsed, &extra));
            let errors = issues
                .iter()
                .filter(|i| i.severity == Severity::Error)
                .count();
            if json {
                let body = serde_json::json!({
                    "file": file.display().to_string(),
                    "valid": errors == 0,
                    "issues": issues.iter().map(|i| serde_json::json!({
                        "path": i.path,
                        "severity": if i.severity == Severity::Error { "error" } else { "warning" },
                        "message": i.message,
                    })).collect::<Vec<_>>(),
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&body)?)?;
            } else {
                for issue in &issues {
                    writeln!(out, "{issue}")?;
                }
                if errors == 0 {
                    writeln!(out, "{}: valid ({} warnings)", file.display(), issues.len())?;
                } else {
                    writeln!(out, "{}: {errors} errors", file.display())?;
                }
            }
            Ok(if errors == 0 { Code::Ok } else { Code::Invalid })
        }
    }
}

//! `tenantsync logs --config job.toml [--object ID] [--since TIME|DURATION] [--limit N] [--json]`:
//! the provisioning log, newest first.

use std::io::Write;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::Value as Json;
use tenantsync_core::{LogEntry, LogFilter, parse_duration};

use super::job::{self, JobArgs};
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Only entries about this object (its source or target id).
    #[arg(long, value_name = "ID")]
    object: Option<String>,
    /// Only entries at or after this time: RFC 3339 (`2026-11-22T10:00:00Z`) or an age (`1h`, `30m`, `2d`).
    #[arg(long, value_name = "TIME|DURATION")]
    since: Option<String>,
    /// At most this many entries.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// `--since`: a time, or an age counted back from `now`.
fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = parse_duration(text).map_err(|_| {
        format!(
            "`{text}` is neither an RFC 3339 time (2026-11-22T10:00:00Z) nor an age (1h, 30m, 2d)"
        )
    })?;
    let age = chrono::Duration::from_std(age).map_err(|e| e.to_string())?;
    Ok(now - age)
}

pub fn run(args: LogsArgs) -> Result<Code, Failure> {
    let since = match &args.since {
        Some(text) => Some(parse_since(text, Utc::now()).map_err(|e| Failure {
            code: Code::Usage,
            error: anyhow!("--since: {e}"),
        })?),
        None => None,
    };
    let mut engine = job::open(&args.job)?;
    let entries = engine
        .logs(&LogFilter {
            object: args.object.clone(),
            since,
            limit: Some(args.limit),
        })
        .map_err(job::sync_failure)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    } else if entries.is_empty() {
        writeln!(out, "No log entries match.")?;
    } else {
        render(&mut out, &entries)?;
    }
    Ok(Code::Ok)
}

/// The attribute changes of an entry on one line (values as stored: redacted stay redacted).
fn changes_text(changes: &Json) -> String {
    let Some(list) = changes.as_array() else {
        return String::new();
    };
    list.iter()
        .filter_map(|c| {
            let attribute = c.get("attribute")?.as_str()?;
            let show = |v: Option<&Json>| match v {
                None | Some(Json::Null) => "∅".to_string(),
                Some(Json::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Some(format!(
                "{attribute}: {} -> {}",
                show(c.get("old")),
                show(c.get("new"))
            ))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn render(out: &mut impl Write, entries: &[LogEntry]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>4}  {:<12} {:<8} {:<10} {:<30} DETAIL",
        "TIME", "RUN", "ACTION", "STATUS", "KIND", "OBJECT"
    )?;
    for e in entries {
        let mut detail = Vec::new();
        if let Some(s) = &e.source_id {
            detail.push(format!("source {s}"));
        }
        if let Some(t) = &e.target_id {
            detail.push(format!("target {t}"));
        }
        let changes = changes_text(&e.changes);
        if !changes.is_empty() {
            detail.push(changes);
        }
        if let Some(m) = &e.error_message {
            detail.push(format!(
                "[{}] {m}",
                e.error_code.as_deref().unwrap_or("no code")
            ));
        }
        if let Some(r) = &e.request_id {
            detail.push(format!("request-id {r}"));
        }
        writeln!(
            out,
            "{:<20} {:>4}  {:<12} {:<8} {:<10} {:<30} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            e.run_id,
            e.action,
            e.status,
            e.kind,
            e.display,
            detail.join("; ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_an_age() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("1h", now).unwrap(),
            now - chrono::Duration::hours(1)
        );
        assert_eq!(
            parse_since("2026-11-22T10:00:00Z", now).unwrap(),
            now - chrono::Duration::hours(2)
        );
        assert!(
            parse_since("yesterday", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }

    #[test]
    fn changes_keep_redaction() {
        let c = serde_json::json!([{"attribute": "employeeId", "old": null, "new": "[Redact]"}]);
        assert_eq!(changes_text(&c), "employeeId: ∅ -> [Redact]");
    }
}

//! The cycle's side of plugins: loading a job's `[[plugins]]`, planning with them, and
//! escrowing the objects whose plugin calls failed.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::events::{Event, EventSink};
use super::{SyncError, doubling};
use crate::config::JobConfig;
use crate::plan::{self, ObjectKind, Plan, PlanError, PlanInput, Reason};
use crate::plugin::{PluginHost, PluginRegistry};
use crate::state::{Failure, LogEntry, StateError, StateStore};

/// Loads the job's plugins; `None` when it has none.
pub(super) fn load(
    config: &JobConfig,
    config_path: &Path,
) -> Result<Option<Arc<PluginRegistry>>, SyncError> {
    if config.plugins.is_empty() {
        return Ok(None);
    }
    let host = PluginHost::new(Some(config.plugin_cache_dir(config_path)))?;
    Ok(Some(Arc::new(config.load_plugins(&host)?)))
}

/// Plans. With plugins, on a thread of its own: WASI's synchronous streams cannot run on a
/// thread that drives the async runtime, and a helper thread per plugin call would cost more
/// than the call.
pub(super) fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    if input.functions.is_none() {
        return plan::plan(input);
    }
    std::thread::scope(|s| s.spawn(|| plan::plan(input)).join())
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// True for the report reasons of failed plugin calls.
pub(super) fn is_plugin_failure(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::PluginTimeout
            | Reason::PluginOutOfFuel
            | Reason::PluginOutOfMemory
            | Reason::PluginTrap
            | Reason::PluginBadOutput
            | Reason::PluginNotFound
            | Reason::PluginInvalidArgument
            | Reason::PluginFailed
    )
}

/// The escrow keys of the objects whose plugin calls failed.
pub(super) fn failed_keys(plan: &Plan) -> std::collections::HashSet<String> {
    plan.report
        .iter()
        .filter(|r| is_plugin_failure(r.reason))
        .filter_map(|r| Some(format!("{}:{}", kind_name(r.kind), r.source_id.as_deref()?)))
        .collect()
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "user",
        ObjectKind::Group => "group",
        ObjectKind::Membership => "membership",
    }
}

/// Escrows every object whose plugin call failed, with its typed error in the provisioning
/// log, and reports what plugins wrote to stdout and stderr. Safe to repeat: a second escrow of
/// the same object only counts one more attempt.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    state: &StateStore,
    registry: Option<&PluginRegistry>,
    plan: &Plan,
    run_id: i64,
    now: DateTime<Utc>,
    escrow_retry: chrono::Duration,
    events: &dyn EventSink,
) -> Result<usize, StateError> {
    if let Some(registry) = registry {
        for log in registry.take_log() {
            events.emit(Event::Warning {
                message: format!(
                    "plugin {} ({}) wrote: {}",
                    log.plugin,
                    log.function,
                    log.text.trim_end()
                ),
            });
        }
    }
    let mut escrowed = 0;
    for r in plan.report.iter().filter(|r| is_plugin_failure(r.reason)) {
        let Some(source_id) = r.source_id.as_deref() else {
            continue;
        };
        let kind = kind_name(r.kind);
        let code = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let key = format!("{kind}:{source_id}");
        state.escrow(
            &Failure {
                object_key: &key,
                kind,
                display: &r.display,
                action: "evaluate",
                error_code: Some(&code),
                error_message: &r.detail,
            },
            now,
            |n| doubling(escrow_retry, n, chrono::Duration::days(1)),
        )?;
        state.log(&LogEntry {
            run_id,
            at: now,
            kind: kind.to_string(),
            source_id: Some(source_id.to_string()),
            target_id: r.target_id.clone(),
            display: r.display.clone(),
            action: "evaluate".into(),
            status: "escrowed".into(),
            changes: serde_json::Value::Null,
            error_code: Some(code),
            error_message: Some(r.detail.clone()),
            request_id: None,
        })?;
        escrowed += 1;
    }
    Ok(escrowed)
}

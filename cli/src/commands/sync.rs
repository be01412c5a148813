//! `tenantsync sync` (one cycle, or `--watch` for continuous cycles) and
//! `tenantsync provision --object ID` (one object, now, every step shown).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tenantsync_core::{
    CancelToken, Engine, Event, EventSink, OperationStatus, RunOutcome, RunReport, Stage,
    SyncRequest, parse_duration,
};

use super::job::{self, JobArgs};
use super::plan::render as render_plan;
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Plan only: print what would change, write nothing to the target.
    #[arg(long)]
    dry_run: bool,
    /// Read the source in full instead of by delta.
    #[arg(long)]
    full: bool,
    /// Print the run report as one JSON document at the end (no progress on stdout).
    #[arg(long)]
    json: bool,
    /// Let a plan over the deletion threshold through.
    #[arg(long)]
    allow_deletes: bool,
    /// Run cycles continuously (delta reads) until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// The pause between cycles with --watch (`30s`, `5m`). Default: the job's [sync] interval.
    #[arg(long, value_name = "DURATION", requires = "watch")]
    interval: Option<String>,
    /// With --dry-run: save the plan to FILE, with the versions of the objects it touches, for
    /// review and a later `tenantsync apply FILE`.
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    save_plan: Option<PathBuf>,
    /// Stop at a safe point before this much time has passed (`2h30m`): what was written is
    /// recorded, the run ends incomplete (exit code 10), and the next run continues. Default:
    /// the job's [sync] max_duration (none: no limit).
    #[arg(long, value_name = "DURATION")]
    max_duration: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The saved plan (`tenantsync sync --dry-run --save-plan FILE`).
    #[arg(value_name = "FILE")]
    plan: PathBuf,
    #[command(flatten)]
    job: JobArgs,
    /// Print the run report as one JSON document at the end (no progress on stdout).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(flatten)]
    job: JobArgs,
    /// The source object id: a user, or a group (provisioned with its members).
    #[arg(long, value_name = "ID")]
    object: String,
    /// Print the run report as one JSON document at the end.
    #[arg(long)]
    json: bool,
}

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Progress bars on a terminal.
    Bars,
    /// One line per stage and per failed operation.
    Lines,
    /// One line per stage and per operation (on-demand provisioning).
    Steps,
    /// Nothing (the JSON report is the output).
    Quiet,
}

/// Per operation kind: succeeded, failed, skipped.
type Counts = BTreeMap<String, [usize; 3]>;

/// Renders cycle events and counts operations by kind and result.
struct Renderer {
    style: Style,
    bars: Option<MultiProgress>,
    state: Mutex<RenderState>,
}

#[derive(Default)]
struct RenderState {
    stage: Option<ProgressBar>,
    stage_kind: Option<Stage>,
    /// What the current stage does, for its line once done.
    stage_title: String,
    counts: Counts,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

/// A stage's name in progress lines (`[observe] ...`) of `sync`, `demo` and `bench`.
pub(crate) fn stage_name(stage: Stage) -> &'static str {
    stage.name()
}

impl Renderer {
    fn new(style: Style) -> Renderer {
        let bars = (style == Style::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Renderer {
            style,
            bars,
            state: Mutex::new(RenderState::default()),
        }
    }

    fn line(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => println!("{text}"),
        }
    }

    /// Ends the bars (before the summary is printed).
    fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = state.stage.take() {
            bar.finish_and_clear();
            if let Some(bars) = &self.bars {
                let _ = bars.println(format!("✓ {}", state.stage_title));
            }
        }
    }

    fn counts(&self) -> Counts {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counts
            .clone()
    }

    fn on_stage(&self, state: &mut RenderState, stage: Stage, message: &str) {
        let Some(bars) = &self.bars else {
            self.line(&format!("[{}] {message}", stage_name(stage)));
            return;
        };
        if state.stage_kind == Some(stage)
            && let Some(bar) = &state.stage
        {
            bar.set_message(message.to_string());
            return;
        }
        if let Some(bar) = state.stage.take() {
            bar.finish_and_clear();
            let _ = bars.println(format!("✓ {}", state.stage_title));
        }
        let bar = if stage == Stage::Apply {
            let bar = bars.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} operations  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            let bar = bars.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(message.to_string());
        state.stage = Some(bar);
        state.stage_kind = Some(stage);
        state.stage_title = message.to_string();
    }
}

impl EventSink for Renderer {
    fn emit(&self, event: Event) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Event::Operation { op, status, .. } = &event {
            let slot = match status {
                OperationStatus::Success => 0,
                OperationStatus::Failure => 1,
                _ => 2,
            };
            state.counts.entry(op.to_string()).or_default()[slot] += 1;
        }
        if self.style == Style::Quiet {
            return;
        }
        match event {
            Event::Stage { stage, message } => self.on_stage(&mut state, stage, &message),
            Event::Progress {
                stage: Stage::Apply,
                done,
                total,
                object,
            } => {
                if let Some(bar) = state.stage.as_ref().filter(|_| self.bars.is_some()) {
                    bar.set_length(total);
                    bar.set_position(done);
                    if let Some(o) = object {
                        bar.set_message(o);
                    }
                }
            }
            Event::Progress { .. } => {}
            Event::Operation {
                op,
                display,
                status,
                detail,
            } => {
                let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
                match status.as_str() {
                    "failure" => self.line(&format!("  failed: {op} {display}{detail}")),
                    _ if self.style == Style::Steps => {
                        self.line(&format!("  {status}: {op} {display}{detail}"))
                    }
                    _ => {}
                }
            }
            Event::Warning { message } => self.line(&format!("warning: {message}")),
            _ => {}
        }
    }
}

fn style_for(json: bool, steps: bool) -> Style {
    if json {
        Style::Quiet
    } else if steps {
        Style::Steps
    } else if std::io::stdout().is_terminal() {
        Style::Bars
    } else {
        Style::Lines
    }
}

/// The exit code of a cycle's outcome.
pub fn outcome_code(outcome: RunOutcome) -> Code {
    Code::from_number(outcome.exit_code())
}

/// One line about a cycle, for `--watch` and the head of the summary.
fn headline(report: &RunReport) -> String {
    let seconds = (report.finished_at - report.started_at).num_milliseconds() as f64 / 1000.0;
    format!(
        "{} run {}: {}; {} source {} read; {} succeeded, {} failed, {} skipped ({seconds:.1} s)",
        report.finished_at.format("%Y-%m-%d %H:%M:%S"),
        report.run_id,
        report.outcome.as_str(),
        report.source_changes,
        if report.full_read {
            "objects (full)"
        } else {
            "changes (delta)"
        },
        report.applied.succeeded,
        report.applied.failed.len(),
        report.applied.skipped,
    )
}

/// The human summary at the end of a cycle (`plan_shown`: the plan was printed already).
fn render_summary(
    out: &mut impl Write,
    report: &RunReport,
    counts: &Counts,
    plan_shown: bool,
) -> std::io::Result<()> {
    if report.outcome == RunOutcome::DryRun {
        render_plan(out, &report.plan)?;
        writeln!(out, "\nDry run: nothing was written to the target.")?;
        return Ok(());
    }
    writeln!(out, "{}", headline(report))?;
    if !counts.is_empty() {
        writeln!(out, "\nOperations:")?;
        for (op, [ok, failed, skipped]) in counts {
            let mut parts = vec![format!("{ok} succeeded")];
            if *failed > 0 {
                parts.push(format!("{failed} failed"));
            }
            if *skipped > 0 {
                parts.push(format!("{skipped} skipped"));
            }
            writeln!(out, "  {op:<14} {}", parts.join(", "))?;
        }
    } else if !plan_shown
        && report.outcome == RunOutcome::Converged
        && report.plan.operations.is_empty()
    {
        writeln!(out, "\nNothing to do: the target is in sync.")?;
    }
    if !report.applied.failed.is_empty() {
        writeln!(out, "\nFailures ({}):", report.applied.failed.len())?;
        for f in &report.applied.failed {
            writeln!(
                out,
                "  {} {}: [{}] {}",
                f.op,
                f.display,
                f.error_code.as_deref().unwrap_or("no code"),
                f.message
            )?;
            if let Some(rid) = &f.request_id {
                writeln!(out, "    request-id {rid}")?;
            }
            writeln!(
                out,
                "    what to do: {}",
                job::advice(f.error_code.as_deref(), &f.message)
            )?;
        }
    }
    if !report.plan.report.is_empty() {
        let mut by_reason: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &report.plan.report {
            let code = serde_json::to_value(r.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            by_reason
                .entry(code)
                .or_default()
                .push(format!("{:?} {}: {}", r.kind, r.display, r.detail));
        }
        writeln!(
            out,
            "\nSkipped ({} objects), by reason:",
            report.plan.report.len()
        )?;
        for (reason, entries) in by_reason {
            writeln!(out, "  {reason} ({}):", entries.len())?;
            for e in entries.iter().take(10) {
                writeln!(out, "    {e}")?;
            }
            if entries.len() > 10 {
                writeln!(
                    out,
                    "    ... and {} more (use --json for all)",
                    entries.len() - 10
                )?;
            }
        }
    }
    match report.outcome {
        RunOutcome::Refused => {
            if let Some(refusal) = &report.plan.refused {
                writeln!(out, "\nREFUSED: {}", refusal.message)?;
                for op in refusal.would_deprovision.iter().take(20) {
                    writeln!(out, "  - {}", op.describe())?;
                }
                if refusal.would_deprovision.len() > 20 {
                    writeln!(
                        out,
                        "  ... and {} more",
                        refusal.would_deprovision.len() - 20
                    )?;
                }
            }
            writeln!(
                out,
                "Nothing was applied. If these deletions are intended, run again with --allow-deletes."
            )?;
        }
        RunOutcome::Quarantined => {
            if let Some(q) = &report.quarantine {
                writeln!(
                    out,
                    "\nQUARANTINED since {} ({}): {}\nNext attempt at {} (reduced rate). Fix the cause, then `tenantsync reset --scope quarantine`.",
                    q.began_at, q.reason, q.error, q.next_attempt_at
                )?;
            }
        }
        RunOutcome::Escrowed => writeln!(
            out,
            "\nFailed objects are escrowed and retried at the next cycles ([sync] escrow_retry, doubled per failure)."
        )?,
        RunOutcome::Cancelled => writeln!(
            out,
            "\nCancelled: what was applied is recorded; the next cycle goes on from there."
        )?,
        RunOutcome::Incomplete => writeln!(
            out,
            "\nIncomplete: the run stopped at its max duration with {} operations left; what was applied is recorded. Run the job again to continue (exit code 10).",
            report.applied.remaining
        )?,
        RunOutcome::Converged | RunOutcome::DryRun => {}
    }
    writeln!(
        out,
        "\nRequests: source {} ({} throttled), target {} ({} throttled).",
        report.source_requests.sent,
        report.source_requests.throttled,
        report.target_requests.sent,
        report.target_requests.throttled
    )?;
    Ok(())
}

fn print_json(report: &RunReport) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(report)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

pub fn run(args: SyncArgs) -> Result<Code, Failure> {
    let mut engine = job::open(&args.job)?;
    if let Some(text) = &args.max_duration {
        let limit = parse_duration(text).map_err(|e| Failure {
            code: Code::Usage,
            error: anyhow!("--max-duration: {e}"),
        })?;
        engine
            .set_max_duration(Some(limit))
            .map_err(job::sync_failure)?;
    }
    let runtime = job::runtime()?;
    if args.watch {
        if args.dry_run || args.json {
            return Err(Failure {
                code: Code::Usage,
                error: anyhow!("--watch cannot be combined with --dry-run or --json"),
            });
        }
        let interval = match &args.interval {
            Some(text) => parse_duration(text).map_err(|e| Failure {
                code: Code::Usage,
                error: anyhow!("--interval: {e}"),
            })?,
            None => engine.interval(),
        };
        return runtime.block_on(watch(&mut engine, &args, interval));
    }
    let request = SyncRequest {
        full: args.full,
        dry_run: args.dry_run,
        allow_deletes: args.allow_deletes,
        only: None,
    };
    let renderer = Renderer::new(style_for(args.json, false));
    let cancel = CancelToken::new();
    let result = runtime.block_on(async {
        job::cancel_on_ctrl_c(cancel.clone());
        engine.run(&request, &renderer, &cancel).await
    });
    renderer.finish();
    let report = result.map_err(job::sync_failure)?;
    if let (Some(path), Some(saved)) = (&args.save_plan, &report.saved_plan) {
        write_plan(path, &saved.to_json_pretty())?;
    }
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = std::io::stdout().lock();
        render_summary(&mut out, &report, &renderer.counts(), false)?;
        if let Some(path) = &args.save_plan {
            writeln!(
                out,
                "\nPlan saved to {}: review it, then apply exactly it with `tenantsync apply {} --config {}`.",
                path.display(),
                path.display(),
                args.job.config.display()
            )?;
        }
    }
    Ok(outcome_code(report.outcome))
}

/// Writes a saved plan whole or not at all (a temporary file renamed over the target).
fn write_plan(path: &Path, text: &str) -> Result<(), Failure> {
    let cannot = |e: std::io::Error| {
        Failure::config(anyhow!(
            "cannot write the plan to {}: {e}; choose a writable path for --save-plan",
            path.display()
        ))
    };
    let tmp = path.with_extension("tmp-plan");
    std::fs::write(&tmp, text).map_err(cannot)?;
    std::fs::rename(&tmp, path).map_err(cannot)
}

/// `tenantsync apply FILE`: applies a saved plan exactly, or refuses it when objects it touches
/// changed since it was made (exit code 8, the objects named).
pub fn apply(args: ApplyArgs) -> Result<Code, Failure> {
    let text = std::fs::read_to_string(&args.plan).map_err(|e| {
        Failure::config(anyhow!(
            "cannot read the plan {}: {e}; make one with `tenantsync sync --dry-run --save-plan FILE`",
            args.plan.display()
        ))
    })?;
    let saved = tenantsync_core::SavedPlan::from_json(&text).map_err(job::sync_failure)?;
    let mut engine = job::open(&args.job)?;
    let runtime = job::runtime()?;
    if !args.json {
        println!(
            "Applying the plan made at {} ({} operations); the objects it touches are checked first.",
            saved
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            saved.plan.operations.len()
        );
    }
    let renderer = Renderer::new(style_for(args.json, false));
    let cancel = CancelToken::new();
    let result = runtime.block_on(async {
        job::cancel_on_ctrl_c(cancel.clone());
        engine.apply_saved(&saved, &renderer, &cancel).await
    });
    renderer.finish();
    let report = result.map_err(job::sync_failure)?;
    if args.json {
        print_json(&report)?;
    } else {
        let mut out = std::io::stdout().lock();
        render_summary(&mut out, &report, &renderer.counts(), false)?;
    }
    Ok(outcome_code(report.outcome))
}

async fn watch(engine: &mut Engine, args: &SyncArgs, interval: Duration) -> Result<Code, Failure> {
    let cancel = CancelToken::new();
    job::cancel_on_ctrl_c(cancel.clone());
    println!(
        "watching: a cycle every {} s; Ctrl-C stops between cycles",
        interval.as_secs_f64()
    );
    let mut first = true;
    loop {
        let request = SyncRequest {
            full: args.full && first,
            dry_run: false,
            allow_deletes: args.allow_deletes,
            only: None,
        };
        first = false;
        let renderer = Renderer::new(if std::io::stdout().is_terminal() {
            Style::Bars
        } else {
            Style::Quiet
        });
        let result = engine.run(&request, &renderer, &cancel).await;
        renderer.finish();
        match result {
            Ok(report) => {
                println!("{}", headline(&report));
                for f in &report.applied.failed {
                    println!(
                        "  failed: {} {}: [{}] {}",
                        f.op,
                        f.display,
                        f.error_code.as_deref().unwrap_or("no code"),
                        f.message
                    );
                }
                if let Some(refusal) = &report.plan.refused {
                    println!("  refused: {}", refusal.message);
                }
                if let Some(q) = report
                    .quarantine
                    .as_ref()
                    .filter(|_| report.outcome == RunOutcome::Quarantined)
                {
                    println!(
                        "  quarantined ({}): next attempt at {}",
                        q.reason, q.next_attempt_at
                    );
                }
            }
            Err(e) if e.is_configuration() => {
                return Err(job::sync_failure(e));
            }
            Err(e) => {
                eprintln!(
                    "{} cycle failed: {}; trying again in {} s",
                    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S"),
                    crate::exit::message(&anyhow::Error::from(e)),
                    interval.as_secs_f64()
                );
            }
        }
        if cancel.is_cancelled() {
            println!("stopped.");
            return Ok(Code::Ok);
        }
        let deadline = tokio::time::Instant::now() + interval;
        while tokio::time::Instant::now() < deadline {
            if cancel.is_cancelled() {
                println!("stopped.");
                return Ok(Code::Ok);
            }
            tokio::time::sleep(Duration::from_millis(100).min(interval)).await;
        }
    }
}

pub fn provision(args: ProvisionArgs) -> Result<Code, Failure> {
    let mut engine = job::open(&args.job)?;
    let runtime = job::runtime()?;
    let renderer = Renderer::new(style_for(args.json, true));
    let cancel = CancelToken::new();
    let object = args.object.clone();
    let request = SyncRequest {
        full: false,
        dry_run: false,
        allow_deletes: false,
        only: Some(object.clone()),
    };
    let result = runtime.block_on(async {
        job::cancel_on_ctrl_c(cancel.clone());
        let found = describe_source_object(&engine, &object).await;
        if !args.json {
            println!("[scope] {found}");
            println!("{}", scope_line(&engine, &object));
        }
        engine.run(&request, &renderer, &cancel).await
    });
    renderer.finish();
    let report = result.map_err(job::sync_failure)?;
    if args.json {
        print_json(&report)?;
        return Ok(outcome_code(report.outcome));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{}", match_line(&report.plan, &object))?;
    writeln!(out, "[plan] the operations for {object}:")?;
    render_plan(&mut out, &report.plan)?;
    if report.plan.operations.is_empty() && report.plan.report.is_empty() {
        writeln!(
            out,
            "Nothing to do for {object}: its target counterpart already matches, or it is not in scope (see the scope lines above)."
        )?;
    }
    writeln!(out)?;
    render_summary(&mut out, &report, &renderer.counts(), true)?;
    Ok(outcome_code(report.outcome))
}

/// What the source says about the object: its type and name, or that it does not exist. Read
/// as a user, then as a group (the source's permissions allow these; `/directoryObjects/{id}`
/// would need Directory.Read.All).
async fn describe_source_object(engine: &Engine, id: &str) -> String {
    let segment = tenantsync_core::encode_path_segment(id);
    let mut last = None;
    for kind in ["user", "group"] {
        let url = format!("/{kind}s/{segment}?$select=id,displayName");
        match engine.source_client().get_json(&url).await {
            Ok(v) => {
                let name = v
                    .get("displayName")
                    .and_then(|t| t.as_str())
                    .unwrap_or("(no display name)");
                return format!("source object {id}: {kind} {name}");
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => last = Some(e),
        }
    }
    match last {
        None => format!("source object {id} does not exist in the source tenant"),
        Some(e) => format!("source object {id} could not be read: {e}"),
    }
}

/// How the object was matched in the target, from the operations planned for it.
fn match_line(plan: &tenantsync_core::Plan, object: &str) -> String {
    use tenantsync_core::Operation;
    for op in &plan.operations {
        if op.source_id() != Some(object) {
            continue;
        }
        let line = match (op, op.target_id()) {
            (Operation::CreateUser { .. } | Operation::CreateGroup { .. }, _) => {
                "no target counterpart (by anchor or matching attribute): it is created".to_string()
            }
            (Operation::RestoreUser { .. } | Operation::RestoreGroup { .. }, Some(target_id)) => {
                format!("matched the deleted target object {target_id}: it is restored")
            }
            (Operation::UpdateUser { .. } | Operation::UpdateGroup { .. }, Some(target_id)) => {
                format!("matched target object {target_id}: it is updated")
            }
            (_, Some(target_id)) => format!(
                "matched target object {target_id}, which is deprovisioned (out of scope or deleted in the source)"
            ),
            (_, None) => continue,
        };
        return format!("[match] {object}: {line}");
    }
    if let Some(r) = plan
        .report
        .iter()
        .find(|r| r.source_id.as_deref() == Some(object))
    {
        let code = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        return format!("[match] {object}: skipped ({code}): {}", r.detail);
    }
    format!(
        "[match] {object}: no change for the object itself (matched and in sync, or not in scope)"
    )
}

/// Whether the job assigns the object directly.
fn scope_line(engine: &Engine, id: &str) -> String {
    let scope = &engine.config().scope;
    let direct = scope.users.iter().chain(&scope.groups).any(|a| a == id);
    if direct {
        format!("[scope] {id} is assigned to the job directly")
    } else {
        format!(
            "[scope] {id} is not assigned directly ({:?} mode): it is in scope only as a member of an assigned group or through the scoping filters",
            scope.mode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantsync_core::OperationKind;

    #[test]
    fn outcomes_map_to_documented_codes() {
        assert_eq!(outcome_code(RunOutcome::Converged), Code::Ok);
        assert_eq!(outcome_code(RunOutcome::DryRun), Code::Ok);
        assert_eq!(outcome_code(RunOutcome::Escrowed), Code::Escrowed);
        assert_eq!(outcome_code(RunOutcome::Refused), Code::Refused);
        assert_eq!(outcome_code(RunOutcome::Quarantined), Code::Quarantined);
        assert_eq!(outcome_code(RunOutcome::Cancelled), Code::Failure);
        assert_eq!(outcome_code(RunOutcome::Incomplete), Code::Incomplete);
    }

    #[test]
    fn renderer_counts_operations_by_kind_and_result() {
        let r = Renderer::new(Style::Quiet);
        for status in [
            OperationStatus::Success,
            OperationStatus::Success,
            OperationStatus::Failure,
            OperationStatus::Skipped,
        ] {
            r.emit(Event::Operation {
                op: OperationKind::CreateUser,
                display: "Ada".into(),
                status,
                detail: None,
            });
        }
        assert_eq!(r.counts()["createUser"], [2, 1, 1]);
    }
}

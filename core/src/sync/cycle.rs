//! The stages of one cycle as calls with data in and out: [`Engine::begin`] locks the job,
//! signs in and opens a run; [`Cycle::observe`] reads both tenants; [`Cycle::plan`] plans;
//! [`Cycle::apply`] writes; [`Cycle::record`] (or [`Cycle::finish`] for a run that applies
//! nothing) closes the run. [`Engine::run`] and [`Engine::apply_saved`] are these stages in
//! order; hosts that want to look between stages (show a plan, save it) call them one by one.
//!
//! The job stays locked while a [`Cycle`] lives: no other cycle, in this process or another,
//! can run the same job meanwhile. With the state in a blob, the lock is the blob's lease, held
//! by the engine until [`Engine::run`] or [`Engine::apply_saved`] settles the run (a last
//! checkpoint, then the lease released).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::plan::{LastKnownState, Plan, PlanInput};
use crate::snapshot::Snapshot;
use crate::state::Quarantine;

use super::saved::{SAVED_PLAN_FORMAT, SavedPlan, object_versions};
use super::{
    ApplyOutcome, CancelToken, Engine, Event, EventSink, RunOutcome, RunReport, Stage, SyncError,
    apply, doubling, observe, plugins,
};

/// Why a run was opened, as the run history names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunMode {
    /// A cycle reading the source by delta.
    Delta,
    /// A cycle reading the source in full.
    Full,
    /// A plan only.
    DryRun,
    /// Provisioning one object on demand.
    OnDemand,
    /// Applying a saved plan.
    Apply,
}

impl RunMode {
    /// The mode's name in the run history.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Delta => "delta",
            RunMode::Full => "full",
            RunMode::DryRun => "dry-run",
            RunMode::OnDemand => "on-demand",
            RunMode::Apply => "apply",
        }
    }
}

/// Both tenants as one cycle read them.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The source's users and groups (the cached source with a delta round applied, or a
    /// full read).
    pub source: Snapshot,
    /// The target's users and groups with members (the cached target with a delta round
    /// applied, or a full read), and its soft-deleted objects when they were read.
    pub target: Snapshot,
    /// The source was read in full.
    pub full_read: bool,
    /// Source objects read (full) or changed (delta).
    pub source_changes: usize,
    /// The target was read in full (first run, `--full`, the periodic reconciliation, an
    /// expired delta token or a lost cache) rather than by delta.
    pub target_full_read: bool,
    /// Target objects read (full) or changed (delta): drift and this job's own writes.
    pub target_changes: usize,
    /// The target's deleted items were read (a full read, or a restore candidate).
    pub deleted_items_read: bool,
    /// Which of the engine's observations this is: equal for two cycles that saw exactly the
    /// same tenants.
    pub(crate) generation: u64,
    /// What the delta rounds reported since the engine's observation `since`, when all four
    /// rounds were applied to the engine's memory of it.
    pub(crate) changes: Option<crate::plan::Changes>,
    pub(crate) since: u64,
}

/// One open run of a job: the job is locked, both tenants signed in, the run recorded as begun.
#[must_use = "a cycle records nothing until `record` or `finish` is called"]
pub struct Cycle<'e> {
    engine: &'e mut Engine,
    /// The state file's lock; with the state in a blob, the engine holds the blob's lease.
    _lock: Option<std::fs::File>,
    run_id: i64,
    started_at: DateTime<Utc>,
    anchor: String,
    quarantine: Option<Quarantine>,
}

impl std::fmt::Debug for Cycle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cycle")
            .field("run_id", &self.run_id)
            .field("started_at", &self.started_at)
            .field("anchor", &self.anchor)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens a run: locks the job (or fails with [`SyncError::Busy`]; with the state in a blob,
    /// takes the blob's lease and downloads the state, or refuses to start with
    /// [`SyncError::StateBlob`] when Storage cannot be used), signs in to both tenants
    /// (a wrong secret fails here, before anything is written), finds the anchor attribute
    /// (registering it when `mode` writes and it is missing) and records the run as begun.
    pub async fn begin(
        &mut self,
        mode: RunMode,
        events: &dyn EventSink,
    ) -> Result<Cycle<'_>, SyncError> {
        let lock = self.lock_job().await?;
        let started_at = self.clock.now();
        events.emit(Event::Stage {
            stage: Stage::SignIn,
            message: "signing in to the source and target tenants".into(),
        });
        self.sign_in().await?;
        let anchor = self.anchor_attribute(mode != RunMode::DryRun).await?;
        let run_id = self.state()?.begin_run(mode.as_str(), started_at)?;
        let quarantine = self.state()?.quarantine()?;
        self.last_plan = None;
        Ok(Cycle {
            engine: self,
            _lock: lock,
            run_id,
            started_at,
            anchor,
            quarantine,
        })
    }
}

impl Cycle<'_> {
    /// The run's id in the history.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// When the run started (the planner's `as_of`).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The attribute that holds anchors in the target.
    pub fn anchor_attribute(&self) -> &str {
        &self.anchor
    }

    /// The job's quarantine when it is quarantined and its next attempt has not come yet.
    pub fn quarantined(&self) -> Option<&Quarantine> {
        self.quarantine
            .as_ref()
            .filter(|q| q.next_attempt_at > self.started_at)
    }

    /// When the job is quarantined (see [`Cycle::quarantined`]), says so with what to do
    /// (`then` ends the advice) and returns true: the caller finishes the run unapplied.
    fn warn_if_quarantined(&self, events: &dyn EventSink, then: &str) -> bool {
        let Some(q) = self.quarantined() else {
            return false;
        };
        events.emit(Event::Warning {
            message: format!(
                "the job is quarantined ({}: {}); next attempt at {}. Fix the cause, then `tenantsync reset --scope quarantine`{then}",
                q.reason, q.error, q.next_attempt_at
            ),
        });
        true
    }

    /// Reads the source (a delta round, or in full when `full` or when no delta link is kept)
    /// and the target. The source cache and delta links are saved as they are read.
    pub async fn observe(
        &mut self,
        full: bool,
        events: &dyn EventSink,
    ) -> Result<Observation, SyncError> {
        events.emit(Event::Stage {
            stage: Stage::Observe,
            message: "reading the source and the target".into(),
        });
        let e = &mut *self.engine;
        let selection = observe::Selection::new(&e.schema, &self.anchor);
        let source_tenant = e.source_cfg.tenant_id.clone();
        let target_tenant = e.target_cfg.tenant_id.clone();
        let now = self.started_at;
        // A periodic full read of both sides guards against anything a delta round missed.
        let reconcile = e.full_reconcile.is_some_and(|period| {
            e.state()
                .ok()
                .and_then(|s| s.last_full_reconcile().ok())
                .flatten()
                .is_none_or(|last| now - last >= period)
        });
        let full = full || reconcile;
        // A new generation unless both sides turn out unchanged (a failed read leaves it new).
        let previous = e.generation;
        e.generation += 1;
        e.state()?;
        let mut prefetched = if full {
            observe::Prefetched::default()
        } else {
            observe::prefetch(
                &e.source,
                &e.target,
                e.state.as_ref().expect("opened above"),
                &selection,
            )
            .await?
        };
        let (source, read, source_ids) = observe::source(
            &e.source,
            e.state.as_mut().expect("opened above"),
            &mut e.memo,
            &mut prefetched,
            &selection,
            &source_tenant,
            full,
            now,
        )
        .await?;
        let mut options = e.config.options.clone();
        options.anchor_attribute = self.anchor.clone();
        let (schema, scope, functions) = (
            &e.schema,
            &e.config.scope,
            e.plugins
                .as_deref()
                .map(|r| r as &dyn crate::expr::FunctionRegistry),
        );
        // Which source objects are in scope, asked only when a deleted object could be restored.
        let in_scope = |source: &Snapshot| {
            crate::plan::in_scope(&PlanInput {
                source,
                target: &Snapshot::default(),
                schema,
                scope,
                options: &options,
                state: &LastKnownState::default(),
                as_of: now,
                functions,
            })
            .ok()
        };
        let (target, target_read, target_ids) = observe::target(
            &e.target,
            e.state.as_mut().expect("opened above"),
            &mut e.memo,
            &mut prefetched,
            &selection,
            &target_tenant,
            full,
            now,
            &source,
            &self.anchor,
            &in_scope,
        )
        .await?;
        if full {
            e.state()?.set_last_full_reconcile(now)?;
        }
        if read.unchanged && target_read.unchanged && previous > 0 {
            e.generation = previous;
        }
        let generation = e.generation;
        let read_objects = (source.users.len() + source.groups.len()) as u64;
        events.emit(Event::Progress {
            stage: Stage::Observe,
            done: read_objects,
            total: read_objects,
            object: None,
        });
        Ok(Observation {
            source,
            target,
            full_read: read.full,
            source_changes: read.changed,
            target_full_read: target_read.full,
            target_changes: target_read.changed,
            deleted_items_read: target_read.deleted_items_read,
            generation,
            changes: source_ids
                .zip(target_ids)
                .map(|([su, sg], [tu, tg])| crate::plan::Changes {
                    source_users: su,
                    source_groups: sg,
                    target_users: tu,
                    target_groups: tg,
                }),
            since: previous,
        })
    }

    /// Plans: a pure function of the observation, the schema, the job's options and the
    /// anchors kept in the state. `allow_deletes` lets a plan over the deletion threshold
    /// through.
    pub fn plan(
        &mut self,
        observation: &Observation,
        allow_deletes: bool,
        events: &dyn EventSink,
    ) -> Result<Plan, SyncError> {
        events.emit(Event::Stage {
            stage: Stage::Plan,
            message: "evaluating mappings and planning".into(),
        });
        let mut options = self.engine.config.options.clone();
        options.anchor_attribute = self.anchor.clone();
        options.allow_deletes |= allow_deletes;
        let state = LastKnownState {
            anchors: self.engine.state()?.anchors()?,
        };
        let e = &mut *self.engine;
        // The same observation, anchors and options give the same plan (the planner is pure):
        // a quiet cycle reuses the last one unless it read the time or plugins ran.
        if let Some(m) = &e.plan_memo
            && e.plugins.is_none()
            && m.generation == observation.generation
            && m.allow_deletes == options.allow_deletes
            && m.anchors == state.anchors
        {
            e.last_plan = None;
            return Ok(m.plan.clone());
        }
        let input = PlanInput {
            source: &observation.source,
            target: &observation.target,
            schema: &e.schema,
            scope: &e.config.scope,
            options: &options,
            state: &state,
            as_of: self.started_at,
            functions: e
                .plugins
                .as_deref()
                .map(|r| r as &dyn crate::expr::FunctionRegistry),
        };
        if e.plugins.is_some() {
            e.last_plan = None;
            return Ok(plugins::plan(&input)?);
        }
        // Plans again only what changed since the last plan, when its basis allows.
        let basis = e
            .plan_basis
            .take()
            .filter(|(generation, _)| *generation == observation.since)
            .map(|(_, b)| b);
        let (plan, timed, basis, kind) =
            crate::plan::plan_incremental(&input, basis, observation.changes.as_ref())?;
        e.plan_basis = basis.map(|b| (observation.generation, b));
        e.last_plan = Some(kind);
        e.plan_memo = (!timed).then(|| super::PlanMemo {
            generation: observation.generation,
            allow_deletes: options.allow_deletes,
            anchors: state.anchors.clone(),
            plan: plan.clone(),
        });
        Ok(plan)
    }

    /// Keeps only the operations that provision one source object (a user, or a group with
    /// the creation of its member users and its memberships).
    pub fn only(&self, plan: Plan, object: &str, observation: &Observation) -> Plan {
        super::only_object(
            plan,
            object,
            &observation.source,
            &observation.target,
            &self.anchor,
        )
    }

    /// The plan with what applying it later needs: the job's tenants, the schema's hash, and
    /// the versions of the objects it touches as `observation` shows them.
    pub fn save(&self, observation: &Observation, plan: Plan, only: Option<String>) -> SavedPlan {
        let e = &*self.engine;
        SavedPlan {
            format: SAVED_PLAN_FORMAT,
            tenantsync_version: crate::VERSION.to_string(),
            source_tenant: e.source_cfg.tenant_id.clone(),
            target_tenant: e.target_cfg.tenant_id.clone(),
            created_at: self.started_at,
            schema_sha256: e.schema_sha256().to_string(),
            anchor_attribute: self.anchor.clone(),
            only,
            objects: object_versions(
                &plan.operations,
                &observation.source,
                &observation.target,
                &self.anchor,
            ),
            plan,
        }
    }

    /// Checks that `saved` belongs to this job and that nothing it touches moved since it was
    /// made: [`SyncError::StalePlan`] names what did.
    pub fn verify(&self, saved: &SavedPlan, observation: &Observation) -> Result<(), SyncError> {
        let e = &*self.engine;
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        if !same(&saved.source_tenant, &e.source_cfg.tenant_id)
            || !same(&saved.target_tenant, &e.target_cfg.tenant_id)
        {
            return Err(SyncError::Invalid(format!(
                "this plan was made for source {} and target {}, and this job syncs {} into {}: apply it with the job that made it",
                saved.source_tenant,
                saved.target_tenant,
                e.source_cfg.tenant_id,
                e.target_cfg.tenant_id
            )));
        }
        if saved.schema_sha256 != e.schema_sha256() {
            return Err(SyncError::Invalid(
                "the job's schema changed since this plan was made: make a new plan (`tenantsync sync --dry-run --save-plan FILE`) and apply that".into(),
            ));
        }
        if !same(&saved.anchor_attribute, &self.anchor) {
            return Err(SyncError::Invalid(format!(
                "this plan anchors objects in {}, and the job now uses {}: make a new plan",
                saved.anchor_attribute, self.anchor
            )));
        }
        if let Some(refusal) = &saved.plan.refused {
            return Err(SyncError::Invalid(format!(
                "this plan was refused when it was made ({}): it holds no operations; make it again with --allow-deletes if the deletions are intended",
                refusal.message
            )));
        }
        let now = object_versions(
            &saved.plan.operations,
            &observation.source,
            &observation.target,
            &self.anchor,
        );
        let objects = saved.stale_objects(&now);
        if objects.is_empty() {
            Ok(())
        } else {
            Err(SyncError::StalePlan {
                made_at: saved.created_at,
                objects,
            })
        }
    }

    /// Applies `plan`'s operations to the target, in order, escrowing what fails. With
    /// `whole_plan`, escrows of objects the plan does not name are cleared (they converged),
    /// and the job's max duration applies (the run may end [`RunOutcome::Incomplete`]);
    /// with `ignore_waits`, escrowed objects are attempted now (on demand, a reviewed plan).
    pub async fn apply(
        &mut self,
        observation: &Observation,
        plan: &Plan,
        whole_plan: bool,
        ignore_waits: bool,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<ApplyOutcome, SyncError> {
        events.emit(Event::Stage {
            stage: Stage::Apply,
            message: format!("applying {} operations", plan.operations.len()),
        });
        let now = if ignore_waits {
            self.started_at + chrono::Duration::days(3650)
        } else {
            self.started_at
        };
        // Which target users carry which anchor, for the applier's invitations: nothing to
        // index when the plan invites no one (a change cycle at 100,000 users saves a pass).
        let invites = plan
            .operations
            .iter()
            .any(|o| matches!(o, crate::plan::Operation::CreateUser { .. }));
        let users = if invites {
            &observation.target.users[..]
        } else {
            &[][..]
        };
        let anchored: HashMap<String, String> = users
            .iter()
            .filter_map(|u| {
                u.text(&self.anchor)
                    .filter(|a| !a.is_empty())
                    .map(|a| (u.id.to_ascii_lowercase(), a))
            })
            .collect();
        let e = &mut *self.engine;
        e.state()?;
        // A cycle stops starting writes once less than one request's time is left. A saved
        // plan or one object runs to the end: stopped halfway, it could not be applied again.
        let deadline = e.max_duration.filter(|_| whole_plan).and_then(|limit| {
            let room = limit.checked_sub(e.request_timeout)?;
            Some(self.started_at + chrono::Duration::from_std(room).ok()?)
        });
        // Fields borrowed one by one: the applier writes the state while reading the schema.
        apply::Applier::new(
            &e.target,
            e.state.as_mut().expect("opened above"),
            &e.schema,
            events,
            cancel,
            self.run_id,
            now,
            e.escrow_retry,
            e.config.sync.concurrency,
        )?
        .with_anchored(anchored)
        .with_checkpoints(e.lease.as_ref())
        .whole_plan(whole_plan)
        .keep_escrows(plugins::failed_keys(plan))
        .stop_at(deadline)
        .apply(&plan.operations)
        .await
    }

    /// Records an applied run: plugin failures escrowed, the quarantine updated from the
    /// failure rate, the outcome decided and the run closed. The observation becomes the
    /// memory cache the engine's next cycle starts from (as with [`Cycle::finish`]). With the
    /// state in a blob, the run ends here: the state is saved to the blob and its lease
    /// released.
    pub async fn record(
        mut self,
        observation: Observation,
        plan: Plan,
        applied: ApplyOutcome,
        events: &dyn EventSink,
    ) -> Result<RunReport, SyncError> {
        let result = self.record_run(observation, plan, applied, events);
        self.engine.settle(result).await
    }

    fn record_run(
        &mut self,
        observation: Observation,
        plan: Plan,
        applied: ApplyOutcome,
        events: &dyn EventSink,
    ) -> Result<RunReport, SyncError> {
        events.emit(Event::Stage {
            stage: Stage::Record,
            message: "recording the run".into(),
        });
        let e = &mut *self.engine;
        e.state()?;
        // After apply, which clears the escrows of objects it did not plan.
        let plugin_failures = plugins::record(
            e.state.as_ref().expect("opened above"),
            e.plugins.as_deref(),
            &plan,
            self.run_id,
            self.started_at,
            e.escrow_retry,
            events,
        )?;
        let failures = applied.failed.len() as u64;
        let attempted = (applied.succeeded + applied.failed.len()) as u64;
        let settings = &e.config.sync;
        let quarantine = self.quarantine.take();
        let mut quarantine_now = quarantine.clone();
        if failures >= settings.quarantine_min_failures
            && attempted > 0
            && failures as f64 * 100.0 / attempted as f64 > settings.quarantine_percent
        {
            let series = quarantine.as_ref().map_or(0, |q| q.series_count) + 1;
            let wait = doubling(
                chrono::Duration::hours(1),
                series,
                chrono::Duration::days(1),
            );
            let q = Quarantine {
                reason: "EncounteredEscrowProportionThreshold".into(),
                began_at: quarantine.as_ref().map_or(self.started_at, |q| q.began_at),
                next_attempt_at: e.clock.now() + wait,
                series_count: series,
                error: format!(
                    "{failures} of {attempted} operations failed (first: {})",
                    applied
                        .failed
                        .first()
                        .map(|f| f.message.as_str())
                        .unwrap_or("")
                ),
            };
            e.state()?.set_quarantine(Some(&q))?;
            quarantine_now = Some(q);
        } else if applied.succeeded > 0 || failures == 0 {
            e.state()?.set_quarantine(None)?;
            quarantine_now = None;
        }
        let outcome = if applied.cancelled {
            RunOutcome::Cancelled
        } else if quarantine_now
            .as_ref()
            .is_some_and(|q| q.next_attempt_at > e.clock.now())
        {
            RunOutcome::Quarantined
        } else if applied.incomplete {
            RunOutcome::Incomplete
        } else if !applied.failed.is_empty() || applied.skipped > 0 || plugin_failures > 0 {
            RunOutcome::Escrowed
        } else {
            RunOutcome::Converged
        };
        self.quarantine = quarantine_now;
        if applied.incomplete {
            // Where the run stopped, in the provisioning log beside what it did.
            let limit = e.max_duration.unwrap_or_default();
            let at = e.clock.now();
            e.state()?.log(&crate::state::LogEntry {
                run_id: self.run_id,
                at,
                kind: "run".into(),
                source_id: None,
                target_id: None,
                display: format!("run {}", self.run_id),
                action: "stop".into(),
                status: "incomplete".into(),
                changes: serde_json::json!({
                    "remaining": applied.remaining,
                    "succeeded": applied.succeeded,
                    "maxDurationSeconds": limit.as_secs(),
                }),
                error_code: None,
                error_message: Some(format!(
                    "stopped at the max duration ({}s) with {} of {} operations left; run the job again to continue",
                    limit.as_secs(),
                    applied.remaining,
                    plan.operations.len()
                )),
                request_id: None,
            })?;
        }
        self.close(outcome, Some(observation), plan, applied)
    }

    /// Closes a run that applies nothing: a dry run, a refused plan, a quarantined job. The
    /// observation, when there is one, becomes the memory cache the engine's next cycle
    /// starts from: that cycle applies its delta rounds to it instead of reading the caches
    /// from the state store. With the state in a blob, the run ends here as in
    /// [`Cycle::record`].
    pub async fn finish(
        mut self,
        outcome: RunOutcome,
        observation: Option<Observation>,
        plan: Plan,
    ) -> Result<RunReport, SyncError> {
        let result = self.close(outcome, observation, plan, ApplyOutcome::default());
        self.engine.settle(result).await
    }

    fn close(
        &mut self,
        outcome: RunOutcome,
        observation: Option<Observation>,
        plan: Plan,
        applied: ApplyOutcome,
    ) -> Result<RunReport, SyncError> {
        let e = &mut *self.engine;
        let report = RunReport {
            run_id: self.run_id,
            outcome,
            full_read: observation.as_ref().is_some_and(|o| o.full_read),
            source_changes: observation.as_ref().map_or(0, |o| o.source_changes),
            plan,
            applied,
            source_requests: e.source.stats(),
            target_requests: e.target.stats(),
            quarantine: self.quarantine.take(),
            started_at: self.started_at,
            finished_at: e.clock.now(),
            saved_plan: None,
            planned: e.last_plan.clone(),
        };
        let mut summary = serde_json::json!({
            "outcome": outcome.as_str(),
            "fullRead": report.full_read,
            "sourceChanges": report.source_changes,
            "plan": report.plan.summary,
            "succeeded": report.applied.succeeded,
            "failed": report.applied.failed.len(),
            "skipped": report.applied.skipped,
            "remaining": report.applied.remaining,
        });
        if let Some(planned) = &report.planned {
            summary["planned"] = serde_json::to_value(planned).unwrap_or_default();
        }
        e.state()?
            .finish_run(self.run_id, outcome.as_str(), &summary, report.finished_at)?;
        // The cycle's snapshots become the memory cache the engine's next cycle starts from:
        // nothing is copied or freed (at 100,000 users, each of those is about a second).
        if let Some(o) = observation {
            e.memo.keep(o.source, o.target);
        }
        Ok(report)
    }
}

impl Engine {
    /// Runs one cycle. Fails with [`SyncError::Busy`] while another cycle of the same job (in
    /// this process or another, or on another host for a state blob) is running. A dry run's
    /// report carries the plan saved for a later [`Engine::apply_saved`].
    pub async fn run(
        &mut self,
        request: &super::SyncRequest,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RunReport, SyncError> {
        let result = self.run_cycle(request, events, cancel).await;
        self.settle(result).await
    }

    async fn run_cycle(
        &mut self,
        request: &super::SyncRequest,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RunReport, SyncError> {
        let mode = if request.dry_run {
            RunMode::DryRun
        } else if request.only.is_some() {
            RunMode::OnDemand
        } else if request.full {
            RunMode::Full
        } else {
            RunMode::Delta
        };
        let mut cycle = self.begin(mode, events).await?;
        if request.only.is_none() && !request.dry_run && cycle.warn_if_quarantined(events, "") {
            return cycle
                .finish(RunOutcome::Quarantined, None, Plan::default())
                .await;
        }
        let observation = cycle.observe(request.full, events).await?;
        let mut plan = cycle.plan(&observation, request.allow_deletes, events)?;
        if let Some(object) = &request.only {
            plan = cycle.only(plan, object, &observation);
        }
        if request.dry_run {
            let saved = cycle.save(&observation, plan.clone(), request.only.clone());
            let mut report = cycle
                .finish(RunOutcome::DryRun, Some(observation), plan)
                .await?;
            report.saved_plan = Some(Box::new(saved));
            return Ok(report);
        }
        if plan.refused.is_some() {
            return cycle
                .finish(RunOutcome::Refused, Some(observation), plan)
                .await;
        }
        let on_demand = request.only.is_some();
        let applied = cycle
            .apply(&observation, &plan, !on_demand, on_demand, events, cancel)
            .await?;
        cycle.record(observation, plan, applied, events).await
    }

    /// Applies a saved plan exactly: reads both tenants, refuses with
    /// [`SyncError::StalePlan`] when any object the plan touches moved since it was made (and
    /// with [`SyncError::Invalid`] when the plan is another job's or another schema's), then
    /// applies its operations, escrowed objects included (the plan was reviewed as it is).
    pub async fn apply_saved(
        &mut self,
        saved: &SavedPlan,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RunReport, SyncError> {
        let result = self.apply_saved_cycle(saved, events, cancel).await;
        self.settle(result).await
    }

    async fn apply_saved_cycle(
        &mut self,
        saved: &SavedPlan,
        events: &dyn EventSink,
        cancel: &CancelToken,
    ) -> Result<RunReport, SyncError> {
        let mut cycle = self.begin(RunMode::Apply, events).await?;
        if cycle.warn_if_quarantined(events, " and apply the plan again") {
            return cycle
                .finish(RunOutcome::Quarantined, None, Plan::default())
                .await;
        }
        let observation = cycle.observe(false, events).await?;
        if let Err(e) = cycle.verify(saved, &observation) {
            cycle
                .finish(RunOutcome::Refused, Some(observation), Plan::default())
                .await?;
            return Err(e);
        }
        let applied = cycle
            .apply(&observation, &saved.plan, false, true, events, cancel)
            .await?;
        cycle
            .record(observation, saved.plan.clone(), applied, events)
            .await
    }
}

//! The sync cycle: observe -> transform and plan -> apply -> record, as one library call that
//! emits typed progress events and can be cancelled between apply steps.
//!
//! ```text
//! Engine::open(job.toml)      load the job, the schema; build the Graph clients (no network)
//! engine.sign_in()            tokens for both tenants: a wrong secret fails here, nothing written
//! engine.run(request, ...)    one cycle; returns a RunReport
//! ```
//!
//! The CLI renders the events; the C ABI queues them for polling. `docs/operations.md`
//! describes outcomes, escrow and quarantine.

mod apply;
mod check;
mod codes;
mod cycle;
mod events;
mod handle;
#[cfg(test)]
mod incremental_tests;
mod observe;
mod plugins;
mod saved;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::{ConfigError, JobConfig, TenantConfig, parse_duration};
use crate::graph::{ClientStats, GraphClient, GraphClientOptions, GraphError};
use crate::plan::{self, ObjectKind, ObjectRef, Operation, Plan};
use crate::schema::SynchronizationSchema;
use crate::state::{
    LogEntry, LogFilter, Quarantine, ResetScope, RunRecord, StateError, StateStore,
};

// Also here, beside `token_roles`: preflight reads the `roles` of a token with it.
pub use crate::graph::auth::token_claims;
pub use apply::{ApplyOutcome, FailedOperation};
pub use check::{
    ANCHOR_PERMISSION, CheckItem, CheckReport, CheckStatus, GROUPS_PERMISSION, ORGANIZATION_NAME,
    POLICY_PERMISSION, Requirement, SOURCE_PERMISSIONS, TARGET_PERMISSIONS, USERS_PERMISSION,
};
pub(crate) use check::{token_roles, token_scopes};
pub use codes::{ErrorCode, advice};
pub use handle::{RunHandle, Work, WorkOutput};

pub use cycle::{Cycle, Observation, RunMode};
pub use events::{CancelToken, Event, EventSink, NoEvents, OperationStatus, Stage};
pub use saved::{ObjectVersion, SavedPlan, StaleObject};

/// The short name of the directory extension that carries anchors.
pub const ANCHOR_EXTENSION_NAME: &str = "tenantsyncAnchor";

/// The name Graph gives the anchor extension property of the target app `app_id`:
/// `extension_<app id without dashes>_tenantsyncAnchor`.
pub fn anchor_attribute_for(app_id: &str) -> String {
    format!(
        "extension_{}_{ANCHOR_EXTENSION_NAME}",
        app_id.replace('-', "")
    )
}

/// Why a cycle could not run at all (per-object failures are escrowed instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The job configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Something the job needs is missing or wrong.
    #[error("{0}")]
    Invalid(String),
    /// The schema is unusable.
    #[error("{0}")]
    Schema(String),
    /// Signing in to a tenant failed.
    #[error("signing in to the {side} tenant failed: {source}")]
    SignIn {
        /// `source` or `target`.
        side: &'static str,
        /// The cause, with the AADSTS code.
        source: GraphError,
    },
    /// The token is for another tenant than the one configured.
    #[error(
        "signed in to the {side} tenant, but the token is for tenant {token_tenant}, not {configured}: make [{side}] tenant_id and the credential's tenant_id name the same tenant"
    )]
    WrongTenant {
        /// `source` or `target`.
        side: &'static str,
        /// The configured tenant id.
        configured: String,
        /// The token's `tid`.
        token_tenant: String,
    },
    /// Graph failed in a way that stops the cycle (reading a tenant).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The planner refused the input.
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// A plugin of the job cannot be loaded.
    #[error(transparent)]
    Plugin(#[from] crate::plugin::LoadError),
    /// A saved plan's objects moved since it was made: applying it would not do what it
    /// showed.
    #[error(
        "the saved plan is stale: {} changed since it was made at {made_at}: {}; make a new plan (`tenantsync sync --dry-run --save-plan FILE`), review it, and apply that",
        if objects.len() == 1 { "1 object".to_string() } else { format!("{} objects", objects.len()) },
        stale_list(objects)
    )]
    StalePlan {
        /// When the plan was made.
        made_at: DateTime<Utc>,
        /// What moved.
        objects: Vec<StaleObject>,
    },
    /// Another cycle of the same job is running: in this or another process (the state file
    /// is locked), or on another host (the state blob is leased).
    #[error("{}", busy_message(state, *lease_seconds))]
    Busy {
        /// The job's state: a file's path or a blob's URL.
        state: String,
        /// With the state in a blob, the lease's duration: a dead holder's lease expires
        /// after at most this many seconds. `None` for a local state file.
        lease_seconds: Option<u32>,
    },
    /// The job's state in Azure Storage cannot be used: the run refuses to start, or (a lost
    /// lease, a blob rewritten by someone else) stops at a safe point and writes nothing more.
    #[error(transparent)]
    StateBlob(#[from] crate::blob::BlobError),
}

fn busy_message(state: &str, lease_seconds: Option<u32>) -> String {
    match lease_seconds {
        None => format!(
            "another cycle of this job is running (its state {state} is in use): wait for it to finish, then try again"
        ),
        Some(seconds) => format!(
            "the job is running elsewhere: the state blob {state} is leased; wait for that run or, if its host died, for the lease to expire in at most {seconds} s"
        ),
    }
}

/// The first few stale objects, for the error message.
fn stale_list(objects: &[StaleObject]) -> String {
    const SHOWN: usize = 10;
    let mut text = objects
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if objects.len() > SHOWN {
        text.push_str(&format!("; and {} more", objects.len() - SHOWN));
    }
    text
}

impl SyncError {
    /// True for problems an admin fixes in configuration or credentials (exit code 3).
    pub fn is_configuration(&self) -> bool {
        match self {
            SyncError::Graph(_) | SyncError::Busy { .. } => false,
            SyncError::StateBlob(e) => e.is_configuration(),
            // A state file of another job, or of a newer tenantsync, is fixed in configuration.
            SyncError::State(e) => {
                matches!(e, StateError::OtherJob { .. } | StateError::TooNew { .. })
            }
            _ => true,
        }
    }
}

/// What an access token says about who signed in, read from its claims (never verified
/// against its signature: the token was just issued to this process over TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    /// The tenant the token is for (its `tid` claim), `None` when the token is not a readable
    /// JWT (Microsoft may issue opaque tokens; then nothing can be checked locally).
    pub tenant_id: Option<String>,
    /// The application permissions granted (its `roles` claim).
    pub roles: Vec<String>,
    /// The delegated permissions of a token issued to a signed-in account (its `scp` claim,
    /// e.g. through the Azure CLI); empty for an application's own token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl SignedIn {
    /// Reads `token` for the `side` tenant configured as `cfg`. Fails when the token names
    /// another tenant than a tenant id (GUID) configured in `cfg`. A tenant configured by a
    /// domain name (`contoso.onmicrosoft.com`) cannot be compared without a directory read:
    /// it is accepted, and the token's tenant id is kept to be shown (`tenantsync check`).
    pub fn from_token(
        side: &'static str,
        cfg: &TenantConfig,
        token: &str,
    ) -> Result<Self, SyncError> {
        let Some(claims) = token_claims(token) else {
            return Ok(SignedIn {
                tenant_id: None,
                roles: Vec::new(),
                scopes: Vec::new(),
            });
        };
        let tid = claims
            .get("tid")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        if let Some(tid) = &tid
            && is_tenant_guid(&cfg.tenant_id)
            && !tid.eq_ignore_ascii_case(cfg.tenant_id.trim())
        {
            return Err(SyncError::WrongTenant {
                side,
                configured: cfg.tenant_id.clone(),
                token_tenant: tid.clone(),
            });
        }
        Ok(SignedIn {
            tenant_id: tid,
            roles: token_roles(&claims),
            scopes: token_scopes(&claims),
        })
    }
}

/// Whether a configured tenant is named by its id (a GUID) rather than a domain name.
pub(crate) fn is_tenant_guid(tenant: &str) -> bool {
    let t = tenant.trim();
    t.len() == 36
        && t.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// What the tokens of both tenants say (see [`Engine::sign_in`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIns {
    /// The source tenant's token.
    pub source: SignedIn,
    /// The target tenant's token.
    pub target: SignedIn,
}

/// What one cycle should do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    /// Read the source in full, ignoring kept delta links.
    pub full: bool,
    /// Plan only: nothing is written to the target.
    pub dry_run: bool,
    /// Let a plan over the deletion threshold through.
    pub allow_deletes: bool,
    /// Provision only this source object (a user, or a group with its members), now, even
    /// when escrowed or quarantined.
    pub only: Option<String>,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunOutcome {
    /// Every operation succeeded: the target follows the source.
    Converged,
    /// Some operations failed; their objects are escrowed for later cycles.
    Escrowed,
    /// The plan passed the deletion threshold: nothing was applied.
    Refused,
    /// The job is quarantined: the cycle did not run, or it failed so much that it now is.
    Quarantined,
    /// A dry run: the plan was made and shown, nothing applied.
    DryRun,
    /// Cancelled at a safe point; the next cycle goes on from there.
    Cancelled,
    /// Stopped at a safe point before the run's max duration: progress was made and
    /// recorded; run again to continue with what is left.
    Incomplete,
}

impl RunOutcome {
    /// The outcome's name as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Converged => "converged",
            RunOutcome::Escrowed => "escrowed",
            RunOutcome::Refused => "refused",
            RunOutcome::Quarantined => "quarantined",
            RunOutcome::DryRun => "dryRun",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::Incomplete => "incomplete",
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run id in the state store.
    pub run_id: i64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The source was read in full (not by delta).
    pub full_read: bool,
    /// Source objects read (full) or changed (delta).
    pub source_changes: usize,
    /// The plan (its operations filtered to the object, for on-demand runs).
    pub plan: Plan,
    /// What applying did (empty for dry runs).
    pub applied: ApplyOutcome,
    /// Requests sent to the source tenant.
    pub source_requests: ClientStats,
    /// Requests sent to the target tenant.
    pub target_requests: ClientStats,
    /// The quarantine, when the job is (or became) quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// A dry run's plan, saved for [`Engine::apply_saved`] (not part of the report's JSON:
    /// write it with [`SavedPlan::to_json_pretty`]).
    #[serde(skip)]
    pub saved_plan: Option<Box<SavedPlan>>,
    /// How the cycle planned: in full (and why, when the previous plan could not be its start)
    /// or incrementally. Absent when it reused the previous plan whole, planned with plugins,
    /// or did not plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<crate::plan::PlanKind>,
}

/// What [`Engine::reset`] cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetSummary {
    /// The job's state file.
    pub state: PathBuf,
    /// The delta links and the source cache were cleared: the next cycle reads the source in
    /// full.
    pub delta_links: bool,
    /// Escrowed objects cleared: they are retried at the next cycle.
    pub escrows: usize,
    /// The quarantine cleared, if the job was quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Quarantine>,
    /// The anchors cache was cleared: the next cycle matches by the anchors in the target.
    pub anchors: bool,
}

/// A job, ready to run cycles.
pub struct Engine {
    config: JobConfig,
    schema: SynchronizationSchema,
    /// SHA-256 of the schema as pretty JSON, computed once: saved plans carry it.
    schema_sha256: String,
    source_cfg: TenantConfig,
    target_cfg: TenantConfig,
    source: GraphClient,
    target: GraphClient,
    state_path: PathBuf,
    state: Option<StateStore>,
    /// The job's state blob, when `state = { azure_blob = ... }`: `state_path` is then a
    /// private copy in `scratch`, downloaded when a run takes the lease.
    remote: Option<Arc<crate::blob::StateBlob>>,
    /// The private directory of the state blob's local copy (removed with the engine; one a
    /// killed process left is removed by the next engine).
    _scratch: Option<crate::blob::Scratch>,
    /// The lease of the run in progress on the state blob: the job's lock, from
    /// [`Engine::begin`] until the run settles (final checkpoint, release).
    lease: Option<crate::blob::Lease>,
    /// `[sync] interval`, parsed once.
    interval: std::time::Duration,
    /// `[sync] escrow_retry`, parsed once.
    escrow_retry: chrono::Duration,
    /// `[sync] request_timeout`, parsed once: the margin a run keeps before its max duration.
    request_timeout: std::time::Duration,
    /// `[sync] max_duration`, parsed once, or what [`Engine::set_max_duration`] set.
    max_duration: Option<std::time::Duration>,
    /// `[sync] full_reconcile`, parsed once; `None` when off.
    full_reconcile: Option<chrono::Duration>,
    /// The caches as the last cycle of this engine left them, so a cycle in the same process
    /// reads them from memory instead of the state store.
    memo: observe::Memo,
    /// Counts the distinct observations this engine made: it stays the same when a cycle
    /// observed exactly what the previous one did.
    generation: u64,
    /// The last plan made without reading the clock, with what it was made from.
    plan_memo: Option<PlanMemo>,
    /// What the last plan was made from and made, with the generation of its observation: the
    /// start of the next plan, which then plans again only what changed.
    plan_basis: Option<(u64, crate::plan::Basis)>,
    /// How the last plan was made.
    last_plan: Option<crate::plan::PlanKind>,
    /// Where run stamps, escrow and quarantine times, token lifetimes and waits come from.
    clock: Arc<dyn Clock>,
    /// The job's plugins, loaded once; `None` without `[[plugins]]`.
    plugins: Option<std::sync::Arc<crate::plugin::PluginRegistry>>,
}

/// Refuses a max duration that leaves no room for one request: a run stops starting new
/// writes once less than `request_timeout` remains, so it would never write anything.
fn check_max_duration(
    limit: Option<std::time::Duration>,
    request_timeout: std::time::Duration,
    what: &str,
) -> Result<(), SyncError> {
    match limit {
        Some(limit) if limit <= request_timeout => Err(SyncError::Invalid(format!(
            "{what} ({}s) must be longer than [sync] request_timeout ({}s): a run stops starting writes once less than one request's time remains; give it a longer limit, like \"2h30m\"",
            limit.as_secs_f64(),
            request_timeout.as_secs_f64()
        ))),
        _ => Ok(()),
    }
}

/// A plan kept for reuse: the planner is a pure function, so the same observation (same
/// generation), anchors and options give the same plan, as long as it did not read the time.
#[derive(Debug)]
pub(crate) struct PlanMemo {
    generation: u64,
    allow_deletes: bool,
    anchors: std::collections::BTreeMap<String, String>,
    plan: crate::plan::Plan,
}

/// `base` doubled `n - 1` times (`n` counts from 1), never more than `cap`: the wait before an
/// escrowed object's next attempt, and before a quarantined job's next cycle.
pub(crate) fn doubling(base: chrono::Duration, n: i64, cap: chrono::Duration) -> chrono::Duration {
    let factor = 2_i32.saturating_pow((n - 1).clamp(0, 30) as u32);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("source", &self.source_cfg.tenant_id)
            .field("target", &self.target_cfg.tenant_id)
            .field("state", &self.state_path)
            .finish_non_exhaustive()
    }
}

fn client_for(
    tenant: &TenantConfig,
    config: &JobConfig,
    side: &'static str,
    clock: &Arc<dyn Clock>,
) -> Result<GraphClient, SyncError> {
    let options = GraphClientOptions {
        clock: clock.clone(),
        max_concurrency: config.sync.concurrency.max(1),
        request_timeout: parse_duration(&config.sync.request_timeout)
            .map_err(|e| SyncError::Invalid(format!("[sync] request_timeout: {e}")))?,
        ..GraphClientOptions::default()
    };
    GraphClient::for_credential(&tenant.cloud, tenant.credential.clone(), options).map_err(|e| {
        SyncError::Invalid(format!(
            "the {side} credential or cloud cannot be used: {e}"
        ))
    })
}

impl Engine {
    /// Loads a job: its configuration, schema and Graph clients. Touches no network and no
    /// state yet.
    pub fn open(config_path: &Path) -> Result<Engine, SyncError> {
        Self::open_with_clock(config_path, crate::clock::system())
    }

    /// [`Engine::open`] with the clock every reading of the time and every wait goes through:
    /// run stamps, escrow backoff and quarantine, the planner's "now", token lifetimes and
    /// retries. Tests pass a [`ManualClock`](crate::clock::ManualClock).
    pub fn open_with_clock(config_path: &Path, clock: Arc<dyn Clock>) -> Result<Engine, SyncError> {
        let config = JobConfig::load(config_path)?;
        let source_cfg = config.source.clone().ok_or_else(|| {
            SyncError::Invalid(format!(
                "{} has no [source] section: name the source tenant and its credential (docs/configuration.md)",
                config_path.display()
            ))
        })?;
        let target_cfg = config.target.clone().ok_or_else(|| {
            SyncError::Invalid(format!(
                "{} has no [target] section: name the target tenant and its credential (docs/configuration.md)",
                config_path.display()
            ))
        })?;
        let plugins = plugins::load(&config, config_path)?;
        let schema = config
            .load_schema_with(None, plugins.as_deref())
            .map_err(SyncError::Schema)?;
        let duration = |name: &str, value: &str| {
            parse_duration(value).map_err(|e| SyncError::Invalid(format!("[sync] {name}: {e}")))
        };
        let interval = duration("interval", &config.sync.interval)?;
        let escrow_retry =
            chrono::Duration::from_std(duration("escrow_retry", &config.sync.escrow_retry)?)
                .map_err(|e| SyncError::Invalid(format!("[sync] escrow_retry: {e}")))?;
        let request_timeout = duration("request_timeout", &config.sync.request_timeout)?;
        let max_duration = config
            .sync
            .max_duration
            .as_deref()
            .map(|text| duration("max_duration", text))
            .transpose()?;
        check_max_duration(max_duration, request_timeout, "[sync] max_duration")?;
        let full_reconcile = crate::config::parse_full_reconcile(&config.sync.full_reconcile)
            .map_err(|e| SyncError::Invalid(format!("[sync] full_reconcile: {e}")))?
            .map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
        let source = client_for(&source_cfg, &config, "source", &clock)?;
        let target = client_for(&target_cfg, &config, "target", &clock)?;
        let (state_path, remote, scratch) = match config.state_blob() {
            None => (config.state_file(config_path), None, None),
            Some(blob) => {
                // Storage sign-in uses the target's cloud (its login host, any extra CA).
                let remote = crate::blob::StateBlob::new(blob, &target_cfg.cloud).map_err(|e| {
                    SyncError::Invalid(format!("[state.azure_blob] cannot be used: {e}"))
                })?;
                let scratch = crate::blob::Scratch::new_in(&std::env::temp_dir())
                    .map_err(|e| {
                        SyncError::Invalid(format!(
                            "cannot make a private directory for the job's state copy: {e}; check the temporary directory (TMPDIR)"
                        ))
                    })?;
                (
                    scratch.path().join("state.db"),
                    Some(Arc::new(remote)),
                    Some(scratch),
                )
            }
        };
        let schema_sha256 = {
            use sha2::Digest;
            crate::plugin::hex(&sha2::Sha256::digest(
                crate::schema::to_json_pretty(&schema).as_bytes(),
            ))
        };
        Ok(Engine {
            config,
            schema,
            schema_sha256,
            source_cfg,
            target_cfg,
            source,
            target,
            state_path,
            state: None,
            remote,
            _scratch: scratch,
            lease: None,
            interval,
            escrow_retry,
            request_timeout,
            max_duration,
            full_reconcile,
            memo: observe::Memo::default(),
            generation: 0,
            plan_memo: None,
            plan_basis: None,
            last_plan: None,
            clock,
            plugins,
        })
    }

    /// The clock the engine reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The job configuration.
    pub fn config(&self) -> &JobConfig {
        &self.config
    }

    /// The state file's path (with the state in a blob: the run's private copy of it).
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    /// Where the job's state lives, for people: the state file's path, or the state blob's
    /// URL.
    pub fn state_location(&self) -> String {
        match &self.remote {
            Some(blob) => blob.url().to_owned(),
            None => self.state_path.display().to_string(),
        }
    }

    /// The Graph client of the source tenant.
    pub fn source_client(&self) -> &GraphClient {
        &self.source
    }

    /// The Graph client of the target tenant.
    pub fn target_client(&self) -> &GraphClient {
        &self.target
    }

    /// Sets the longest a cycle may take, as `sync --max-duration` does, in place of the
    /// job's `[sync] max_duration` (`None`: back to the job's). Fails when the limit leaves no
    /// room for one request (`[sync] request_timeout`).
    pub fn set_max_duration(
        &mut self,
        limit: Option<std::time::Duration>,
    ) -> Result<(), SyncError> {
        let limit = match limit {
            Some(limit) => {
                check_max_duration(Some(limit), self.request_timeout, "the max duration")?;
                Some(limit)
            }
            None => self
                .config
                .sync
                .max_duration
                .as_deref()
                .and_then(|t| parse_duration(t).ok()),
        };
        self.max_duration = limit;
        Ok(())
    }

    /// How this engine made its last plan: in full (and why, when the previous plan could not
    /// be its start), or incrementally; `None` before the first plan, and after a plan reused
    /// whole or made with plugins.
    pub fn last_plan(&self) -> Option<crate::plan::PlanKind> {
        self.last_plan.clone()
    }

    /// The longest a cycle may take (see [`Engine::set_max_duration`]); `None`: no limit.
    pub fn max_duration(&self) -> Option<std::time::Duration> {
        self.max_duration
    }

    /// The pause between cycles of `sync --watch`.
    pub fn interval(&self) -> std::time::Duration {
        self.interval
    }

    /// Gets a token for each tenant and checks that it is for the configured tenant (its
    /// `tid` claim), without any Graph call: signing in needs no permission of its own. A
    /// wrong secret fails here, before anything is written. Returns what each token says.
    pub async fn sign_in(&self) -> Result<SignIns, SyncError> {
        let mut found = Vec::with_capacity(2);
        for (side, client, cfg) in [
            ("source", &self.source, &self.source_cfg),
            ("target", &self.target, &self.target_cfg),
        ] {
            let token = client.access_token().await.map_err(|e| SyncError::SignIn {
                side,
                source: GraphError::Auth(e),
            })?;
            found.push(SignedIn::from_token(side, cfg, token.token.expose())?);
        }
        let target = found.pop().expect("two sides");
        let source = found.pop().expect("two sides");
        Ok(SignIns { source, target })
    }

    /// The state store, opened on first use. Crate-private: hosts read it through
    /// [`Engine::runs`] and [`Engine::logs`], and change it only under the job's lock
    /// ([`Engine::reset`], a [`Cycle`]).
    pub(crate) fn state(&mut self) -> Result<&mut StateStore, SyncError> {
        if self.state.is_none() {
            // Outside a run, the blob's state is read as it is now (no lease: read only).
            if let (Some(remote), None) = (&self.remote, &self.lease) {
                let remote = remote.clone();
                let path = self.state_path.clone();
                block_on("reading the state blob", || async move {
                    remote.snapshot(&path).await
                })?;
            }
            self.state = Some(StateStore::open(
                &self.state_path,
                &self.source_cfg.tenant_id,
                &self.target_cfg.tenant_id,
            )?);
        }
        Ok(self.state.as_mut().expect("opened above"))
    }

    /// The application whose directory extension holds anchors in the target.
    fn anchor_app_id(&self) -> Result<String, SyncError> {
        self.target_cfg
            .anchor_app_id
            .clone()
            .or_else(|| self.target_cfg.credential.client_id().map(str::to_string))
            .ok_or_else(|| {
                SyncError::Invalid(
                    "the target credential names no application: set [target] anchor_app_id to the app registration that holds the anchor extension".into(),
                )
            })
    }

    /// Creates (or finds) the anchor's directory extension property in the target and keeps
    /// its name in the state. Safe to repeat. Returns the attribute name
    /// (`extension_<appId>_tenantsyncAnchor`).
    pub async fn init(&mut self) -> Result<String, SyncError> {
        if let Some(name) = self.configured_anchor() {
            return Ok(name);
        }
        let app_id = self.anchor_app_id()?;
        let apps = crate::graph::list_all(
            &self.target,
            crate::graph::GraphRequest::get(format!(
                "/applications?$select=id,appId&$filter={}",
                crate::graph::client::encode_query_value(&format!("appId eq '{app_id}'"))
            )),
        )
        .await?;
        let object_id = apps
            .first()
            .and_then(|a| a.get("id"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                SyncError::Invalid(format!(
                    "no application with appId {app_id} is visible in the target tenant: the anchor extension belongs to an app registration there (set [target] anchor_app_id); with Application.ReadWrite.OwnedBy the job's app sees only the app registrations it owns, so add its service principal as an owner of that registration (docs/authentication.md, the anchor)"
                ))
            })?
            .to_string();
        let property = self
            .target
            .ensure_extension_property(&object_id, ANCHOR_EXTENSION_NAME, &["User", "Group"])
            .await?;
        self.state()?
            .set_setting("anchor_attribute", &property.name)?;
        Ok(property.name)
    }

    /// The anchor attribute when the job names a directory extension itself.
    fn configured_anchor(&self) -> Option<String> {
        let name = &self.config.options.anchor_attribute;
        name.starts_with("extension_").then(|| name.clone())
    }

    /// The attribute that holds anchors: configured as `extension_...`, or kept by `init`.
    async fn anchor_attribute(&mut self, create: bool) -> Result<String, SyncError> {
        if let Some(name) = self.configured_anchor() {
            return Ok(name);
        }
        if let Some(name) = self.state()?.setting("anchor_attribute")? {
            return Ok(name);
        }
        if create {
            self.init().await
        } else {
            // A dry run before `init`: the name Graph gives the extension, so a plan can be
            // shown; no target object carries it yet.
            Ok(anchor_attribute_for(&self.anchor_app_id()?))
        }
    }

    /// Locks the job for one cycle: an exclusive lock on `<state file>.lock`, released when
    /// the returned file is dropped (or the process ends). Two cycles of one job at once would
    /// both create what is missing in the target.
    fn lock(&self) -> Result<std::fs::File, SyncError> {
        let path = PathBuf::from(format!("{}.lock", self.state_path.display()));
        let cannot = |e: std::io::Error| {
            SyncError::Invalid(format!(
                "cannot lock the job's state ({}): {e}; check that its directory is writable",
                path.display()
            ))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(cannot)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(cannot)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(SyncError::Busy {
                state: self.state_path.display().to_string(),
                lease_seconds: None,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(cannot(e)),
        }
    }

    /// Locks the job for one run (see [`Engine::lock`]); with the state in a blob, takes the
    /// blob's lease instead and downloads the state (kept in `self.lease` until the run
    /// settles): fails with [`SyncError::Busy`] while another host holds it, and refuses to
    /// start (nothing written anywhere) when Storage cannot be reached or used.
    async fn lock_job(&mut self) -> Result<Option<std::fs::File>, SyncError> {
        let Some(remote) = self.remote.clone() else {
            return self.lock().map(Some);
        };
        // A cycle dropped before its end (an error between `begin` and `record`) left its
        // lease: that run ends now (its state saved, the lease released), then this one starts.
        if self.lease.is_some() {
            self.settle(Ok(())).await.ok();
        }
        // The copy is replaced: close the store first.
        self.state = None;
        match remote.acquire(&self.state_path).await? {
            Some(lease) => {
                self.lease = Some(lease);
                Ok(None)
            }
            None => Err(SyncError::Busy {
                state: remote.url().to_owned(),
                lease_seconds: Some(remote.lease_seconds()),
            }),
        }
    }

    /// Saves the job's state where it lives: with the state in a blob, uploads the database
    /// under the run's lease and the blob's ETag (after each apply stage but the last, and at the end of a
    /// run). Nothing to do for a local state file, whose every write is already on disk. Fails
    /// when the lease was lost or the blob rewritten by someone else: the run must stop and
    /// write nothing more.
    pub(crate) async fn checkpoint(&mut self) -> Result<(), SyncError> {
        let (Some(lease), Some(state)) = (&self.lease, &self.state) else {
            return Ok(());
        };
        checkpoint(Some(lease), state).await
    }

    /// Ends a run with the state in a blob: a last checkpoint (unless the run ended because
    /// the blob is no longer its own), then the lease released. Returns the run's result, or
    /// the checkpoint's failure when the run itself succeeded.
    pub(crate) async fn settle<T>(&mut self, result: Result<T, SyncError>) -> Result<T, SyncError> {
        if self.lease.is_none() {
            return result;
        }
        let lost = matches!(
            &result,
            Err(SyncError::StateBlob(
                crate::blob::BlobError::Conflict { .. } | crate::blob::BlobError::LeaseLost { .. }
            ))
        );
        let saved = if lost {
            Ok(())
        } else {
            self.checkpoint().await
        };
        let lease = self.lease.take().expect("checked above");
        if !lost && saved.is_ok() {
            // A lease not released expires by itself within LEASE_SECONDS: the next run waits
            // at most that long.
            let _ = lease.release().await;
        }
        match (result, saved) {
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
            (Ok(v), Ok(())) => Ok(v),
        }
    }

    /// Clears what `scope` names from the job's state, under the job's lock (fails with
    /// [`SyncError::Busy`] while a cycle runs). The run history and the provisioning log are
    /// kept.
    pub fn reset(&mut self, scope: ResetScope) -> Result<ResetSummary, SyncError> {
        if self.remote.is_some() {
            // Under the blob's lease, on a runtime of its own (this call is synchronous).
            return block_on("the reset", || async {
                let locked = self.lock_job().await;
                let result = locked.and_then(|_| self.reset_locked(scope));
                self.settle(result).await
            });
        }
        let _lock = self.lock()?;
        self.reset_locked(scope)
    }

    fn reset_locked(&mut self, scope: ResetScope) -> Result<ResetSummary, SyncError> {
        let state = self.state()?;
        let escrows = state.escrows()?.len();
        let quarantine = state.quarantine()?;
        state.reset(scope)?;
        let clears = |s: ResetScope| scope == s || scope == ResetScope::Full;
        let summary = ResetSummary {
            state: state.path().to_path_buf(),
            delta_links: clears(ResetScope::Watermark),
            escrows: if clears(ResetScope::Escrows) {
                escrows
            } else {
                0
            },
            quarantine: quarantine.filter(|_| clears(ResetScope::Quarantine)),
            anchors: scope == ResetScope::Full,
        };
        self.memo.clear();
        self.plan_memo = None;
        self.plan_basis = None;
        Ok(summary)
    }

    /// The job's last `limit` runs, newest first.
    pub fn runs(&mut self, limit: usize) -> Result<Vec<RunRecord>, SyncError> {
        Ok(self.state()?.runs(limit)?)
    }

    /// The provisioning log, newest first, as `filter` selects it.
    pub fn logs(&mut self, filter: &LogFilter) -> Result<Vec<LogEntry>, SyncError> {
        Ok(self.state()?.logs(filter)?)
    }

    /// SHA-256 of the job's synchronization schema (as pretty JSON): a saved plan made under
    /// another schema is refused.
    pub fn schema_sha256(&self) -> &str {
        &self.schema_sha256
    }
}

/// Uploads `state` under `lease` (see [`Engine::checkpoint`]); nothing without a lease.
pub(crate) async fn checkpoint(
    lease: Option<&crate::blob::Lease>,
    state: &StateStore,
) -> Result<(), SyncError> {
    match lease {
        Some(lease) => Ok(lease.checkpoint(state.snapshot()?).await?),
        None => Ok(()),
    }
}

/// A runtime of its own, for the synchronous calls that reach the state blob.
fn runtime() -> Result<tokio::runtime::Runtime, SyncError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SyncError::Invalid(format!("cannot start an async runtime: {e}")))
}

/// Runs `work` (`what`, for the message if it panics) to its end on a thread and runtime of
/// its own: callable from synchronous code, inside an async runtime or not.
fn block_on<T: Send, E: Into<SyncError>, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    work: impl FnOnce() -> F + Send,
) -> Result<T, SyncError> {
    std::thread::scope(|s| {
        s.spawn(|| runtime()?.block_on(work()).map_err(Into::into))
            .join()
            .unwrap_or_else(|_| Err(SyncError::Invalid(format!("{what} panicked"))))
    })
}

/// Keeps the operations that provision one source object: a user, or a group with the
/// creation of its member users and its memberships.
fn only_object(
    mut plan: Plan,
    object: &str,
    source: &crate::snapshot::Snapshot,
    target: &crate::snapshot::Snapshot,
    anchor: &str,
) -> Plan {
    let members: std::collections::HashSet<String> = source
        .groups
        .iter()
        .find(|g| g.id == object)
        .map(|g| g.member_ids().map(str::to_string).collect())
        .unwrap_or_default();
    let wanted_anchor = format!("{}/{object}", source.tenant_id);
    let group_target: Option<String> = target
        .groups
        .iter()
        .chain(&target.deleted_groups)
        .find(|g| {
            g.text(anchor)
                .is_some_and(|a| a.eq_ignore_ascii_case(&wanted_anchor))
        })
        .map(|g| g.id.clone());
    let concerns = |op: &Operation| -> bool {
        let about = |id: &str| id == object || members.contains(id);
        match (op, op.source_id()) {
            (Operation::AddMember { group, .. }, _) => match group {
                ObjectRef::CreatedFrom(s) => s == object,
                ObjectRef::TargetId(t) => group_target.as_deref() == Some(t.as_str()),
            },
            (Operation::RemoveMember { group_id, .. }, _) => {
                group_target.as_deref() == Some(group_id.as_str())
            }
            (_, Some(source_id)) if op.object_kind() == ObjectKind::User => about(source_id),
            (_, source_id) => source_id == Some(object),
        }
    };
    plan.operations.retain(|op| concerns(op));
    plan.report.retain(|r| {
        r.source_id
            .as_deref()
            .is_none_or(|s| s == object || members.contains(s))
    });
    plan
}

#[cfg(test)]
mod tests {
    use super::doubling;
    use chrono::Duration;

    #[test]
    fn doubling_starts_at_the_base_and_stops_at_the_cap() {
        let (base, cap) = (Duration::hours(1), Duration::days(1));
        let waits: Vec<i64> = (1..=7)
            .map(|n| doubling(base, n, cap).num_hours())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 24, 24]);
        assert_eq!(doubling(base, 0, cap), base);
        assert_eq!(doubling(Duration::seconds(1), 200, cap), cap);
    }
}

#[cfg(test)]
mod sign_in_tests {
    use super::*;
    use base64::Engine as _;

    fn tenant(tenant_id: &str) -> TenantConfig {
        let text = format!(
            "tenant_id = \"{tenant_id}\"\ncredential = {{ kind = \"client-secret\", tenant_id = \"{tenant_id}\", client_id = \"app\", secret = {{ env = \"X\" }} }}\n"
        );
        toml::from_str(&text).expect("tenant config")
    }

    fn token(claims: serde_json::Value) -> String {
        let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            enc(br#"{"alg":"RS256","typ":"JWT"}"#),
            enc(claims.to_string().as_bytes())
        )
    }

    const A: &str = "11111111-1111-1111-1111-111111111111";
    const B: &str = "22222222-2222-2222-2222-222222222222";

    #[test]
    fn a_token_for_the_configured_tenant_gives_its_roles() {
        let t = token(serde_json::json!({"tid": A, "roles": ["User.Read.All"]}));
        let s =
            SignedIn::from_token("source", &tenant(&A.to_uppercase()), &t).expect("same tenant");
        assert_eq!(s.tenant_id.as_deref(), Some(A));
        assert_eq!(s.roles, ["User.Read.All"]);
    }

    #[test]
    fn a_token_for_another_tenant_is_refused_naming_both() {
        let t = token(serde_json::json!({"tid": B}));
        let e = SignedIn::from_token("target", &tenant(A), &t).expect_err("other tenant");
        let text = e.to_string();
        assert!(
            text.contains(A) && text.contains(B) && text.contains("[target]"),
            "{text}"
        );
        assert!(e.is_configuration());
    }

    #[test]
    fn a_domain_name_is_accepted_and_the_tokens_tenant_kept() {
        let t = token(serde_json::json!({"tid": B, "roles": []}));
        let s = SignedIn::from_token("source", &tenant("contoso.onmicrosoft.com"), &t)
            .expect("a domain cannot be compared");
        assert_eq!(s.tenant_id.as_deref(), Some(B));
        assert!(s.roles.is_empty());
    }

    #[test]
    fn an_opaque_token_cannot_be_checked_and_is_not_refused() {
        let s = SignedIn::from_token("source", &tenant(A), "opaque").expect("opaque");
        assert_eq!(s.tenant_id, None);
        assert!(s.roles.is_empty());
    }

    #[test]
    fn tenant_ids_are_told_from_domain_names() {
        assert!(is_tenant_guid(A));
        assert!(is_tenant_guid(" 11111111-1111-1111-1111-11111111111A "));
        assert!(!is_tenant_guid("contoso.onmicrosoft.com"));
        assert!(!is_tenant_guid("11111111111111111111111111111111"));
    }
}

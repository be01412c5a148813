//! `tenantsync demo [--users N] [--keep DIR]`: a self-contained tour against two emulated
//! tenants. It writes a job, checks both sign-ins and the target's cross-tenant policy, runs a
//! full first sync, changes the source through the emulator's admin interface, runs a delta
//! sync, and verifies that the target equals the expected state (exit 1 when it does not).
//!
//! [`Sandbox`] (an emulator with a seeded source and an empty target, and a job between them)
//! and [`verify`] (the target compared with what the source says it must be) are shared with
//! `tenantsync bench`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::{Value as Json, json};
use tenantsync_core::{
    CancelToken, Engine, Event, EventSink, OperationStatus, RunOutcome, RunReport, Stage,
    SyncRequest, anchor_attribute_for,
};
use tenantsync_emulator::TenantState;
use tenantsync_emulator::{Emulator, EmulatorConfig, SeedSpec, TenantConfig, TenantHandle};

use super::sync::stage_name;
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Member users in the source tenant (groups scale with it).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(20..=20_000))]
    users: u64,
    /// Keep the job configuration, secret files, state and CA certificate in this directory
    /// (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
}

/// The seeded source of a demo with `users` users: a tenth as many security groups (three of
/// them nested in another), two Microsoft 365 groups and two mail-enabled security groups.
pub(crate) fn demo_seed(users: usize) -> SeedSpec {
    SeedSpec {
        seed: 2026,
        users,
        security_groups: (users / 10).clamp(6, 200),
        m365_groups: 2,
        mail_enabled_groups: 2,
        nested: 3,
        avg_members: 20,
    }
}

/// The job's state file (`state_path` in the job) and SQLite's companions.
const STATE_FILES: [&str; 4] = [
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db-journal",
];

/// A running emulator with a seeded source tenant and an empty target tenant, and a
/// directory for the job configuration, its secret files and its state.
pub(crate) struct Sandbox {
    /// The running emulator (dropped first: it stops before the directory goes away).
    pub emulator: Emulator,
    /// Where job.toml, the secrets, the state and the CA certificate are.
    pub dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    /// The source tenant's configuration (id, domain, app and secret).
    pub source: TenantConfig,
    /// The target tenant's configuration.
    pub target: TenantConfig,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.emulator.base_url())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts the emulator: the source seeded with `seed`, the target empty. Files go to
    /// `keep` (created if needed; the state of an earlier run there is removed), or to a
    /// temporary directory removed on drop.
    pub fn start(seed: SeedSpec, keep: Option<&Path>) -> anyhow::Result<Sandbox> {
        let (dir, temp) = match keep {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
                let d = d
                    .canonicalize()
                    .with_context(|| format!("cannot resolve {}", d.display()))?;
                // The state of an earlier run belongs to an emulator that is gone: its delta
                // links and anchors mean nothing to the new one.
                for name in STATE_FILES {
                    let stale = d.join(name);
                    if stale.exists() {
                        std::fs::remove_file(&stale).with_context(|| {
                            format!("cannot remove the earlier run's {}", stale.display())
                        })?;
                    }
                }
                (d, None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("tenantsync-demo-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut config = EmulatorConfig::demo(2, 0, Some(seed));
        config.data_dir = Some(dir.clone());
        let source = config.tenants[0].clone();
        let target = config.tenants[1].clone();
        let emulator = Emulator::start(config).context("the emulator did not start")?;
        Ok(Sandbox {
            emulator,
            dir,
            _temp: temp,
            source,
            target,
        })
    }

    /// Admin access to the source tenant.
    pub fn source(&self) -> anyhow::Result<TenantHandle> {
        Ok(self.emulator.tenant(&self.source.tenant_id)?)
    }

    /// Admin access to the target tenant.
    pub fn target(&self) -> anyhow::Result<TenantHandle> {
        Ok(self.emulator.tenant(&self.target.tenant_id)?)
    }

    /// The directory extension that carries anchors in the target (created by the first sync
    /// on the target app).
    pub fn anchor_attribute(&self) -> anyhow::Result<String> {
        let app = secret_app(&self.target)?;
        Ok(anchor_attribute_for(&app.0))
    }

    /// The benchmarks' job: `groups` assigned, `concurrency` requests in flight per tenant,
    /// escrows retried after a second and no quarantine (a benchmark measures every write).
    pub fn write_bench_job(
        &self,
        groups: &[String],
        concurrency: usize,
    ) -> anyhow::Result<PathBuf> {
        self.write_job(
            groups,
            &format!(
                "concurrency = {concurrency}\nescrow_retry = \"1s\"\nquarantine_min_failures = 1000000\n"
            ),
        )
    }

    /// Writes `source.secret`, `target.secret` (owner-only) and `job.toml` assigning
    /// `groups`, with `extra` TOML appended to its `[sync]` table. Returns the job's path.
    pub fn write_job(&self, groups: &[String], extra_sync: &str) -> anyhow::Result<PathBuf> {
        let base = self.emulator.base_url();
        let ca = self
            .emulator
            .ca_pem_path()
            .ok_or_else(|| anyhow!("the emulator serves plain HTTP; the job needs its CA"))?;
        let cloud = format!(
            "{{ custom = {{ login_host = \"{base}\", graph_host = \"{base}\", ca_file = '{}' }} }}",
            ca.display()
        );
        let mut sides = String::new();
        for (name, tenant) in [("source", &self.source), ("target", &self.target)] {
            let (client_id, secret) = secret_app(tenant)?;
            let secret_path = self.dir.join(format!("{name}.secret"));
            write_private(&secret_path, &secret)?;
            sides.push_str(&format!(
                "[{name}]\ntenant_id = \"{tenant_id}\"\ncloud = {cloud}\ncredential = {{ kind = \"client-secret\", tenant_id = \"{tenant_id}\", client_id = \"{client_id}\", secret = {{ file = '{}' }} }}\n\n",
                secret_path.display(),
                tenant_id = tenant.tenant_id,
            ));
        }
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        let text = format!(
            "# Written by `tenantsync demo`: {source} -> {target} on the local emulator.\nname = \"demo\"\nstate_path = \"state.db\"\n\n[scope]\ngroups = [\n  {}\n]\n\n{sides}[sync]\n{extra_sync}\n",
            groups.join(",\n  "),
            source = self.source.domain,
            target = self.target.domain,
        );
        let path = self.dir.join("job.toml");
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// The client id and secret of a tenant's app that has one.
fn secret_app(tenant: &TenantConfig) -> anyhow::Result<(String, String)> {
    tenant
        .apps
        .iter()
        .find_map(|a| Some((a.client_id.clone(), a.client_secret.clone()?)))
        .ok_or_else(|| anyhow!("tenant {} has no app with a client secret", tenant.domain))
}

/// Writes a file readable by its owner only (where the platform has such permissions).
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A runtime for the engine (two workers: the machines this runs on are small).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints a cycle's progress: stages, a line every `every` operations, every failure, and
/// (when `each`) every operation.
pub(crate) struct Progress {
    each: bool,
    every: u64,
    done: AtomicU64,
}

impl Progress {
    /// Prints stages and failures, every operation when `each`, else a count every `every`.
    pub fn new(each: bool, every: u64) -> Progress {
        Progress {
            each,
            every: every.max(1),
            done: AtomicU64::new(0),
        }
    }
}

impl EventSink for Progress {
    fn emit(&self, event: Event) {
        let line = match event {
            Event::Stage { stage, message } => Some(format!("  [{}] {message}", stage_name(stage))),
            Event::Progress {
                stage: Stage::Observe,
                done,
                ..
            } => Some(format!("  [observe] {done} source users and groups")),
            Event::Progress { .. } => None,
            Event::Operation {
                op,
                display,
                status,
                detail,
            } => {
                let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
                if status != OperationStatus::Success {
                    Some(format!(
                        "    {status}: {op} {display}: {}",
                        detail.unwrap_or_default()
                    ))
                } else if self.each {
                    Some(format!("    {op:<13} {display}"))
                } else if n.is_multiple_of(self.every) {
                    Some(format!("  [apply] {n} operations done"))
                } else {
                    None
                }
            }
            Event::Warning { message } => Some(format!("  warning: {message}")),
            _ => None,
        };
        if let Some(line) = line {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}

/// Prints what a cycle did: outcome, reads, operations by kind, report by reason, requests.
pub(crate) fn print_summary(
    out: &mut impl Write,
    report: &RunReport,
    elapsed: Duration,
) -> std::io::Result<()> {
    let s = &report.plan.summary;
    writeln!(
        out,
        "  outcome: {} in {:.1} s ({} read: {} objects{})",
        report.outcome.as_str(),
        elapsed.as_secs_f64(),
        if report.full_read { "full" } else { "delta" },
        report.source_changes,
        if report.full_read { "" } else { " changed" },
    )?;
    writeln!(
        out,
        "  in scope: {} users, {} groups",
        s.users_in_scope, s.groups_in_scope
    )?;
    let ops: Vec<String> = s
        .operations
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "  operations: {} ({}); succeeded {}, failed {}, skipped {}",
        report.plan.operations.len(),
        if ops.is_empty() {
            "none".to_string()
        } else {
            ops.join(", ")
        },
        report.applied.succeeded,
        report.applied.failed.len(),
        report.applied.skipped
    )?;
    if !s.reported.is_empty() {
        let reported: Vec<String> = s.reported.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "  reported: {}", reported.join(", "))?;
    }
    for failed in &report.applied.failed {
        writeln!(
            out,
            "  failed: {} {}: {}",
            failed.op, failed.display, failed.message
        )?;
    }
    writeln!(
        out,
        "  requests: source {} sent, target {} sent ({} throttled, {} retried)",
        report.source_requests.sent,
        report.target_requests.sent,
        report.source_requests.throttled + report.target_requests.throttled,
        report.source_requests.transient_retries
            + report.target_requests.transient_retries
            + report.source_requests.replication_retries
            + report.target_requests.replication_retries,
    )
}

// ---------------------------------------------------------------------------------------------
// Verification

/// The target compared with the state the source and the job's scope call for.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Verification {
    /// Source users in scope, each found once in the target.
    pub users: usize,
    /// Security groups in scope, each found once in the target.
    pub groups: usize,
    /// Memberships expected (and compared) in the target's groups.
    pub memberships: usize,
    /// Assigned groups that are not security groups (Microsoft 365, mail-enabled): not created.
    pub unsupported_groups: usize,
    /// Group members of assigned security groups (nested groups): not synchronized.
    pub nested_memberships: usize,
    /// Target users of this job that are soft-deleted (their source left the scope or was
    /// deleted).
    pub soft_deleted_users: usize,
    /// Every way the target differs from the expected state, for people.
    pub differences: Vec<String>,
}

impl Verification {
    /// True when the target is exactly as expected.
    pub fn matches(&self) -> bool {
        self.differences.is_empty()
    }
}

fn text<'a>(object: &'a Json, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Json::as_str)
}

fn lower(object: &Json, name: &str) -> Option<String> {
    text(object, name).map(str::to_lowercase)
}

fn enabled(user: &Json) -> bool {
    user.get("accountEnabled").and_then(Json::as_bool) != Some(false)
}

/// Guests and external users of a tenant (as Entra tells them apart).
fn external(user: &Json) -> bool {
    text(user, "userPrincipalName").is_some_and(|u| u.to_ascii_uppercase().contains("#EXT#"))
        || text(user, "creationType").is_some_and(|c| c.eq_ignore_ascii_case("Invitation"))
        || text(user, "externalUserState").is_some()
        || text(user, "userType").is_some_and(|t| t.eq_ignore_ascii_case("Guest"))
}

/// A security group: security-enabled, not mail-enabled, not a Microsoft 365 group.
fn security_group(group: &Json) -> bool {
    let unified = group
        .get("groupTypes")
        .and_then(Json::as_array)
        .is_some_and(|t| t.iter().any(|x| x.as_str() == Some("Unified")));
    let flag = |n: &str| group.get(n).and_then(Json::as_bool).unwrap_or(false);
    !unified && flag("securityEnabled") && !flag("mailEnabled")
}

/// The address a source user is invited with.
fn invitation_address(user: &Json) -> Option<String> {
    lower(user, "mail").or_else(|| lower(user, "userPrincipalName"))
}

fn label(object: &Json) -> String {
    let name = text(object, "displayName").unwrap_or("?");
    match text(object, "mail").or_else(|| text(object, "userPrincipalName")) {
        Some(m) => format!("{name} <{m}>"),
        None => format!("{name} ({})", text(object, "id").unwrap_or("?")),
    }
}

fn sample(items: &BTreeSet<String>) -> String {
    let shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
    if items.len() > shown.len() {
        format!(
            "{} and {} more",
            shown.join(", "),
            items.len() - shown.len()
        )
    } else {
        shown.join(", ")
    }
}

/// Compares the target with what the source calls for, under a job that assigns
/// `assigned_groups` with the default options (nested groups skipped, Microsoft 365 groups
/// skipped, users who leave the scope soft-deleted) and the anchor in `anchor_attribute`:
///
/// * every user in scope (an enabled internal member user that is a direct member of an
///   assigned group, as Entra's assignment scoping) exists exactly once in the target as an
///   external user anchored to it, with its address as `mail`, and no other target user has
///   that address;
/// * no target user anchored to a source user out of scope is live, unless that source user
///   is disabled (disabled users are kept);
/// * every assigned security group exists exactly once, anchored, with the source's display
///   name and the same members (compared by address: the in-scope direct user members);
///   no group is a member of it;
/// * no assigned Microsoft 365 or mail-enabled group was created, by anchor or by name;
/// * no other target group is anchored to the source.
pub(crate) fn verify(
    source: &TenantState,
    target: &TenantState,
    assigned_groups: &[String],
    anchor_attribute: &str,
) -> Verification {
    let mut v = Verification::default();
    let prefix = format!("{}/", source.tenant_id.to_lowercase());
    let by_id = |objects: &[Json]| -> HashMap<String, Json> {
        objects
            .iter()
            .filter_map(|o| Some((lower(o, "id")?, o.clone())))
            .collect()
    };
    let source_users = by_id(&source.users);
    let source_groups = by_id(&source.groups);
    let members_of = |state: &TenantState, group: &str| -> Vec<String> {
        state
            .memberships
            .iter()
            .find(|(g, _)| g.eq_ignore_ascii_case(group))
            .map(|(_, m)| m.iter().map(|x| x.to_lowercase()).collect())
            .unwrap_or_default()
    };
    let assigned: BTreeSet<String> = assigned_groups.iter().map(|g| g.to_lowercase()).collect();

    // Users in scope.
    let mut in_scope: BTreeSet<String> = BTreeSet::new();
    for gid in &assigned {
        for member in members_of(source, gid) {
            if let Some(user) = source_users.get(&member)
                && enabled(user)
                && !external(user)
            {
                in_scope.insert(member);
            }
        }
    }

    // The target, indexed by the source object its anchor names.
    let anchored = |objects: &mut dyn Iterator<Item = &Json>| -> BTreeMap<String, Vec<Json>> {
        let mut map: BTreeMap<String, Vec<Json>> = BTreeMap::new();
        for o in objects {
            if let Some(source_id) =
                lower(o, anchor_attribute).and_then(|a| a.strip_prefix(&prefix).map(str::to_string))
            {
                map.entry(source_id).or_default().push(o.clone());
            }
        }
        map
    };
    let live_users = anchored(&mut target.users.iter());
    let live_groups = anchored(&mut target.groups.iter());
    let deleted_users = anchored(
        &mut target
            .deleted_items
            .iter()
            .filter(|d| d.kind == "user")
            .map(|d| &d.object),
    );
    let target_users = by_id(&target.users);
    let mut by_mail: HashMap<String, usize> = HashMap::new();
    for u in &target.users {
        if let Some(m) = lower(u, "mail") {
            *by_mail.entry(m).or_default() += 1;
        }
    }

    for sid in &in_scope {
        let user = &source_users[sid];
        let address = invitation_address(user).unwrap_or_default();
        match live_users.get(sid).map_or(&[][..], Vec::as_slice) {
            [] => v.differences.push(format!(
                "user {} is in scope but missing in the target",
                label(user)
            )),
            [t] => {
                v.users += 1;
                let mail = lower(t, "mail").unwrap_or_default();
                if mail != address {
                    v.differences.push(format!(
                        "user {}: the target user's mail is {mail:?}, expected {address:?}",
                        label(user)
                    ));
                }
                if !external(t) {
                    v.differences.push(format!(
                        "user {}: the target user is not an external (invited) user",
                        label(user)
                    ));
                }
                let same = by_mail.get(&address).copied().unwrap_or(0);
                if same > 1 {
                    v.differences.push(format!(
                        "user {}: {same} target users have the address {address}",
                        label(user)
                    ));
                }
            }
            many => v.differences.push(format!(
                "user {} exists {} times in the target",
                label(user),
                many.len()
            )),
        }
    }
    for (sid, users) in &live_users {
        if in_scope.contains(sid) {
            continue;
        }
        let why = match source_users.get(sid) {
            Some(u) if !enabled(u) => continue,
            Some(_) => "its source user is out of scope",
            None => "its source user was deleted",
        };
        for u in users {
            v.differences.push(format!(
                "target user {} is still live: {why}; it should be soft-deleted",
                label(u)
            ));
        }
    }
    v.soft_deleted_users = deleted_users
        .keys()
        .filter(|sid| !live_users.contains_key(*sid))
        .count();

    // Groups.
    let mut expected_groups: BTreeSet<&str> = BTreeSet::new();
    for gid in &assigned {
        let Some(group) = source_groups.get(gid) else {
            continue;
        };
        let name = text(group, "displayName").unwrap_or_default();
        if !security_group(group) {
            v.unsupported_groups += 1;
            if live_groups.contains_key(gid)
                || target
                    .groups
                    .iter()
                    .any(|g| text(g, "displayName") == Some(name))
            {
                v.differences.push(format!(
                    "group {name} is not a security group but was created in the target"
                ));
            }
            continue;
        }
        expected_groups.insert(gid);
        let source_members = members_of(source, gid);
        v.nested_memberships += source_members
            .iter()
            .filter(|m| source_groups.contains_key(*m))
            .count();
        let copies = live_groups.get(gid).map_or(&[][..], Vec::as_slice);
        let [copy] = copies else {
            v.differences.push(if copies.is_empty() {
                format!("group {name} is in scope but missing in the target")
            } else {
                format!("group {name} exists {} times in the target", copies.len())
            });
            continue;
        };
        v.groups += 1;
        if text(copy, "displayName") != Some(name) {
            v.differences.push(format!(
                "group {name}: the target group is named {:?}",
                text(copy, "displayName").unwrap_or_default()
            ));
        }
        let want: BTreeSet<String> = source_members
            .iter()
            .filter(|m| in_scope.contains(*m))
            .filter_map(|m| invitation_address(&source_users[m]))
            .collect();
        let mut have = BTreeSet::new();
        for m in members_of(target, text(copy, "id").unwrap_or_default()) {
            match target_users.get(&m) {
                Some(u) => {
                    have.insert(lower(u, "mail").unwrap_or_else(|| m.clone()));
                }
                None => v.differences.push(format!(
                    "group {name}: the target group has a member {m} that is not a user (nested groups are not synchronized)"
                )),
            }
        }
        v.memberships += want.len();
        let missing: BTreeSet<String> = want.difference(&have).cloned().collect();
        let extra: BTreeSet<String> = have.difference(&want).cloned().collect();
        if !missing.is_empty() {
            v.differences.push(format!(
                "group {name}: {} members missing in the target: {}",
                missing.len(),
                sample(&missing)
            ));
        }
        if !extra.is_empty() {
            v.differences.push(format!(
                "group {name}: {} members in the target that the source does not have: {}",
                extra.len(),
                sample(&extra)
            ));
        }
    }
    for (gid, groups) in &live_groups {
        if !expected_groups.contains(gid.as_str()) {
            for g in groups {
                v.differences.push(format!(
                    "target group {} is anchored to source group {gid}, which is not an assigned security group",
                    text(g, "displayName").unwrap_or_default()
                ));
            }
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The demo

/// The changes made to the source between the two syncs, for people and for checks.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// One line per change, for people.
    pub lines: Vec<String>,
    new_user_mail: String,
    renamed_group: Option<(String, String)>,
    deleted_user: Option<(String, String)>,
}

fn id_of(object: &Json) -> anyhow::Result<String> {
    lower(object, "id").ok_or_else(|| anyhow!("an emulator object has no id"))
}

/// Changes the source through the admin interface: a new user in a synced group, a renamed
/// group, a membership added and one removed, a deleted user.
pub(crate) fn change_source(sandbox: &Sandbox, assigned: &[String]) -> anyhow::Result<Changes> {
    let handle = sandbox.source()?;
    let state = handle.state();
    let users: HashMap<String, &Json> = state
        .users
        .iter()
        .filter_map(|u| Some((lower(u, "id")?, u)))
        .collect();
    let groups: Vec<&Json> = state
        .groups
        .iter()
        .filter(|g| security_group(g))
        .filter(|g| lower(g, "id").is_some_and(|id| assigned.contains(&id)))
        .collect();
    let members = |g: &Json| -> Vec<String> {
        lower(g, "id")
            .and_then(|id| state.memberships.get(&id).cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.to_lowercase())
            .filter(|m| users.get(m).is_some_and(|u| enabled(u) && !external(u)))
            .collect()
    };
    let mut groups_of: BTreeMap<String, usize> = BTreeMap::new();
    for g in &groups {
        for m in members(g) {
            *groups_of.entry(m).or_default() += 1;
        }
    }
    if groups.len() < 4 {
        bail!("the demo source needs at least four security groups");
    }
    let mut c = Changes::default();
    let name = |g: &Json| text(g, "displayName").unwrap_or_default().to_string();

    // A new user, in the first group.
    let domain = &sandbox.source.domain;
    let mail = format!("nora.newcomer@{domain}");
    let new_user = handle.add_user(json!({
        "userPrincipalName": mail,
        "mail": mail,
        "displayName": "Nora Newcomer",
        "givenName": "Nora",
        "surname": "Newcomer",
        "mailNickname": "nora.newcomer",
        "department": "Demo",
        "accountEnabled": true,
        "userType": "Member",
    }))?;
    handle.add_member(&id_of(groups[0])?, &id_of(&new_user)?)?;
    c.lines.push(format!(
        "added user Nora Newcomer <{mail}> to group {}",
        name(groups[0])
    ));
    c.new_user_mail = mail;

    // A renamed group.
    let old = name(groups[1]);
    let new = format!("{old} (renamed)");
    handle.update_group(&id_of(groups[1])?, json!({ "displayName": new }))?;
    c.lines.push(format!("renamed group {old} to {new}"));
    c.renamed_group = Some((old, new));

    // A membership added: a user in scope who is not yet in one of the other groups.
    let (joined, joiner) = groups[2..]
        .iter()
        .find_map(|g| {
            let current = members(g);
            groups_of
                .keys()
                .find(|u| !current.contains(*u))
                .map(|u| (*g, u.clone()))
        })
        .ok_or_else(|| anyhow!("every user in scope is in every group: no membership to add"))?;
    handle.add_member(&id_of(joined)?, &joiner)?;
    c.lines.push(format!(
        "added {} to group {}",
        label(users[&joiner]),
        name(joined)
    ));

    // A membership removed: a member of another group who stays in scope through a third.
    let (left, leaver) = groups[2..]
        .iter()
        .filter(|g| !std::ptr::eq(**g, joined))
        .find_map(|g| {
            members(g)
                .into_iter()
                .find(|m| groups_of.get(m).is_some_and(|n| *n >= 2) && *m != joiner)
                .map(|m| (*g, m))
        })
        .ok_or_else(|| anyhow!("no member in two groups to remove from one of them"))?;
    handle.remove_member(&id_of(left)?, &leaver)?;
    c.lines.push(format!(
        "removed {} from group {}",
        label(users[&leaver]),
        name(left)
    ));

    // A deleted user: someone in scope not touched above.
    let gone = groups_of
        .keys()
        .find(|u| **u != joiner && **u != leaver)
        .ok_or_else(|| anyhow!("no user to delete"))?
        .clone();
    handle.delete_user(&gone)?;
    let gone_mail = invitation_address(users[&gone]).unwrap_or_default();
    c.lines
        .push(format!("deleted user {}", label(users[&gone])));
    c.deleted_user = Some((gone, gone_mail));
    Ok(c)
}

/// Runs one cycle of the job, printing progress and the summary.
fn cycle(
    runtime: &tokio::runtime::Runtime,
    engine: &mut Engine,
    events: &Progress,
    out: &mut impl Write,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let report =
        runtime.block_on(engine.run(&SyncRequest::default(), events, &CancelToken::new()))?;
    print_summary(out, &report, started.elapsed())?;
    Ok(report)
}

fn print_verification(out: &mut impl Write, v: &Verification) -> std::io::Result<()> {
    if v.matches() {
        writeln!(
            out,
            "  verified: the target matches the source: {} users, {} security groups, {} memberships; {} unsupported groups not created; {} nested memberships not synchronized; soft-deleted users: {}",
            v.users,
            v.groups,
            v.memberships,
            v.unsupported_groups,
            v.nested_memberships,
            v.soft_deleted_users
        )
    } else {
        writeln!(
            out,
            "  MISMATCH: the target differs from the source in {} ways:",
            v.differences.len()
        )?;
        for d in &v.differences {
            writeln!(out, "    - {d}")?;
        }
        Ok(())
    }
}

pub fn run(args: DemoArgs) -> Result<Code, Failure> {
    let users = usize::try_from(args.users).map_err(Failure::config)?;
    // Not locked for the whole run: progress events may come from other threads.
    let mut out = std::io::stdout();
    let sandbox = Sandbox::start(demo_seed(users), args.keep.as_deref())?;
    let source = sandbox.source()?;
    let source_state = source.state();
    writeln!(
        out,
        "tenantsync demo: two emulated tenants at {}",
        sandbox.emulator.base_url()
    )?;
    writeln!(
        out,
        "  source {} ({}): {} users, {} groups, {} memberships",
        sandbox.source.domain,
        sandbox.source.tenant_id,
        source_state.users.len(),
        source_state.groups.len(),
        source_state
            .memberships
            .values()
            .map(Vec::len)
            .sum::<usize>()
    )?;
    writeln!(
        out,
        "  target {} ({}): empty",
        sandbox.target.domain, sandbox.target.tenant_id
    )?;
    // Every source group is assigned: the Microsoft 365 and mail-enabled ones show how
    // unsupported groups are reported and skipped.
    let assigned: Vec<String> = source_state
        .groups
        .iter()
        .filter_map(|g| lower(g, "id"))
        .collect();
    let job = sandbox.write_job(&assigned, "escrow_retry = \"1s\"")?;
    writeln!(
        out,
        "  job: {} (secrets in source.secret and target.secret beside it{})",
        job.display(),
        if args.keep.is_some() {
            ""
        } else {
            "; removed at the end, --keep DIR keeps them"
        }
    )?;

    let runtime = runtime()?;
    // Each step opens the job afresh, as separate `tenantsync` runs would: the second sync
    // goes on from the state file alone.
    let open = || Engine::open(&job).map_err(Failure::config);

    writeln!(out, "\n1. Preflight")?;
    out.flush()?;
    let mut engine = open()?;
    let report = runtime.block_on(async {
        // `init` creates the anchor extension; `check` then expects to find it.
        engine.init().await?;
        Ok::<_, tenantsync_core::SyncError>(engine.check().await)
    });
    let report = report.map_err(Failure::config)?;
    super::check::render(&mut out, &report)?;
    if !report.passed() {
        return Err(Failure::config(anyhow::anyhow!(
            "the preflight check failed: see the items above"
        )));
    }
    drop(engine);

    writeln!(out, "\n2. First sync (full)")?;
    out.flush()?;
    let first = cycle(&runtime, &mut open()?, &Progress::new(false, 100), &mut out)?;
    let anchor = sandbox.anchor_attribute()?;
    let target = sandbox.target()?;
    let v1 = verify(&source.state(), &target.state(), &assigned, &anchor);
    print_verification(&mut out, &v1)?;

    writeln!(out, "\n3. Changes in the source")?;
    let changes = change_source(&sandbox, &assigned)?;
    for line in &changes.lines {
        writeln!(out, "  - {line}")?;
    }

    writeln!(out, "\n4. Incremental sync (delta)")?;
    out.flush()?;
    let second = cycle(&runtime, &mut open()?, &Progress::new(true, 1), &mut out)?;
    let v2 = verify(&source.state(), &target.state(), &assigned, &anchor);
    print_verification(&mut out, &v2)?;

    writeln!(out, "\n5. Checks")?;
    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| -> std::io::Result<()> {
        writeln!(out, "  [{}] {what}", if ok { "ok" } else { "FAILED" })?;
        if !ok {
            failures.push(what);
        }
        Ok(())
    };
    let target_state = target.state();
    check(
        first.full_read && first.outcome == RunOutcome::Converged,
        format!(
            "first sync read the source in full and converged ({})",
            first.outcome.as_str()
        ),
    )?;
    check(
        !second.full_read && second.outcome == RunOutcome::Converged,
        format!(
            "second sync read only the changes by delta ({} objects) and converged ({})",
            second.source_changes,
            second.outcome.as_str()
        ),
    )?;
    check(
        v1.matches() && v2.matches(),
        "the target equals the expected state after each sync".into(),
    )?;
    let new_user_there = target_state
        .users
        .iter()
        .any(|u| lower(u, "mail").as_deref() == Some(changes.new_user_mail.as_str()));
    check(
        new_user_there,
        format!(
            "the new user {} was invited into the target",
            changes.new_user_mail
        ),
    )?;
    if let Some((old, new)) = &changes.renamed_group {
        let renamed = target_state
            .groups
            .iter()
            .any(|g| text(g, "displayName") == Some(new.as_str()));
        let old_gone = !target_state
            .groups
            .iter()
            .any(|g| text(g, "displayName") == Some(old.as_str()));
        check(
            renamed && old_gone,
            format!("the group {old} is now {new} in the target"),
        )?;
    }
    if let Some((id, mail)) = &changes.deleted_user {
        let soft_deleted = target_state.deleted_items.iter().any(|d| {
            d.kind == "user"
                && lower(&d.object, &anchor).is_some_and(|a| a.ends_with(&format!("/{id}")))
        });
        let live = target_state
            .users
            .iter()
            .any(|u| lower(u, &anchor).is_some_and(|a| a.ends_with(&format!("/{id}"))));
        check(
            soft_deleted && !live,
            format!(
                "the deleted user {mail} is soft-deleted in the target (restorable for 30 days)"
            ),
        )?;
    }
    let reported = |reason: &str| {
        first
            .plan
            .summary
            .reported
            .get(reason)
            .copied()
            .unwrap_or(0)
    };
    check(
        v1.nested_memberships > 0 && reported("nestedGroupSkipped") == v1.nested_memberships,
        format!(
            "{} nested group memberships were reported, not synchronized",
            reported("nestedGroupSkipped")
        ),
    )?;
    check(
        v1.unsupported_groups > 0 && reported("unsupportedGroupType") == v1.unsupported_groups,
        format!(
            "{} Microsoft 365 and mail-enabled groups were reported and not created",
            reported("unsupportedGroupType")
        ),
    )?;
    if failures.is_empty() {
        writeln!(
            out,
            "\nDemo passed: the target tenant matches the source tenant."
        )?;
        if let Some(dir) = &args.keep {
            writeln!(
                out,
                "The job, its secrets and state are kept in {}.",
                dir.display()
            )?;
        }
        Ok(Code::Ok)
    } else {
        writeln!(out, "\nDemo FAILED: {} checks failed.", failures.len())?;
        Ok(Code::Failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        tenant: &str,
        users: Vec<Json>,
        groups: Vec<Json>,
        m: &[(&str, &[&str])],
    ) -> TenantState {
        TenantState {
            tenant_id: tenant.into(),
            users,
            groups,
            memberships: m
                .iter()
                .map(|(g, ms)| (g.to_string(), ms.iter().map(|x| x.to_string()).collect()))
                .collect(),
            deleted_items: vec![],
        }
    }

    const A: &str = "ext_anchor";

    fn source() -> TenantState {
        state(
            "S",
            vec![
                json!({"id": "u1", "mail": "ann@s.test", "userPrincipalName": "ann@s.test", "accountEnabled": true}),
                json!({"id": "u2", "mail": "bob@s.test", "userPrincipalName": "bob@s.test", "accountEnabled": true}),
                json!({"id": "u3", "mail": "cy@s.test", "userPrincipalName": "cy@s.test", "accountEnabled": false}),
            ],
            vec![
                json!({"id": "g1", "displayName": "Eng", "securityEnabled": true, "mailEnabled": false, "groupTypes": []}),
                json!({"id": "g2", "displayName": "All", "securityEnabled": true, "mailEnabled": false, "groupTypes": ["Unified"]}),
                json!({"id": "g3", "displayName": "Sub", "securityEnabled": true, "mailEnabled": false, "groupTypes": []}),
            ],
            &[
                ("g1", &["u1", "u2", "u3", "g3"]),
                ("g2", &["u1"]),
                ("g3", &[]),
            ],
        )
    }

    fn target() -> TenantState {
        state(
            "T",
            vec![
                json!({"id": "t1", "mail": "ann@s.test", "creationType": "Invitation", A: "s/u1"}),
                json!({"id": "t2", "mail": "bob@s.test", "creationType": "Invitation", A: "s/u2"}),
            ],
            vec![
                json!({"id": "h1", "displayName": "Eng", A: "S/g1"}),
                json!({"id": "h3", "displayName": "Sub", A: "S/g3"}),
            ],
            &[("h1", &["t1", "t2"])],
        )
    }

    fn assigned() -> Vec<String> {
        vec!["g1".into(), "g2".into(), "g3".into()]
    }

    #[test]
    fn a_matching_target_verifies() {
        let v = verify(&source(), &target(), &assigned(), A);
        assert!(v.matches(), "{:#?}", v.differences);
        assert_eq!((v.users, v.groups, v.memberships), (2, 2, 2));
        assert_eq!(v.unsupported_groups, 1);
        assert_eq!(v.nested_memberships, 1);
    }

    #[test]
    fn missing_duplicate_and_extra_objects_are_differences() {
        let mut t = target();
        t.users.push(
            json!({"id": "t9", "mail": "bob@s.test", "creationType": "Invitation", A: "S/u2"}),
        );
        t.groups.push(json!({"id": "h2", "displayName": "All"}));
        t.memberships.insert("h3".into(), vec!["h1".into()]);
        t.memberships.insert("h1".into(), vec!["t1".into()]);
        let v = verify(&source(), &t, &assigned(), A);
        let all = v.differences.join("\n");
        assert!(all.contains("exists 2 times"), "{all}");
        assert!(all.contains("All is not a security group"), "{all}");
        assert!(all.contains("not a user"), "{all}");
        assert!(all.contains("1 members missing"), "{all}");
    }

    #[test]
    fn a_live_user_whose_source_was_deleted_is_a_difference() {
        let mut s = source();
        s.users.retain(|u| u["id"] != "u2");
        s.memberships.insert("g1".into(), vec!["u1".into()]);
        let v = verify(&s, &target(), &assigned(), A);
        let all = v.differences.join("\n");
        assert!(
            all.contains("was deleted; it should be soft-deleted"),
            "{all}"
        );
        assert!(
            all.contains("members in the target that the source does not have"),
            "{all}"
        );
        let mut t = target();
        let bob = t.users.remove(1);
        t.memberships.insert("h1".into(), vec!["t1".into()]);
        t.deleted_items.push(tenantsync_emulator::DeletedItemState {
            kind: "user".into(),
            object: bob,
        });
        let v = verify(&s, &t, &assigned(), A);
        assert!(v.matches(), "{:#?}", v.differences);
        assert_eq!(v.soft_deleted_users, 1);
    }

    #[test]
    fn a_renamed_group_and_a_wrong_mail_are_differences() {
        let mut t = target();
        t.groups[0]["displayName"] = json!("Engineering");
        t.users[0]["mail"] = json!("ann@other.test");
        let v = verify(&source(), &t, &assigned(), A);
        let all = v.differences.join("\n");
        assert!(all.contains("is named \"Engineering\""), "{all}");
        assert!(all.contains("expected \"ann@s.test\""), "{all}");
    }
}

//! Apply: one attempt to realize a plan in the target, with bounded concurrency and `$batch`
//! packing. Every operation's outcome is logged (and its anchor recorded) as soon as it is
//! known, before later stages start; a failing object is escrowed and never blocks the others.
//!
//! Each step is safe to repeat after a crash: invitations of an address that already exists
//! return that user, creations carry their anchor (so the next cycle matches instead of
//! creating again), "already a member" and "already gone" count as done.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde_json::{Value as Json, json};

use crate::graph::{BatchItem, GraphClient, GraphError, GraphRequest, UserType};
use crate::plan::{AttributeChange, ObjectKind, ObjectRef, Operation, OperationKind};
use crate::schema::{AttributeDefinition, AttributeType, SynchronizationSchema};
use crate::state::{Escrow, Failure, LogEntry, StateStore};
use crate::value::Value;

use super::SyncError;
use super::events::OperationStatus;
use super::events::{CancelToken, Event, EventSink, Stage};

/// Most members bound in one request (Graph's limit for `members@odata.bind`).
const MAX_BINDS: usize = 20;

/// Operations per chunk of a stage that sends one request (or two) per object (creations,
/// restores), per unit of `[sync] concurrency`: four to eight rounds of requests in flight.
/// Between chunks is a safe point where a run may stop at its max duration.
const CHUNK_SINGLE: usize = 4;

/// Operations per chunk of a stage packed into bulk requests (member additions, `$batch`ed
/// updates and deletions), per unit of `[sync] concurrency`: about one round of requests.
const CHUNK_PACKED: usize = MAX_BINDS;

/// One operation that failed, for the run report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedOperation {
    /// The operation kind.
    pub op: OperationKind,
    /// For people.
    pub display: String,
    /// The Graph error code, when Graph answered.
    pub error_code: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Graph's request id.
    pub request_id: Option<String>,
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOutcome {
    /// Operations that succeeded.
    pub succeeded: usize,
    /// Operations that failed (escrowed).
    pub failed: Vec<FailedOperation>,
    /// Operations not attempted: their object is escrowed until later, or what they depend
    /// on failed.
    pub skipped: usize,
    /// The run was cancelled before the end.
    pub cancelled: bool,
    /// The run stopped before the end at its max duration (a safe point between chunks);
    /// the next run continues with what is left.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// Operations not attempted because the run stopped at its max duration.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub remaining: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(crate) struct Applier<'a> {
    pub client: &'a GraphClient,
    pub state: &'a mut StateStore,
    pub events: &'a dyn EventSink,
    pub cancel: &'a CancelToken,
    pub run_id: i64,
    pub now: DateTime<Utc>,
    pub escrow_base: chrono::Duration,
    pub concurrency: usize,
    /// Source id -> target id of objects created in this run.
    created: HashMap<String, String>,
    /// The target ids in `created`, lower-cased, to spot an invitation answered with a user
    /// this run already made.
    created_targets: HashSet<String>,
    /// Target attribute definitions by (object, lower-cased attribute name), looked up once
    /// rather than through the schema for every attribute written.
    definitions: HashMap<(&'static str, String), &'a AttributeDefinition>,
    /// Source ids whose operation failed or was skipped: their dependents are skipped.
    blocked: HashSet<String>,
    escrows: BTreeMap<String, Escrow>,
    /// Target users that already carry an anchor (target id -> anchor), from the observed
    /// target: an invitation answered with one of them names a user this operation must not
    /// take over.
    anchored: HashMap<String, String>,
    /// The operations are the whole plan (not an on-demand part of it): escrows of objects
    /// it has nothing for are over.
    whole_plan: bool,
    /// Escrow keys kept although the plan has no operation for them (objects whose
    /// evaluation failed).
    kept_escrows: HashSet<String>,
    /// With the job's state in a blob, the run's lease: the state is uploaded after each
    /// stage but the last, which the run's end saves ([`super::checkpoint`]).
    lease: Option<&'a crate::blob::Lease>,
    /// No chunk starts at or after this time (the run's max duration less one request's
    /// time), once one chunk has run.
    deadline: Option<DateTime<Utc>>,
    outcome: ApplyOutcome,
    done: u64,
    total: u64,
}

/// The escrow key of an operation's object: the user or group, or the group whose members
/// change.
fn object_key(op: &Operation) -> String {
    match (op, op.source_id()) {
        (Operation::AddMember { group, .. }, _) => format!("members:{}", ref_text(group)),
        (Operation::RemoveMember { group_id, .. }, _) => format!("members:{group_id}"),
        (_, Some(source_id)) => format!("{}:{source_id}", kind_name(op.object_kind())),
        (_, None) => unreachable!("every user and group operation names its source object"),
    }
}

fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "user",
        ObjectKind::Group => "group",
        ObjectKind::Membership => "membership",
    }
}

fn ref_text(r: &ObjectRef) -> &str {
    match r {
        ObjectRef::TargetId(id) | ObjectRef::CreatedFrom(id) => id,
    }
}

fn display(op: &Operation) -> String {
    op.display().to_string()
}

/// The (source, target) ids the provisioning log names: the object written, or for
/// membership operations the member.
fn ids(op: &Operation) -> (Option<String>, Option<String>) {
    match op {
        Operation::AddMember { member, .. } => match member {
            ObjectRef::TargetId(id) => (None, Some(id.clone())),
            ObjectRef::CreatedFrom(id) => (Some(id.clone()), None),
        },
        Operation::RemoveMember { member_id, .. } => (None, Some(member_id.clone())),
        _ => (
            op.source_id().map(str::to_string),
            op.target_id().map(str::to_string),
        ),
    }
}

fn changes_of(op: &Operation) -> Json {
    match op {
        Operation::CreateUser { attributes, .. } | Operation::CreateGroup { attributes, .. } => {
            serde_json::to_value(attributes).unwrap_or_default()
        }
        Operation::UpdateUser { changes, .. } | Operation::UpdateGroup { changes, .. } => {
            serde_json::to_value(changes).unwrap_or_default()
        }
        _ => json!([]),
    }
}

/// A failure as the log and escrow see it.
struct Failed {
    code: Option<String>,
    message: String,
    request_id: Option<String>,
}

impl From<&GraphError> for Failed {
    fn from(e: &GraphError) -> Self {
        match e.api() {
            Some(api) => Failed {
                code: Some(api.code.clone()),
                message: e.to_string(),
                request_id: api.request_id.clone(),
            },
            None => Failed {
                code: None,
                message: e.to_string(),
                request_id: None,
            },
        }
    }
}

impl<'a> Applier<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        client: &'a GraphClient,
        state: &'a mut StateStore,
        schema: &'a SynchronizationSchema,
        events: &'a dyn EventSink,
        cancel: &'a CancelToken,
        run_id: i64,
        now: DateTime<Utc>,
        escrow_base: chrono::Duration,
        concurrency: usize,
    ) -> Result<Self, SyncError> {
        let escrows = state
            .escrows()?
            .into_iter()
            .map(|e| (e.object_key.clone(), e))
            .collect();
        let mut definitions = HashMap::new();
        for object in ["User", "Group"] {
            let target_object = schema.object_mapping(object).and_then(|(rule, mapping)| {
                schema
                    .directory(&rule.target_directory_name)?
                    .object(&mapping.target_object_name)
            });
            for a in target_object.into_iter().flat_map(|o| &o.attributes) {
                definitions.insert((object, a.name.to_ascii_lowercase()), a);
            }
        }
        Ok(Applier {
            client,
            state,
            events,
            cancel,
            run_id,
            now,
            escrow_base,
            concurrency: concurrency.max(1),
            created: HashMap::new(),
            created_targets: HashSet::new(),
            definitions,
            blocked: HashSet::new(),
            escrows,
            anchored: HashMap::new(),
            whole_plan: false,
            kept_escrows: HashSet::new(),
            lease: None,
            deadline: None,
            outcome: ApplyOutcome::default(),
            done: 0,
            total: 0,
        })
    }

    /// The target users that carry an anchor (target id -> anchor value) when the plan was
    /// made. Creating a user whose invitation returns one of them fails instead of
    /// overwriting that anchor: the address belongs to an object managed from elsewhere.
    pub(super) fn with_anchored(mut self, anchored: HashMap<String, String>) -> Self {
        self.anchored = anchored;
        self
    }

    /// Marks the operations as the whole plan: once applied, the escrow of every object the
    /// plan has no operation for is cleared (it converged another way, or left the scope).
    pub(super) fn whole_plan(mut self, whole: bool) -> Self {
        self.whole_plan = whole;
        self
    }

    /// Escrows that [`Applier::whole_plan`] must not clear: objects the plan has no operation
    /// for because they failed (a plugin call), not because they converged.
    pub(super) fn keep_escrows(mut self, keys: HashSet<String>) -> Self {
        self.kept_escrows = keys;
        self
    }

    /// Saves the state after each stage but the last under `lease` (the job's state in a blob): a failed
    /// checkpoint (the lease lost, the blob rewritten by someone else) stops the apply before
    /// the next stage writes anything.
    pub(super) fn with_checkpoints(mut self, lease: Option<&'a crate::blob::Lease>) -> Self {
        self.lease = lease;
        self
    }

    /// Applies the operations in order, one stage (a run of the same kind) at a time.
    /// Stops starting chunks at `deadline` (the clock of the Graph client reads it), once
    /// one chunk has run: every run makes progress, however long it took to get here.
    pub(super) fn stop_at(mut self, deadline: Option<DateTime<Utc>>) -> Self {
        self.deadline = deadline;
        self
    }

    /// True when the max duration is reached: no new chunk starts.
    fn out_of_time(&self, ran: bool) -> bool {
        ran && self
            .deadline
            .is_some_and(|d| self.client.clock().now() >= d)
    }

    /// Applies the operations in order, one stage (a run of the same kind) at a time, each
    /// stage in chunks. Between chunks (safe points: what the chunk did is recorded) the run
    /// stops when cancelled or at its max duration.
    pub(super) async fn apply(
        mut self,
        operations: &[Operation],
    ) -> Result<ApplyOutcome, SyncError> {
        self.total = operations.len() as u64;
        let mut start = 0;
        let mut ran = false;
        'stages: while start < operations.len() {
            if self.cancel.is_cancelled() {
                self.outcome.cancelled = true;
                break;
            }
            let kind = operations[start].kind();
            let end = operations[start..]
                .iter()
                .position(|o| o.kind() != kind)
                .map_or(operations.len(), |p| start + p);
            let per_slot = match kind {
                "createUser" | "createGroup" | "restoreUser" | "restoreGroup" => CHUNK_SINGLE,
                _ => CHUNK_PACKED,
            };
            let size = per_slot * self.concurrency;
            for (i, chunk) in operations[start..end].chunks(size).enumerate() {
                if self.cancel.is_cancelled() {
                    self.outcome.cancelled = true;
                    break 'stages;
                }
                if self.out_of_time(ran) {
                    self.outcome.incomplete = true;
                    self.outcome.remaining = operations.len() - (start + i * size);
                    self.events.emit(Event::Stage {
                        stage: Stage::Apply,
                        message: format!(
                            "max duration reached: stopping with {} operations left for the next run",
                            self.outcome.remaining
                        ),
                    });
                    break 'stages;
                }
                if i == 0 {
                    self.events.emit(Event::Stage {
                        stage: Stage::Apply,
                        message: format!("{kind}: {} operations", end - start),
                    });
                }
                let ready: Vec<&Operation> = chunk.iter().filter(|op| self.ready(op)).collect();
                self.run_stage(kind, &ready).await?;
                ran |= !ready.is_empty();
            }
            // The last stage's state is saved when the run ends, right after: one upload less.
            if end < operations.len() {
                super::checkpoint(self.lease, self.state).await?;
            }
            start = end;
        }
        if self.whole_plan {
            let planned: HashSet<String> = operations.iter().map(object_key).collect();
            let over: Vec<String> = self
                .escrows
                .keys()
                .filter(|k| !planned.contains(*k) && !self.kept_escrows.contains(*k))
                .cloned()
                .collect();
            for key in over {
                self.state.clear_escrow(&key)?;
                self.escrows.remove(&key);
            }
        }
        Ok(self.outcome)
    }

    /// False (and logged as skipped) when the object is escrowed until later, or when the
    /// operation needs an object whose creation failed.
    fn ready(&mut self, op: &Operation) -> bool {
        let key = object_key(op);
        let reason = if let Some(e) = self
            .escrows
            .get(&key)
            .filter(|e| e.next_attempt_at > self.now)
        {
            Some(format!(
                "escrowed after {} failed attempts ({}); next attempt at {}",
                e.attempts, e.error_message, e.next_attempt_at
            ))
        } else {
            let dependency = match op {
                Operation::AddMember { group, member, .. } => {
                    [group, member].into_iter().find_map(|r| match r {
                        ObjectRef::CreatedFrom(s) if self.blocked.contains(s) => Some(s.clone()),
                        _ => None,
                    })
                }
                Operation::UpdateUser { source_id, .. }
                | Operation::UpdateGroup { source_id, .. } => {
                    self.blocked.contains(source_id).then(|| source_id.clone())
                }
                _ => None,
            };
            dependency.map(|s| {
                format!("it needs the object from source {s}, which was not written in this cycle")
            })
        };
        match reason {
            None => true,
            Some(reason) => {
                // A creation that does not happen blocks what depends on the new object.
                if let Operation::CreateUser { source_id, .. }
                | Operation::CreateGroup { source_id, .. } = op
                {
                    self.blocked.insert(source_id.clone());
                }
                self.outcome.skipped += 1;
                self.log(op, "skipped", None, Some(&reason));
                self.events.emit(Event::Operation {
                    op: op.op_kind(),
                    display: display(op),
                    status: OperationStatus::Skipped,
                    detail: Some(reason),
                });
                false
            }
        }
    }

    fn log(&self, op: &Operation, status: &str, target: Option<&str>, error: Option<&str>) {
        self.log_failure(
            op,
            status,
            target,
            error.map(|m| Failed {
                code: None,
                message: m.to_string(),
                request_id: None,
            }),
        );
    }

    fn log_failure(
        &self,
        op: &Operation,
        status: &str,
        target: Option<&str>,
        failed: Option<Failed>,
    ) {
        let (source_id, target_id) = ids(op);
        let entry = LogEntry {
            run_id: self.run_id,
            at: self.client.clock().now(),
            kind: kind_name(op.object_kind()).into(),
            source_id,
            target_id: target.map(str::to_string).or(target_id),
            display: display(op),
            action: op.kind().into(),
            status: status.into(),
            changes: changes_of(op),
            error_code: failed.as_ref().and_then(|f| f.code.clone()),
            error_message: failed.as_ref().map(|f| f.message.clone()),
            request_id: failed.and_then(|f| f.request_id),
        };
        if let Err(e) = self.state.log(&entry) {
            self.events.emit(Event::Warning {
                message: format!("could not write the provisioning log: {e}"),
            });
        }
    }

    /// Records the result of one operation: log, escrow, events, progress.
    fn finish(
        &mut self,
        op: &Operation,
        target: Option<&str>,
        result: Result<(), Failed>,
    ) -> Result<(), SyncError> {
        let key = object_key(op);
        self.done += 1;
        match result {
            Ok(()) => {
                self.outcome.succeeded += 1;
                self.log(op, "success", target, None);
                if self.escrows.remove(&key).is_some() {
                    self.state.clear_escrow(&key)?;
                }
                self.events.emit(Event::Operation {
                    op: op.op_kind(),
                    display: display(op),
                    status: OperationStatus::Success,
                    detail: None,
                });
            }
            Err(mut failed) => {
                // Graph's 403 says no more than "Insufficient privileges": name the one
                // permission this operation needs in the target.
                if failed.code.as_deref() == Some("Authorization_RequestDenied")
                    && let Some((requirement, _)) = super::check::operation_permission(op.kind())
                {
                    failed.message.push_str(&format!(
                        "; this needs the application permission {} in the target (`tenantsync check` names what is missing and how to grant it)",
                        requirement.permission()
                    ));
                }
                if let Some(s) = op.source_id().map(str::to_string)
                    && matches!(
                        op,
                        Operation::CreateUser { .. }
                            | Operation::CreateGroup { .. }
                            | Operation::RestoreUser { .. }
                            | Operation::RestoreGroup { .. }
                    )
                {
                    self.blocked.insert(s);
                }
                let base = self.escrow_base;
                let escrow = self.state.escrow(
                    &Failure {
                        object_key: &key,
                        kind: key.split(':').next().unwrap_or("object"),
                        display: &display(op),
                        action: op.kind(),
                        error_code: failed.code.as_deref(),
                        error_message: &failed.message,
                    },
                    self.now,
                    |attempts| super::doubling(base, attempts, chrono::Duration::days(1)),
                )?;
                self.escrows.insert(key, escrow);
                self.events.emit(Event::Operation {
                    op: op.op_kind(),
                    display: display(op),
                    status: OperationStatus::Failure,
                    detail: Some(failed.message.clone()),
                });
                self.outcome.failed.push(FailedOperation {
                    op: op.op_kind(),
                    display: display(op),
                    error_code: failed.code.clone(),
                    message: failed.message.clone(),
                    request_id: failed.request_id.clone(),
                });
                self.log_failure(op, "failure", target, Some(failed));
            }
        }
        self.events.emit(Event::Progress {
            stage: Stage::Apply,
            done: self.done,
            total: self.total,
            object: Some(display(op)),
        });
        Ok(())
    }

    fn resolve(&self, r: &ObjectRef) -> Option<String> {
        match r {
            ObjectRef::TargetId(id) => Some(id.clone()),
            ObjectRef::CreatedFrom(s) => self.created.get(s).cloned(),
        }
    }

    /// Graph JSON for an attribute value, typed by the target attribute definition.
    fn graph_value(&self, object: &'static str, attribute: &str, value: &Value) -> Json {
        let definition = self
            .definitions
            .get(&(object, attribute.to_ascii_lowercase()));
        graph_json(value, definition.map(|d| (&d.kind, d.multivalued)))
    }

    fn patch_body(&self, object: &'static str, changes: &[AttributeChange]) -> Json {
        let mut body = serde_json::Map::new();
        for c in changes {
            body.insert(
                c.attribute.clone(),
                self.graph_value(object, &c.attribute, &c.new),
            );
        }
        Json::Object(body)
    }

    async fn run_stage(&mut self, kind: &str, ops: &[&Operation]) -> Result<(), SyncError> {
        if ops.is_empty() {
            return Ok(());
        }
        match kind {
            "createUser" => self.create_users(ops).await,
            "createGroup" => self.create_groups(ops).await,
            "addMember" => self.add_members(ops).await,
            "restoreUser" | "restoreGroup" => self.restores(ops).await,
            _ => self.batched(ops).await,
        }
    }

    async fn restores(&mut self, ops: &[&Operation]) -> Result<(), SyncError> {
        let client = self.client;
        let results: Vec<_> = stream::iter(ops.iter().map(|op| async move {
            // Reading the object back by its own kind: `/directoryObjects/{id}` would need
            // Directory.Read.All, which the job does not ask for.
            let (id, collection) = match op {
                Operation::RestoreUser { target_id, .. } => (target_id.clone(), "users"),
                Operation::RestoreGroup { target_id, .. } => (target_id.clone(), "groups"),
                _ => unreachable!("restore stage"),
            };
            let r = match client.restore_deleted(&id).await {
                Ok(_) => Ok(()),
                // Already restored by an earlier attempt: the object is live again.
                Err(e)
                    if e.status() == Some(404)
                        && client
                            .get_json(&format!("/{collection}/{id}?$select=id"))
                            .await
                            .is_ok() =>
                {
                    Ok(())
                }
                Err(e) => Err(Failed::from(&e)),
            };
            (*op, id, r)
        }))
        .buffer_unordered(self.concurrency)
        .collect()
        .await;
        for (op, id, r) in results {
            self.finish(op, Some(&id), r)?;
        }
        Ok(())
    }

    async fn create_users(&mut self, ops: &[&Operation]) -> Result<(), SyncError> {
        let client = self.client;
        let mut invites = stream::iter(ops.iter().map(|op| async move {
            let Operation::CreateUser {
                invitation,
                display,
                ..
            } = op
            else {
                unreachable!("createUser stage")
            };
            let user_type = if invitation.user_type.eq_ignore_ascii_case("Guest") {
                UserType::Guest
            } else {
                UserType::Member
            };
            let name = invitation
                .display_name
                .clone()
                .unwrap_or_else(|| display.clone());
            (
                *op,
                client
                    .invite_user(&invitation.email, &name, user_type)
                    .await,
            )
        }))
        .buffer_unordered(self.concurrency);
        let mut invited: Vec<(&Operation, String)> = Vec::new();
        while let Some((op, result)) = invites.next().await {
            let Operation::CreateUser { source_id, .. } = op else {
                continue;
            };
            match result {
                Ok(inv)
                    if self
                        .anchored
                        .contains_key(&inv.user_id.to_ascii_lowercase()) =>
                {
                    // Graph answers an invitation of an address that a user already has with
                    // that user. It carries an anchor (another source's, or another object's
                    // of this one): never take it over.
                    let anchor = &self.anchored[&inv.user_id.to_ascii_lowercase()];
                    let Operation::CreateUser { invitation, .. } = op else {
                        continue;
                    };
                    let failed = Failed {
                        code: None,
                        message: format!(
                            "the address {} belongs to target user {}, which is anchored to {anchor}; it is left alone. Give the source user another address, or remove that user's anchor if it should be managed by this job",
                            invitation.email, inv.user_id
                        ),
                        request_id: None,
                    };
                    self.finish(op, Some(&inv.user_id), Err(failed))?;
                }
                Ok(inv)
                    if self
                        .created_targets
                        .contains(&inv.user_id.to_ascii_lowercase()) =>
                {
                    // Two source users with one address: the second invitation returned the
                    // user just made for the first. One target user never has two sources.
                    let Operation::CreateUser { invitation, .. } = op else {
                        continue;
                    };
                    let failed = Failed {
                        code: None,
                        message: format!(
                            "the address {} was invited for another source user in this cycle (target user {}); two source users cannot share one target user: give one of them another address",
                            invitation.email, inv.user_id
                        ),
                        request_id: None,
                    };
                    self.finish(op, Some(&inv.user_id), Err(failed))?;
                }
                Ok(inv) => {
                    // Recorded before the attributes are written: after a crash here the next
                    // cycle matches this user through the state (or by mail) and anchors it.
                    self.state
                        .record_anchor(source_id, &inv.user_id, "user", self.now)?;
                    self.created_targets
                        .insert(inv.user_id.to_ascii_lowercase());
                    self.created.insert(source_id.clone(), inv.user_id.clone());
                    invited.push((op, inv.user_id));
                }
                Err(e) => self.finish(op, None, Err(Failed::from(&e)))?,
            }
            if self.cancel.is_cancelled() {
                break;
            }
        }
        drop(invites);
        // Attributes and anchor of the new users: fresh objects, so each PATCH rides out
        // replication lag on its own.
        let bodies: Vec<(&Operation, String, Json)> = invited
            .into_iter()
            .map(|(op, id)| {
                let Operation::CreateUser { attributes, .. } = op else {
                    unreachable!()
                };
                (op, id, self.patch_body("User", attributes))
            })
            .collect();
        let results: Vec<_> = stream::iter(bodies.into_iter().map(|(op, id, body)| async move {
            let r = client.update_user(&id, &body).await;
            (op, id, r)
        }))
        .buffer_unordered(self.concurrency)
        .collect()
        .await;
        for (op, id, r) in results {
            self.finish(op, Some(&id), r.map_err(|e| Failed::from(&e)))?;
        }
        Ok(())
    }

    async fn create_groups(&mut self, ops: &[&Operation]) -> Result<(), SyncError> {
        let client = self.client;
        let prepared: Vec<(&Operation, Json, Vec<String>)> = ops
            .iter()
            .map(|op| {
                let Operation::CreateGroup {
                    attributes,
                    members,
                    ..
                } = op
                else {
                    unreachable!("createGroup stage")
                };
                let mut body = self.patch_body("Group", attributes);
                let resolved: Vec<String> =
                    members.iter().filter_map(|m| self.resolve(m)).collect();
                let (now, later) = resolved.split_at(resolved.len().min(MAX_BINDS));
                if !now.is_empty() {
                    body["members@odata.bind"] = Json::Array(
                        now.iter()
                            .map(|id| Json::String(client.directory_object_url(id)))
                            .collect(),
                    );
                }
                (*op, body, later.to_vec())
            })
            .collect();
        let results: Vec<_> =
            stream::iter(prepared.into_iter().map(|(op, body, later)| async move {
                let created = client.create_group(&body).await;
                let result = match created {
                    Ok(id) if later.is_empty() => Ok((id, None)),
                    Ok(id) => {
                        let report = client.add_members(&id, &later).await;
                        Ok((id, Some(report)))
                    }
                    Err(e) => Err(e),
                };
                (op, result)
            }))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (op, result) in results {
            let Operation::CreateGroup { source_id, .. } = op else {
                continue;
            };
            match result {
                Ok((id, report)) => {
                    self.state
                        .record_anchor(source_id, &id, "group", self.now)?;
                    self.created_targets.insert(id.to_ascii_lowercase());
                    self.created.insert(source_id.clone(), id.clone());
                    let outcome = match report {
                        None => Ok(()),
                        Some(Ok(r)) if r.failed.is_empty() => Ok(()),
                        Some(Ok(r)) => Err(Failed {
                            code: r.failed.first().map(|f| f.error.code.clone()),
                            message: format!(
                                "the group was created, but {} members could not be added (first: {}); they are added on the next cycle",
                                r.failed.len(),
                                r.failed
                                    .first()
                                    .map(|f| f.error.message.clone())
                                    .unwrap_or_default()
                            ),
                            request_id: r.failed.first().and_then(|f| f.error.request_id.clone()),
                        }),
                        Some(Err(e)) => Err(Failed {
                            code: e.api().map(|a| a.code.clone()),
                            message: format!(
                                "the group was created, but adding its other members failed: {e}; they are added on the next cycle"
                            ),
                            request_id: e.api().and_then(|a| a.request_id.clone()),
                        }),
                    };
                    self.finish(op, Some(&id), outcome)?;
                }
                Err(e) => self.finish(op, None, Err(Failed::from(&e)))?,
            }
        }
        Ok(())
    }

    async fn add_members(&mut self, ops: &[&Operation]) -> Result<(), SyncError> {
        let client = self.client;
        // One bulk add per group, 20 members per request.
        let mut by_group: BTreeMap<String, Vec<(&Operation, String)>> = BTreeMap::new();
        for op in ops {
            let Operation::AddMember { group, member, .. } = op else {
                continue;
            };
            match (self.resolve(group), self.resolve(member)) {
                (Some(g), Some(m)) => by_group.entry(g).or_default().push((*op, m)),
                _ => {
                    self.outcome.skipped += 1;
                    self.log(
                        op,
                        "skipped",
                        None,
                        Some("its group or member was not created in this cycle"),
                    );
                }
            }
        }
        let results: Vec<_> = stream::iter(by_group.into_iter().map(|(group, items)| async move {
            let members: Vec<String> = items.iter().map(|(_, m)| m.clone()).collect();
            let report = client.add_members(&group, &members).await;
            (items, report)
        }))
        .buffer_unordered(self.concurrency)
        .collect()
        .await;
        for (items, report) in results {
            match report {
                Ok(report) => {
                    let failed: HashMap<&str, &crate::graph::MemberFailure> = report
                        .failed
                        .iter()
                        .map(|f| (f.member_id.as_str(), f))
                        .collect();
                    for (op, member) in items {
                        let r = match failed.get(member.as_str()) {
                            None => Ok(()),
                            Some(f) => Err(Failed {
                                code: Some(f.error.code.clone()),
                                message: f.error.to_string(),
                                request_id: f.error.request_id.clone(),
                            }),
                        };
                        self.finish(op, Some(&member), r)?;
                    }
                }
                Err(e) => {
                    for (op, member) in items {
                        self.finish(op, Some(&member), Err(Failed::from(&e)))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Independent single requests (updates, disables, deletions, member removals), packed
    /// into `$batch` requests of 20.
    async fn batched(&mut self, ops: &[&Operation]) -> Result<(), SyncError> {
        let items: Vec<BatchItem> = ops.iter().map(|op| self.batch_item(op)).collect();
        for (chunk_ops, chunk_items) in ops.chunks(MAX_BINDS * 10).zip(items.chunks(MAX_BINDS * 10))
        {
            if self.cancel.is_cancelled() {
                self.outcome.cancelled = true;
                return Ok(());
            }
            match self.client.batch(chunk_items.to_vec()).await {
                Ok(responses) => {
                    for ((op, item), response) in chunk_ops.iter().zip(chunk_items).zip(responses) {
                        let gone_ok = matches!(
                            op,
                            Operation::DeleteUser { .. }
                                | Operation::DeleteGroup { .. }
                                | Operation::RemoveMember { .. }
                        ) && response.status == 404;
                        let r = if response.is_success() || gone_ok {
                            Ok(())
                        } else if response.status == 404 {
                            // Possibly replication lag on an object created moments ago:
                            // one more try on its own, with the client's lag retries.
                            let mut req = GraphRequest::new(item.method.clone(), item.url.clone())
                                .retry_on_replication_lag();
                            req.body = item.body.clone();
                            self.client
                                .send(req)
                                .await
                                .map(|_| ())
                                .map_err(|e| Failed::from(&e))
                        } else {
                            let e = response.error(item);
                            Err(Failed {
                                code: e.as_ref().map(|e| e.code.clone()),
                                message: e.as_ref().map_or_else(
                                    || format!("status {}", response.status),
                                    |e| e.to_string(),
                                ),
                                request_id: e.and_then(|e| e.request_id),
                            })
                        };
                        self.finish(op, None, r)?;
                    }
                }
                Err(e) => {
                    for op in chunk_ops {
                        self.finish(op, None, Err(Failed::from(&e)))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn batch_item(&self, op: &Operation) -> BatchItem {
        match op {
            Operation::UpdateUser {
                target_id, changes, ..
            } => BatchItem::patch(
                format!("/users/{target_id}"),
                self.patch_body("User", changes),
            ),
            Operation::UpdateGroup {
                target_id, changes, ..
            } => BatchItem::patch(
                format!("/groups/{target_id}"),
                self.patch_body("Group", changes),
            ),
            Operation::DisableUser { target_id, .. } => BatchItem::patch(
                format!("/users/{target_id}"),
                json!({ "accountEnabled": false }),
            ),
            Operation::DeleteUser { target_id, .. } => {
                BatchItem::delete(format!("/users/{target_id}"))
            }
            Operation::DeleteGroup { target_id, .. } => {
                BatchItem::delete(format!("/groups/{target_id}"))
            }
            Operation::RemoveMember {
                group_id,
                member_id,
                ..
            } => BatchItem::delete(format!("/groups/{group_id}/members/{member_id}/$ref")),
            other => unreachable!("{} is not a batched operation", other.kind()),
        }
    }
}

/// A value as Graph JSON, typed by the attribute definition when there is one: booleans from
/// `"True"`/`"False"`, integers from digits, lists for multi-valued attributes.
pub(crate) fn graph_json(value: &Value, definition: Option<(&AttributeType, bool)>) -> Json {
    let Some((kind, multivalued)) = definition else {
        return value.to_json();
    };
    if value.is_null() {
        return Json::Null;
    }
    let single = |v: &Value| match (kind, v) {
        (AttributeType::Boolean, v) if v.as_bool().is_some() => {
            Json::Bool(v.as_bool() == Some(true))
        }
        (AttributeType::Integer, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(s.clone())),
        (AttributeType::String, Value::Bool(b)) => {
            Json::String(if *b { "True" } else { "False" }.into())
        }
        (AttributeType::String, Value::Number(n)) => Json::String(n.to_string()),
        (_, other) => other.to_json(),
    };
    if multivalued {
        Json::Array(value.as_list().iter().map(single).collect())
    } else {
        match value {
            Value::Multi(items) => items.first().map(single).unwrap_or(Json::Null),
            v => single(v),
        }
    }
}

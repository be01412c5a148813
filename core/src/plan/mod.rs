//! The planner: a pure, deterministic function from what the source and target tenants hold to
//! an ordered list of typed operations and a report of everything skipped and why. No I/O.
//!
//! ```text
//! (source snapshot, target snapshot, schema, scope, options, last known state) -> Plan
//! ```
//!
//! The same input always gives the same plan, and applying a plan to the target then planning
//! again gives an empty plan (see [`simulate`]). `docs/planning.md` describes every rule.

mod assignment;
mod incremental;
mod model;
mod options;
mod planner;
mod simulate;
mod transform;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::expr::FunctionRegistry;
use crate::schema::SynchronizationSchema;
use crate::snapshot::Snapshot;

pub use incremental::PlanKind;
pub(crate) use incremental::{Basis, Changes};
pub use model::{
    AttributeChange, Invitation, ObjectKind, ObjectRef, Operation, OperationKind, Plan, Reason,
    Refusal, ReportEntry, Summary,
};
#[cfg(test)]
use options::DEFAULT_ANCHOR_ATTRIBUTE;
pub use options::{
    GroupDeprovision, GroupNameConflict, M365Groups, NestedGroups, PlanOptions, ScopeMode,
    ScopeOptions, TargetOnlyMembers, UserDeprovision,
};
pub(crate) use planner::{anchor_source_id, in_scope};
pub use simulate::{SimulateError, simulate};

/// What earlier runs recorded, from the state store. All of it is optional: the anchors written
/// into the target are the source of truth, so an empty state never duplicates anything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastKnownState {
    /// Source object id -> target object id of objects this job created or matched. Used when
    /// a target object's anchor is not visible (yet): it is matched and its anchor written.
    #[serde(default)]
    pub anchors: BTreeMap<String, String>,
}

/// Everything the planner reads.
#[derive(Clone, Copy)]
pub struct PlanInput<'a> {
    /// The source tenant.
    pub source: &'a Snapshot,
    /// The target tenant.
    pub target: &'a Snapshot,
    /// The mapping schema.
    pub schema: &'a SynchronizationSchema,
    /// Which source objects are assigned.
    pub scope: &'a ScopeOptions,
    /// Group handling, deprovisioning, safety.
    pub options: &'a PlanOptions,
    /// What earlier runs recorded.
    pub state: &'a LastKnownState,
    /// The time expressions see as `Now()`, and the reference for the 30-day restore window.
    pub as_of: DateTime<Utc>,
    /// Plugin functions, called by name after the built-ins.
    pub functions: Option<&'a dyn FunctionRegistry>,
}

impl std::fmt::Debug for PlanInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanInput")
            .field("source", &self.source.tenant_id)
            .field("target", &self.target.tenant_id)
            .field("as_of", &self.as_of)
            .finish_non_exhaustive()
    }
}

/// Why no plan could be made at all (per-object problems go into the report instead).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The schema cannot be used.
    #[error("{message}; fix the schema and run `tenantsync schema validate` on it")]
    Schema {
        /// What is wrong.
        message: String,
    },
    /// The source snapshot has no tenant id, which anchors need.
    #[error(
        "the source snapshot has no tenantId: anchors name the source tenant, so it is required"
    )]
    MissingSourceTenant,
}

/// Makes the plan. Pure and deterministic.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    planner::Planner::new(input)?.run()
}

/// [`plan`], and whether the plan depends on `input.as_of` (an expression read the time, or a
/// deleted object's 30-day restore window was weighed). A plan that does not can be reused for
/// the same snapshots, anchors and options at any later time.
#[cfg(test)]
pub(crate) fn plan_timed(input: &PlanInput<'_>) -> Result<(Plan, bool), PlanError> {
    planner::Planner::new(input)?.run_timed()
}

/// [`plan_timed`], planning again only what `changes` concern when `basis` (what the previous
/// plan was made from, for the observation `changes` start from) allows it; with the basis of
/// the next plan and how this one was made. The plan is the one [`plan`] makes.
pub(crate) fn plan_incremental(
    input: &PlanInput<'_>,
    basis: Option<Basis>,
    changes: Option<&Changes>,
) -> Result<(Plan, bool, Option<Basis>, PlanKind), PlanError> {
    incremental::plan(input, basis, changes)
}

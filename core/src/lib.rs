//! # tenantsync-core
//!
//! The engine of tenantsync: one-way synchronization of Microsoft Entra ID users and security
//! groups, with their memberships, from a source tenant into a target tenant.
//!
//! A sync cycle observes both tenants, transforms the source's objects, plans, applies and
//! records; everything here that needs no network is pure and deterministic. The modules are
//! private: every name is reachable from the crate root, by area.
//!
//! - **Host API** (what the command line, the C ABI and other hosts build on): [`Engine`] opens
//!   a job; [`Engine::start`] gives a [`RunHandle`] over a [`Work`] (sync, plan, apply a
//!   [`SavedPlan`], ...); a run reports [`Event`]s to an [`EventSink`] and can be stopped with a
//!   [`CancelToken`]; it ends in a [`RunReport`] and a [`RunOutcome`], or a [`SyncError`] with
//!   its stable [`ErrorCode`] and [`advice`]. Preflight checks give a [`CheckReport`], the
//!   permissions a job needs are [`Requirement`]s ([`SOURCE_PERMISSIONS`],
//!   [`TARGET_PERMISSIONS`]). The job's state store is a [`StateStore`] ([`LogEntry`],
//!   [`RunRecord`], [`Escrow`], [`Quarantine`], [`ResetScope`]).
//! - **Configuration**: [`JobConfig`] (`job.toml`) with its [`TenantConfig`]s, [`SyncSettings`]
//!   and [`PluginConfig`]s; [`ConfigError`]; [`parse_duration`].
//! - **Values and expressions**: [`Value`], typed attribute values; Entra's attribute-mapping
//!   expression language: [`parse_expression`] gives an [`Expr`], [`evaluate_expression`]
//!   evaluates it against an [`EvalContext`] such as [`StaticContext`] over an [`AttributeMap`],
//!   with custom functions from a [`FunctionRegistry`].
//! - **Schema**: Microsoft Graph's [`SynchronizationSchema`] and its parts
//!   ([`SynchronizationRule`], [`ObjectMapping`], [`AttributeMapping`], [`ScopingFilter`], ...):
//!   [`load_schema`], [`load_schema_file`], [`schema_to_json_pretty`], [`default_schema`],
//!   [`validate_schema`], [`validate_schema_with`] and [`validate_schema_with_plugins`] giving
//!   [`ValidationIssue`]s.
//! - **Scoping**: [`CompiledFilter`], a schema's scoping filter ready to match objects.
//! - **Planning**: a tenant [`Snapshot`] of [`DirectoryObject`]s; [`plan`], a pure function from
//!   a [`PlanInput`] (snapshots, schema, [`PlanOptions`], [`LastKnownState`]) to a [`Plan`] of
//!   [`Operation`]s; [`simulate_plan`] applies a plan to a snapshot.
//! - **Plugins**: customer transforms as sandboxed WebAssembly components: a [`PluginHost`]
//!   loads each [`Plugin`] within [`Limits`]; a [`PluginRegistry`] of them is a
//!   [`FunctionRegistry`]; failures are [`LoadError`] and [`PluginError`].
//! - **Microsoft Graph and sign-in**: [`GraphClient`] ([`GraphClientOptions`], [`Cloud`]),
//!   [`Credential`]s signed in by a [`CredentialTokenProvider`] (a [`TokenProvider`]), secrets
//!   from a [`SecretSource`] kept in a [`Secret`]; errors [`GraphError`] and [`AuthError`].
//! - **The Entra bridge**: Entra's own cross-tenant synchronization jobs: [`list_entra_jobs`],
//!   [`entra_job_status`], [`plan_entra_schema_change`] and [`apply_entra_schema_change`] (with
//!   [`enable_entra_group_sync`]), [`read_entra_job`] and [`export_entra_job`]; the raw Graph
//!   calls are the [`entra_api`] module.
//! - **Clock**: the one injected [`Clock`] the engine reads time from: [`SystemClock`], or a
//!   [`ManualClock`] in tests.
//!
//! [`testing`] (hidden) holds internals the integration tests and fuzz targets exercise; it is
//! not part of the API.

#![warn(missing_docs)]

mod blob;
mod clock;
mod config;
mod entra;
mod expr;
mod graph;
mod plan;
mod plugin;
mod schema;
mod scope;
mod snapshot;
mod state;
mod sync;
mod value;

pub use value::Value;

// The host API: an engine per job, its runs and saved plans, their events and errors.
pub use state::{
    Escrow, Failure as EscrowFailure, LogEntry, LogFilter, Quarantine, ResetScope, RunRecord,
    Side as CacheSide, StateError, StateStore,
};
pub use sync::{
    ANCHOR_EXTENSION_NAME, ANCHOR_PERMISSION, ApplyOutcome, CancelToken, CheckItem, CheckReport,
    CheckStatus, Cycle, Engine, ErrorCode, Event, EventSink, FailedOperation, GROUPS_PERMISSION,
    NoEvents, ORGANIZATION_NAME as ORGANIZATION_NAME_PERMISSION, ObjectVersion, Observation,
    OperationStatus, POLICY_PERMISSION, Requirement, ResetSummary, RunHandle, RunMode, RunOutcome,
    RunReport, SOURCE_PERMISSIONS, SavedPlan, SignIns, SignedIn, Stage, StaleObject, SyncError,
    SyncRequest, TARGET_PERMISSIONS, USERS_PERMISSION, Work, WorkOutput, advice,
    anchor_attribute_for,
};

// Configuration.
pub use config::{
    ConfigError, JobConfig, PluginConfig, StateConfig, SyncSettings, TenantConfig, parse_duration,
};

// The job's state in Azure Storage.
pub use blob::{AzureBlobConfig, BlobError, LEASE_SECONDS, STORAGE_SCOPE, StorageCredential};

// Expressions.
pub use expr::{
    AttributeMap, AttributeMappingSource, CompareOp, EvalContext, EvalError, Evaluated, Expr,
    FunctionRegistry, MAX_EXPRESSION_CHARS, MappingSourceError, MappingSourceParameter,
    MappingSourceType, ParseError as ExpressionParseError, StaticContext,
    evaluate as evaluate_expression, parse as parse_expression,
};

// Schema.
pub use schema::{
    AttributeDefinition, AttributeMapping, AttributeType, DirectoryDefinition,
    Filter as ScopingFilter, FilterClause, FilterGroup, FilterOperand, FlowBehavior, FlowType,
    FlowTypes, MetadataEntry, Mutability, ObjectDefinition, ObjectMapping, ReferencedObject,
    Repair as SchemaRepair, SchemaError, Severity, SynchronizationRule, SynchronizationSchema,
    ValidationIssue, default_schema, has_errors as has_schema_errors, load as load_schema,
    load_as_published as load_schema_as_published, load_file as load_schema_file,
    to_json_pretty as schema_to_json_pretty, validate as validate_schema,
    validate_with as validate_schema_with, validate_with_plugins as validate_schema_with_plugins,
};

// Planning.
pub use plan::{
    AttributeChange, GroupDeprovision, GroupNameConflict, Invitation, LastKnownState, M365Groups,
    NestedGroups, ObjectKind, ObjectRef, Operation, OperationKind, Plan, PlanError, PlanInput,
    PlanKind, PlanOptions, Reason, Refusal, ReportEntry, ScopeMode, ScopeOptions, SimulateError,
    Summary as PlanSummary, TargetOnlyMembers, UserDeprovision, plan, simulate as simulate_plan,
};
pub use scope::{
    ClauseLocation, CompiledClause, CompiledFilter, Operator as ScopingOperator, ScopeError,
};
pub use snapshot::{DirectoryObject, GroupKind, Snapshot, SnapshotError, SnapshotIndex};

// Plugins.
pub use plugin::{
    FunctionSpec, Limits, LimitsConfig, LoadError, Plugin, PluginError, PluginHost, PluginLog,
    PluginRegistry, file_sha256,
};

// Microsoft Graph and sign-in.
pub use graph::auth::StaticToken;
pub use graph::certificate::{CertificateError, ClientCertificate};
pub use graph::client::encode_path_segment;
pub use graph::cloud::CloudError;
pub use graph::ops::{
    AddMembersReport, ExtensionProperty, Invitation as GraphInvitation, MemberFailure,
    Outcome as GraphOutcome, PartnerPolicy, UserType,
};
pub use graph::secret::SecretError;
pub use graph::transport::TransportError;
pub use graph::{
    AccessToken, AuthError, ClientStats as GraphClientStats, Cloud, Credential,
    CredentialTokenProvider, GraphApiError, GraphClient, GraphClientOptions, GraphError,
    GraphRequest, GraphResponse, Secret, SecretSource, SignInOptions, TokenProvider,
};

// The Entra bridge.
pub use entra::api as entra_api;
pub use entra::export::{
    EntraJob, Export as EntraExport, export as export_entra_job, read_job as read_entra_job,
};
pub use entra::{
    Applied as EntraSchemaApplied, Change as JsonChange, EntraError, GroupSyncOptions,
    JobView as EntraJobView, PERMISSIONS as ENTRA_PERMISSIONS, SchemaChange as EntraSchemaChange,
    apply_schema_change as apply_entra_schema_change, enable_group_sync as enable_entra_group_sync,
    job_status as entra_job_status, list_jobs as list_entra_jobs,
    load_backup as load_entra_schema_backup, plan_schema_change as plan_entra_schema_change,
    render_diff as render_entra_diff,
};

// Documented defaults and bounds (each knob's doc names its default).
pub use entra::group_sync::{GROUP_ATTRIBUTES, REQUIRED_GROUP_ATTRIBUTE};
pub use expr::MAX_VALUE_BYTES;
pub use graph::auth::{IMDS_TOKEN_ENDPOINT, REFRESH_MARGIN, TOKEN_LIFETIME_MAX};
pub use graph::certificate::ASSERTION_LIFETIME_SECS;
pub use graph::client::{
    DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_CONCURRENCY,
    DEFAULT_REPLICATION_ATTEMPTS, DEFAULT_REPLICATION_DELAY, DEFAULT_REQUEST_TIMEOUT,
    RETRY_AFTER_MAX,
};
pub use graph::ops::{INVITE_REDIRECT_URL, MAX_BINDS_PER_REQUEST};
pub use plugin::{
    DEFAULT_FUEL, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_MEMORY_BYTES,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_TIMEOUT_MS,
};

// The clock.
pub use clock::{Clock, ManualClock, Sleep, SystemClock};

#[doc(hidden)]
pub mod testing {
    //! Internals that the integration tests and the fuzz targets exercise directly. Not part of
    //! the API: anything here may change or go away without notice.

    pub use crate::blob::{HeldLease, StateBlobTool};
    pub use crate::graph::auth::SignInRefusal;
    pub use crate::graph::auth::{expires_in_of, sign_in_refusal, token_claims, token_lifetime};
    pub use crate::graph::batch::BatchItemResponse;
    pub use crate::graph::batch::parse_answers;
    pub use crate::graph::client::{path_of, resolve_url, retry_after, retry_after_value};
    pub use crate::graph::delta::{DeltaObject, MemberRef, RemovedReason};
    pub use crate::graph::{BatchItem, DeltaMerge, Page};
}

/// This library's version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

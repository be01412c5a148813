//! What a job tells the planner: scope, group handling, deprovisioning, safety.
//!
//! Every knob documents its default, and defaults are named constants.

use serde::{Deserialize, Serialize};

/// Default deletion threshold: Entra's own default of 500 deletions and disables per cycle.
pub(crate) const DEFAULT_DELETION_THRESHOLD: u64 = 500;
/// Default suffix for a group created beside a name-conflicting target group.
pub(crate) const DEFAULT_GROUP_NAME_SUFFIX: &str = " (synced)";
/// Default name of the target attribute that carries the anchor back to the source object.
pub(crate) const DEFAULT_ANCHOR_ATTRIBUTE: &str = "tenantsyncAnchor";
/// Days a soft-deleted object stays restorable in Entra.
pub(crate) const RESTORE_WINDOW_DAYS: i64 = 30;

/// Which source objects are in scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeOptions {
    /// `assigned` (default): only assigned users and groups, and the members of assigned groups.
    /// `all`: every internal member user of the source (groups still need assignment).
    #[serde(default)]
    pub mode: ScopeMode,
    /// Ids of the source users assigned to the job. Default: none.
    #[serde(default)]
    pub users: Vec<String>,
    /// Ids of the source groups assigned to the job. Default: none.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The scope mode, as Entra's "Sync only assigned users and groups" / "Sync all users".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeMode {
    /// Only assigned users and groups (and the members of assigned groups). The default.
    #[default]
    Assigned,
    /// Every internal member user of the source; groups still need to be assigned.
    All,
}

/// How nested groups (a group that is a member of an assigned group) are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NestedGroups {
    /// Nested group members are not synced; each is reported. The default, as Entra does.
    #[default]
    Skip,
    /// Transitive user members of an assigned group are in scope and become its members.
    Flatten,
}

/// How Microsoft 365 groups in scope are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum M365Groups {
    /// Reported and skipped. The default.
    #[default]
    Skip,
    /// Synchronized into a security group, as Entra's cross-tenant sync allows.
    AsSecurity,
}

/// What happens to a managed target user whose source user left the scope or was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserDeprovision {
    /// Soft delete (restorable for 30 days). The default, as Entra does.
    #[default]
    SoftDelete,
    /// Block sign-in (`accountEnabled = false`) and keep the user.
    Disable,
    /// Leave the user as it is (reported).
    None,
}

/// What happens to a managed target group whose source group left the scope or was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupDeprovision {
    /// Delete the group. The default.
    #[default]
    Delete,
    /// Leave the group as it is (reported).
    None,
}

/// What happens when a group's name is taken in the target by a group this job does not manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupNameConflict {
    /// Report the conflict and do not create the group. The default.
    #[default]
    Skip,
    /// Take over the existing target group (it becomes managed: anchored and kept equal).
    Adopt,
    /// Create the group with `group_name_suffix` appended to its name.
    Suffix,
}

/// What happens to members of a managed target group that are not members in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetOnlyMembers {
    /// Remove them: the source is authoritative. The default.
    #[default]
    Remove,
    /// Keep members this job does not manage (target-local users); remove only managed ones.
    KeepUnmanaged,
}

/// Every option the planner takes, as the `[options]` and `[safety]` parts of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanOptions {
    /// Nested groups: `skip` (default) or `flatten`.
    pub nested_groups: NestedGroups,
    /// Microsoft 365 groups: `skip` (default) or `as-security`.
    pub m365_groups: M365Groups,
    /// Deprovisioning of users: `soft-delete` (default), `disable` or `none`.
    pub user_deprovision: UserDeprovision,
    /// Deprovisioning of groups: `delete` (default) or `none`.
    pub group_deprovision: GroupDeprovision,
    /// Group name taken by an unmanaged target group: `skip` (default), `adopt` or `suffix`.
    pub group_name_conflict: GroupNameConflict,
    /// The suffix for `group_name_conflict = "suffix"`. Default `" (synced)"`.
    pub group_name_suffix: String,
    /// Members only in the target: `remove` (default) or `keep-unmanaged`.
    pub target_only_members: TargetOnlyMembers,
    /// Refuse the plan when its deletions and disables exceed this count. Default 500.
    pub deletion_threshold: u64,
    /// Also refuse when they exceed this percentage of the managed target objects. Default: off.
    pub deletion_threshold_percent: Option<f64>,
    /// Let a plan over the threshold through (Entra's "allow deletes"). Default false.
    pub allow_deletes: bool,
    /// The target attribute holding the anchor `"{sourceTenantId}/{sourceObjectId}"`; a directory
    /// extension property such as `extension_<appId>_tenantsyncAnchor`. Default
    /// `tenantsyncAnchor`.
    pub anchor_attribute: String,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            nested_groups: NestedGroups::default(),
            m365_groups: M365Groups::default(),
            user_deprovision: UserDeprovision::default(),
            group_deprovision: GroupDeprovision::default(),
            group_name_conflict: GroupNameConflict::default(),
            group_name_suffix: DEFAULT_GROUP_NAME_SUFFIX.to_string(),
            target_only_members: TargetOnlyMembers::default(),
            deletion_threshold: DEFAULT_DELETION_THRESHOLD,
            deletion_threshold_percent: None,
            allow_deletes: false,
            anchor_attribute: DEFAULT_ANCHOR_ATTRIBUTE.to_string(),
        }
    }
}

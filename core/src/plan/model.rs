//! The plan: typed operations, the report of everything skipped and why, and a summary.
//!
//! This is the stable JSON form that `tenantsync plan --json` and `sync --dry-run` print.

use serde::{Deserialize, Serialize, Serializer};

use crate::value::Value;

/// A reference to a target object: one that exists (by target id), or one that an earlier
/// operation of the same plan creates (by the source object id it is created from).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectRef {
    /// An existing target object.
    TargetId(String),
    /// The target object created from this source object earlier in the plan.
    CreatedFrom(String),
}

/// One attribute to write: its name, the target's current value and the new one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeChange {
    /// The target attribute.
    pub attribute: String,
    /// The current target value (`null` when absent or for a new object).
    #[serde(default)]
    pub old: Value,
    /// The value to write.
    pub new: Value,
    /// The mapping used `Redact()`: values show as `[Redact]` in plans and logs.
    #[serde(default)]
    pub redact: bool,
}

/// What redacted values look like wherever they are shown.
pub(crate) const REDACTED: &str = "[Redact]";

impl Serialize for AttributeChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("AttributeChange", 4)?;
        s.serialize_field("attribute", &self.attribute)?;
        if self.redact {
            let shown = |v: &Value| {
                if v.is_null() {
                    Value::Null
                } else {
                    REDACTED.into()
                }
            };
            s.serialize_field("old", &shown(&self.old))?;
            s.serialize_field("new", &shown(&self.new))?;
            s.serialize_field("redact", &true)?;
        } else {
            s.serialize_field("old", &self.old)?;
            s.serialize_field("new", &self.new)?;
        }
        s.end()
    }
}

/// The invitation that creates an external user in the target (Graph `POST /invitations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// `invitedUserEmailAddress`.
    pub email: String,
    /// `invitedUserDisplayName`.
    pub display_name: Option<String>,
    /// `invitedUserType`: `Member` or `Guest`.
    pub user_type: String,
}

/// What an operation does, as named in plans, events and the provisioning log. Stable: new
/// kinds may be added, existing names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum OperationKind {
    /// Restore a soft-deleted target user.
    RestoreUser,
    /// Invite and write a new target user.
    CreateUser,
    /// Write changed attributes of a target user.
    UpdateUser,
    /// Block sign-in of a target user.
    DisableUser,
    /// Soft-delete a target user.
    DeleteUser,
    /// Restore a soft-deleted target group.
    RestoreGroup,
    /// Create a target group.
    CreateGroup,
    /// Write changed attributes of a target group.
    UpdateGroup,
    /// Add a member to a target group.
    AddMember,
    /// Remove a member from a target group.
    RemoveMember,
    /// Delete a target group.
    DeleteGroup,
}

impl OperationKind {
    /// The kind's name as in JSON (`createUser`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::RestoreUser => "restoreUser",
            OperationKind::CreateUser => "createUser",
            OperationKind::UpdateUser => "updateUser",
            OperationKind::DisableUser => "disableUser",
            OperationKind::DeleteUser => "deleteUser",
            OperationKind::RestoreGroup => "restoreGroup",
            OperationKind::CreateGroup => "createGroup",
            OperationKind::UpdateGroup => "updateGroup",
            OperationKind::AddMember => "addMember",
            OperationKind::RemoveMember => "removeMember",
            OperationKind::DeleteGroup => "deleteGroup",
        }
    }
}

impl std::fmt::Display for OperationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One step of a plan. Each is safe to repeat after a crash: the apply stage treats "already
/// exists", "already a member" and "already gone" as done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Operation {
    /// Restore a soft-deleted target user that this job created, then update it.
    #[serde(rename_all = "camelCase")]
    RestoreUser {
        /// The deleted target user.
        target_id: String,
        /// Its source user.
        source_id: String,
        /// For people.
        display: String,
    },
    /// Invite the source user into the target, then write its attributes and anchor.
    #[serde(rename_all = "camelCase")]
    CreateUser {
        /// The source user.
        source_id: String,
        /// For people.
        display: String,
        /// The invitation.
        invitation: Invitation,
        /// Attributes written right after the invitation, the anchor among them.
        attributes: Vec<AttributeChange>,
    },
    /// Write changed attributes of a managed target user.
    #[serde(rename_all = "camelCase")]
    UpdateUser {
        /// The target user.
        target_id: String,
        /// Its source user.
        source_id: String,
        /// For people.
        display: String,
        /// What to write.
        changes: Vec<AttributeChange>,
        /// True when this update blocks sign-in (`accountEnabled` true -> false): it counts
        /// towards the deletion threshold as a disable.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        disables: bool,
    },
    /// Block sign-in of a managed target user whose source left the scope.
    #[serde(rename_all = "camelCase")]
    DisableUser {
        /// The target user.
        target_id: String,
        /// Its source user, when known.
        source_id: String,
        /// For people.
        display: String,
        /// Why.
        reason: String,
    },
    /// Soft delete a managed target user whose source left the scope or was deleted.
    #[serde(rename_all = "camelCase")]
    DeleteUser {
        /// The target user.
        target_id: String,
        /// Its source user.
        source_id: String,
        /// For people.
        display: String,
        /// Why.
        reason: String,
    },
    /// Restore a soft-deleted target group that this job created, then update it.
    #[serde(rename_all = "camelCase")]
    RestoreGroup {
        /// The deleted target group.
        target_id: String,
        /// Its source group.
        source_id: String,
        /// For people.
        display: String,
    },
    /// Create a security group with its attributes, anchor and members.
    #[serde(rename_all = "camelCase")]
    CreateGroup {
        /// The source group.
        source_id: String,
        /// For people.
        display: String,
        /// The group's attributes, the anchor among them.
        attributes: Vec<AttributeChange>,
        /// Its members (the first 20 bound at creation, the rest added after).
        members: Vec<ObjectRef>,
    },
    /// Write changed attributes of a managed target group.
    #[serde(rename_all = "camelCase")]
    UpdateGroup {
        /// The target group.
        target_id: String,
        /// Its source group.
        source_id: String,
        /// For people.
        display: String,
        /// What to write.
        changes: Vec<AttributeChange>,
    },
    /// Add a member to a managed group.
    #[serde(rename_all = "camelCase")]
    AddMember {
        /// The group.
        group: ObjectRef,
        /// The member.
        member: ObjectRef,
        /// For people: "member in group".
        display: String,
    },
    /// Remove a member from a managed group.
    #[serde(rename_all = "camelCase")]
    RemoveMember {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// For people: "member in group".
        display: String,
    },
    /// Delete a managed target group whose source left the scope or was deleted.
    #[serde(rename_all = "camelCase")]
    DeleteGroup {
        /// The target group.
        target_id: String,
        /// Its source group.
        source_id: String,
        /// For people.
        display: String,
        /// Why.
        reason: String,
    },
}

impl Operation {
    /// What the operation is about: a user, a group, or a membership.
    pub fn object_kind(&self) -> ObjectKind {
        match self {
            Operation::RestoreUser { .. }
            | Operation::CreateUser { .. }
            | Operation::UpdateUser { .. }
            | Operation::DisableUser { .. }
            | Operation::DeleteUser { .. } => ObjectKind::User,
            Operation::RestoreGroup { .. }
            | Operation::CreateGroup { .. }
            | Operation::UpdateGroup { .. }
            | Operation::DeleteGroup { .. } => ObjectKind::Group,
            Operation::AddMember { .. } | Operation::RemoveMember { .. } => ObjectKind::Membership,
        }
    }

    /// The source user or group the operation writes; `None` for membership operations.
    pub fn source_id(&self) -> Option<&str> {
        match self {
            Operation::RestoreUser { source_id, .. }
            | Operation::CreateUser { source_id, .. }
            | Operation::UpdateUser { source_id, .. }
            | Operation::DisableUser { source_id, .. }
            | Operation::DeleteUser { source_id, .. }
            | Operation::RestoreGroup { source_id, .. }
            | Operation::CreateGroup { source_id, .. }
            | Operation::UpdateGroup { source_id, .. }
            | Operation::DeleteGroup { source_id, .. } => Some(source_id),
            Operation::AddMember { .. } | Operation::RemoveMember { .. } => None,
        }
    }

    /// The existing target user or group the operation writes; `None` for creations and
    /// membership operations.
    pub fn target_id(&self) -> Option<&str> {
        match self {
            Operation::RestoreUser { target_id, .. }
            | Operation::UpdateUser { target_id, .. }
            | Operation::DisableUser { target_id, .. }
            | Operation::DeleteUser { target_id, .. }
            | Operation::RestoreGroup { target_id, .. }
            | Operation::UpdateGroup { target_id, .. }
            | Operation::DeleteGroup { target_id, .. } => Some(target_id),
            _ => None,
        }
    }

    /// The object's name for people (for memberships, "member in group").
    pub fn display(&self) -> &str {
        match self {
            Operation::RestoreUser { display, .. }
            | Operation::CreateUser { display, .. }
            | Operation::UpdateUser { display, .. }
            | Operation::DisableUser { display, .. }
            | Operation::DeleteUser { display, .. }
            | Operation::RestoreGroup { display, .. }
            | Operation::CreateGroup { display, .. }
            | Operation::UpdateGroup { display, .. }
            | Operation::DeleteGroup { display, .. }
            | Operation::AddMember { display, .. }
            | Operation::RemoveMember { display, .. } => display,
        }
    }

    /// True for the operations that count towards the deletion threshold.
    pub fn is_deprovisioning(&self) -> bool {
        match self {
            Operation::DisableUser { .. }
            | Operation::DeleteUser { .. }
            | Operation::DeleteGroup { .. } => true,
            Operation::UpdateUser { disables, .. } => *disables,
            _ => false,
        }
    }

    /// The operation's kind.
    pub fn op_kind(&self) -> OperationKind {
        match self {
            Operation::RestoreUser { .. } => OperationKind::RestoreUser,
            Operation::CreateUser { .. } => OperationKind::CreateUser,
            Operation::UpdateUser { .. } => OperationKind::UpdateUser,
            Operation::DisableUser { .. } => OperationKind::DisableUser,
            Operation::DeleteUser { .. } => OperationKind::DeleteUser,
            Operation::RestoreGroup { .. } => OperationKind::RestoreGroup,
            Operation::CreateGroup { .. } => OperationKind::CreateGroup,
            Operation::UpdateGroup { .. } => OperationKind::UpdateGroup,
            Operation::AddMember { .. } => OperationKind::AddMember,
            Operation::RemoveMember { .. } => OperationKind::RemoveMember,
            Operation::DeleteGroup { .. } => OperationKind::DeleteGroup,
        }
    }

    /// The operation's name as in the JSON `op` field.
    pub fn kind(&self) -> &'static str {
        self.op_kind().as_str()
    }

    /// A one-line description for people.
    pub fn describe(&self) -> String {
        match self {
            Operation::RestoreUser { display, .. } => format!("restore user {display}"),
            Operation::CreateUser {
                display,
                invitation,
                ..
            } => format!(
                "create user {display} (invite {} as {})",
                invitation.email, invitation.user_type
            ),
            Operation::UpdateUser {
                display, changes, ..
            } => format!("update user {display}: {}", describe_changes(changes)),
            Operation::DisableUser {
                display, reason, ..
            } => format!("disable user {display}: {reason}"),
            Operation::DeleteUser {
                display, reason, ..
            } => format!("soft-delete user {display}: {reason}"),
            Operation::RestoreGroup { display, .. } => format!("restore group {display}"),
            Operation::CreateGroup {
                display, members, ..
            } => format!("create group {display} with {} members", members.len()),
            Operation::UpdateGroup {
                display, changes, ..
            } => format!("update group {display}: {}", describe_changes(changes)),
            Operation::AddMember { display, .. } => format!("add member {display}"),
            Operation::RemoveMember { display, .. } => format!("remove member {display}"),
            Operation::DeleteGroup {
                display, reason, ..
            } => format!("delete group {display}: {reason}"),
        }
    }
}

fn describe_changes(changes: &[AttributeChange]) -> String {
    changes
        .iter()
        .map(|c| {
            if c.redact {
                format!("{}={REDACTED}", c.attribute)
            } else {
                format!("{} {} -> {}", c.attribute, c.old, c.new)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kind of object a report entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    /// A user.
    User,
    /// A group.
    Group,
    /// A membership (a member of a group).
    Membership,
}

/// Why something was skipped or needs attention. Each has a stable camelCase code in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// An assigned id does not exist in the source.
    AssignedObjectNotFound,
    /// The object fails the mapping's scoping filter.
    ScopingFilter,
    /// The source user is not an internal member of the source (a guest or external user).
    NotInternalUser,
    /// A disabled source user that does not exist in the target yet is not created.
    DisabledNotProvisioned,
    /// The group is not a security group (mail-enabled, Microsoft 365, distribution).
    UnsupportedGroupType,
    /// A group nested in an assigned group, with `nested_groups = "skip"`.
    NestedGroupSkipped,
    /// A member of an assigned group is not in user scope.
    MemberNotInScope,
    /// A member is neither a user nor a group of the source snapshot.
    UnknownMember,
    /// A member is in scope but has no target user in this plan (its user was skipped).
    MemberNotProvisioned,
    /// Two or more source objects match one target object: none is matched or created.
    MatchConflict,
    /// A source object matches several target objects: it is neither matched nor created.
    AmbiguousMatch,
    /// The only match is an internal user of the target, which tenantsync never manages.
    InternalTargetUser,
    /// A group name is taken in the target by a group this job does not manage.
    GroupNameConflict,
    /// A user has neither `mail` nor a user principal name to invite.
    NoInvitationAddress,
    /// An expression failed to evaluate for this object.
    EvaluationError,
    /// A plugin function ran past its deadline for this object.
    PluginTimeout,
    /// A plugin function used all its fuel for this object.
    PluginOutOfFuel,
    /// A plugin function needed more memory than its cap for this object.
    PluginOutOfMemory,
    /// A plugin function crashed (trapped) for this object.
    PluginTrap,
    /// A plugin function returned an unusable result for this object.
    PluginBadOutput,
    /// An expression calls a plugin function that no loaded plugin provides.
    PluginNotFound,
    /// A plugin function refused this object's arguments.
    PluginInvalidArgument,
    /// A plugin function reported a failure of its own for this object.
    PluginFailed,
    /// Deprovisioning is off (`none`, or the mapping lacks the Delete flow type).
    DeprovisionSkipped,
    /// A disabled user who left the scope is kept, as Entra does.
    DisabledUserKept,
    /// Two target objects carry the same anchor; only the first is managed.
    DuplicateAnchor,
    /// Creation is off: the mapping's flowTypes lack Add.
    CreationDisabled,
    /// The plan's deletions and disables pass the job's threshold: nothing is applied.
    DeletionThresholdExceeded,
}

/// One entry of the report: an object that was skipped, or a fact an admin should know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportEntry {
    /// What kind of object.
    pub kind: ObjectKind,
    /// Why (a stable code).
    pub reason: Reason,
    /// The source object, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The target object, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// The object's name, for people.
    pub display: String,
    /// What happened and what to do.
    pub detail: String,
}

/// Counts for people and scripts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Source users in scope.
    pub users_in_scope: usize,
    /// Source groups in scope.
    pub groups_in_scope: usize,
    /// Operations by kind (`createUser`: 3, ...).
    pub operations: std::collections::BTreeMap<String, usize>,
    /// Deletions and disables in the plan (refused or not).
    pub deprovisions: usize,
    /// Report entries by reason.
    pub reported: std::collections::BTreeMap<String, usize>,
}

/// Why a plan was refused as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    /// What was exceeded, and how to proceed.
    pub message: String,
    /// Deletions and disables the plan would have made.
    pub deprovisions: usize,
    /// The count threshold.
    pub threshold: u64,
    /// The operations that would have deleted or disabled something.
    pub would_deprovision: Vec<Operation>,
}

/// A plan: the operations to apply in order, the report, a summary, and whether it was refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The operations, in the order they must be applied. Empty when refused.
    pub operations: Vec<Operation>,
    /// Everything skipped and why.
    pub report: Vec<ReportEntry>,
    /// Counts.
    pub summary: Summary,
    /// Set when the deletion threshold refused the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

impl Plan {
    /// True when there is nothing to do (and nothing was refused).
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.refused.is_none()
    }

    /// The plan as pretty JSON (its stable form).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans always serialize")
    }
}

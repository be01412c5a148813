//! Microsoft Graph's application permissions, endpoint by endpoint: the one place where the
//! emulator decides which app roles allow which request.
//!
//! Each entry copies the *Application* row of the permission table on the endpoint's Microsoft
//! Learn page (the least privileged permission first, then the higher privileged ones, in the
//! page's order); the page is named in a comment beside the entry. A request whose token holds
//! none of its endpoint's permissions is answered `403 Authorization_RequestDenied`
//! "Insufficient privileges to complete the operation." (see [`denied_body`]). Permissions are
//! compared exactly (without case): a `.ReadWrite.` permission grants an endpoint only when the
//! table lists it. `POST /$batch` has no table of its own: each request inside a batch is
//! checked against its own endpoint.

use serde_json::{Value, json};

/// One endpoint the emulator serves and the application permissions that allow calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Method and path template, as in Microsoft's *HTTP request* section (`GET /users/{id}`);
    /// a suffix in parentheses names the object type or body form the table applies to
    /// (`POST /directory/deletedItems/{id}/restore (user)`).
    pub request: &'static str,
    /// The application permissions of Microsoft's table: least privileged first.
    pub roles: &'static [&'static str],
}

impl Endpoint {
    /// Whether `permission` (compared without case) is one of this endpoint's permissions.
    pub fn granted_by(&self, permission: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.eq_ignore_ascii_case(permission))
    }

    /// Whether any of `roles` (a token's `roles` claim) is one of this endpoint's permissions.
    pub fn allows(&self, roles: &[String]) -> bool {
        roles.iter().any(|r| self.granted_by(r))
    }
}

const fn ep(request: &'static str, roles: &'static [&'static str]) -> Endpoint {
    Endpoint { request, roles }
}

// --- users ---

/// `GET /users`.
// https://learn.microsoft.com/graph/api/user-list?view=graph-rest-1.0#permissions
pub const LIST_USERS: Endpoint = ep(
    "GET /users",
    &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `POST /users`.
// https://learn.microsoft.com/graph/api/user-post-users?view=graph-rest-1.0#permissions
pub const CREATE_USER: Endpoint = ep(
    "POST /users",
    &["User.ReadWrite.All", "Directory.ReadWrite.All"],
);
/// `GET /users/delta`.
// https://learn.microsoft.com/graph/api/user-delta?view=graph-rest-1.0#permissions
pub const USER_DELTA: Endpoint = ep(
    "GET /users/delta",
    &[
        "User.Read.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "User.ReadWrite.All",
    ],
);
/// `GET /users/{id}`.
// https://learn.microsoft.com/graph/api/user-get?view=graph-rest-1.0#permissions
pub const GET_USER: Endpoint = ep(
    "GET /users/{id}",
    &[
        "User.Read.All",
        "User.ReadBasic.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `PATCH /users/{id}`.
// https://learn.microsoft.com/graph/api/user-update?view=graph-rest-1.0#permissions
pub const UPDATE_USER: Endpoint = ep(
    "PATCH /users/{id}",
    &["User.ReadWrite.All", "Directory.ReadWrite.All"],
);
/// `DELETE /users/{id}`.
// https://learn.microsoft.com/graph/api/user-delete?view=graph-rest-1.0#permissions
pub const DELETE_USER: Endpoint = ep("DELETE /users/{id}", &["User.ReadWrite.All"]);
/// `GET /users/{id}/memberOf`.
// https://learn.microsoft.com/graph/api/user-list-memberof?view=graph-rest-1.0#permissions
pub const USER_MEMBER_OF: Endpoint = ep(
    "GET /users/{id}/memberOf",
    &["Directory.Read.All", "Directory.ReadWrite.All"],
);

// --- groups and members ---

/// `GET /groups`.
// https://learn.microsoft.com/graph/api/group-list?view=graph-rest-1.0#permissions
pub const LIST_GROUPS: Endpoint = ep(
    "GET /groups",
    &[
        "Group-NestingSupport.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Group.ManageProtection.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.Read.All",
    ],
);
/// `POST /groups`.
// https://learn.microsoft.com/graph/api/group-post-groups?view=graph-rest-1.0#permissions
pub const CREATE_GROUP: Endpoint = ep(
    "POST /groups",
    &[
        "Group.Create",
        "Directory.ReadWrite.All",
        "Group-PreferredDataLocation.ReadWrite.All",
        "Group.ReadWrite.All",
    ],
);
/// `GET /groups/delta`.
// https://learn.microsoft.com/graph/api/group-delta?view=graph-rest-1.0#permissions
pub const GROUP_DELTA: Endpoint = ep(
    "GET /groups/delta",
    &[
        "GroupMember.Read.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
    ],
);
/// `GET /groups/{id}`.
// https://learn.microsoft.com/graph/api/group-get?view=graph-rest-1.0#permissions
pub const GET_GROUP: Endpoint = ep(
    "GET /groups/{id}",
    &[
        "GroupMember.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Group.Read.All",
    ],
);
/// `PATCH /groups/{id}` with group properties.
// https://learn.microsoft.com/graph/api/group-update?view=graph-rest-1.0#permissions
pub const UPDATE_GROUP: Endpoint = ep(
    "PATCH /groups/{id}",
    &[
        "Group-NestingSupport.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Group-PreferredDataLocation.ReadWrite.All",
        "Group.ManageProtection.All",
        "Group.ReadWrite.All",
    ],
);
/// `PATCH /groups/{id}` with only `members@odata.bind`: Microsoft documents this form on the
/// *Add members* page (example 2), whose table applies.
// https://learn.microsoft.com/graph/api/group-post-members?view=graph-rest-1.0#permissions
pub const ADD_MEMBERS_BIND: Endpoint = ep(
    "PATCH /groups/{id} (members@odata.bind)",
    &[
        "GroupMember.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Group.ReadWrite.All",
    ],
);
/// `DELETE /groups/{id}`.
// https://learn.microsoft.com/graph/api/group-delete?view=graph-rest-1.0#permissions
pub const DELETE_GROUP: Endpoint = ep("DELETE /groups/{id}", &["Group.ReadWrite.All"]);
/// `GET /groups/{id}/members`.
// https://learn.microsoft.com/graph/api/group-list-members?view=graph-rest-1.0#permissions
pub const LIST_MEMBERS: Endpoint = ep(
    "GET /groups/{id}/members",
    &[
        "GroupMember.Read.All",
        "Directory.Read.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.ReadWrite.All",
    ],
);
/// `GET /groups/{id}/transitiveMembers`.
// https://learn.microsoft.com/graph/api/group-list-transitivemembers?view=graph-rest-1.0#permissions
pub const LIST_TRANSITIVE_MEMBERS: Endpoint = ep(
    "GET /groups/{id}/transitiveMembers",
    &[
        "GroupMember.Read.All",
        "Directory.Read.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "GroupMember.ReadWrite.All",
    ],
);
/// `POST /groups/{id}/members/$ref`.
// https://learn.microsoft.com/graph/api/group-post-members?view=graph-rest-1.0#permissions
pub const ADD_MEMBER: Endpoint = ep(
    "POST /groups/{id}/members/$ref",
    &[
        "GroupMember.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Group.ReadWrite.All",
    ],
);
/// `DELETE /groups/{id}/members/{id}/$ref`.
// https://learn.microsoft.com/graph/api/group-delete-members?view=graph-rest-1.0#permissions
pub const REMOVE_MEMBER: Endpoint = ep(
    "DELETE /groups/{id}/members/{id}/$ref",
    &[
        "GroupMember.ReadWrite.All",
        "Directory.ReadWrite.All",
        "Group.ReadWrite.All",
    ],
);

// --- invitations ---

/// `POST /invitations`.
// https://learn.microsoft.com/graph/api/invitation-post?view=graph-rest-1.0#permissions
pub const INVITE: Endpoint = ep(
    "POST /invitations",
    &[
        "User.Invite.All",
        "Directory.ReadWrite.All",
        "User.ReadWrite.All",
    ],
);

// --- deleted items and directory objects ---
// The deleted-items pages give one table per object type and list only the least privileged
// permission; the higher privileged ones below are those of the same type's own list (read)
// or update (write) table, which the least privileged one is part of.

/// `GET /directory/deletedItems/microsoft.graph.user`.
// https://learn.microsoft.com/graph/api/directory-deleteditems-list?view=graph-rest-1.0#permissions
pub const LIST_DELETED_USERS: Endpoint = ep(
    "GET /directory/deletedItems/microsoft.graph.user",
    &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `GET /directory/deletedItems/microsoft.graph.group`.
// https://learn.microsoft.com/graph/api/directory-deleteditems-list?view=graph-rest-1.0#permissions
pub const LIST_DELETED_GROUPS: Endpoint = ep(
    "GET /directory/deletedItems/microsoft.graph.group",
    &[
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `GET /directory/deletedItems/{id}` of a user.
// https://learn.microsoft.com/graph/api/directory-deleteditems-get?view=graph-rest-1.0#permissions
pub const GET_DELETED_USER: Endpoint = ep(
    "GET /directory/deletedItems/{id} (user)",
    &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `GET /directory/deletedItems/{id}` of a group.
// https://learn.microsoft.com/graph/api/directory-deleteditems-get?view=graph-rest-1.0#permissions
pub const GET_DELETED_GROUP: Endpoint = ep(
    "GET /directory/deletedItems/{id} (group)",
    &[
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);
/// `POST /directory/deletedItems/{id}/restore` of a user.
// https://learn.microsoft.com/graph/api/directory-deleteditems-restore?view=graph-rest-1.0#permissions
pub const RESTORE_USER: Endpoint = ep(
    "POST /directory/deletedItems/{id}/restore (user)",
    &["User.ReadWrite.All"],
);
/// `POST /directory/deletedItems/{id}/restore` of a group.
// https://learn.microsoft.com/graph/api/directory-deleteditems-restore?view=graph-rest-1.0#permissions
pub const RESTORE_GROUP: Endpoint = ep(
    "POST /directory/deletedItems/{id}/restore (group)",
    &["Group.ReadWrite.All"],
);
/// `DELETE /directory/deletedItems/{id}` of a user.
// https://learn.microsoft.com/graph/api/directory-deleteditems-delete?view=graph-rest-1.0#permissions
pub const PURGE_USER: Endpoint = ep(
    "DELETE /directory/deletedItems/{id} (user)",
    &["User.ReadWrite.All"],
);
/// `DELETE /directory/deletedItems/{id}` of a group.
// https://learn.microsoft.com/graph/api/directory-deleteditems-delete?view=graph-rest-1.0#permissions
pub const PURGE_GROUP: Endpoint = ep(
    "DELETE /directory/deletedItems/{id} (group)",
    &["Group.ReadWrite.All"],
);
/// `GET /directoryObjects/{id}`.
// https://learn.microsoft.com/graph/api/directoryobject-get?view=graph-rest-1.0#permissions
pub const GET_DIRECTORY_OBJECT: Endpoint =
    ep("GET /directoryObjects/{id}", &["Directory.Read.All"]);
/// `POST /directoryObjects/getByIds`.
// https://learn.microsoft.com/graph/api/directoryobject-getbyids?view=graph-rest-1.0#permissions
pub const GET_BY_IDS: Endpoint = ep("POST /directoryObjects/getByIds", &["Directory.Read.All"]);

// --- applications and directory extensions ---

/// `GET /applications`.
// https://learn.microsoft.com/graph/api/application-list?view=graph-rest-1.0#permissions
pub const LIST_APPLICATIONS: Endpoint = ep(
    "GET /applications",
    &[
        "Application.Read.All",
        "Application.ReadWrite.OwnedBy",
        "Application.ReadWrite.All",
        "Directory.Read.All",
    ],
);
/// `GET /applications/{id}` (also `/applications(appId='{appId}')`).
// https://learn.microsoft.com/graph/api/application-get?view=graph-rest-1.0#permissions
pub const GET_APPLICATION: Endpoint = ep(
    "GET /applications/{id}",
    &[
        "Application.Read.All",
        "Application.ReadWrite.OwnedBy",
        "Application.ReadWrite.All",
    ],
);
/// `GET /applications/{id}/extensionProperties`.
// https://learn.microsoft.com/graph/api/application-list-extensionproperty?view=graph-rest-1.0#permissions
pub const LIST_EXTENSION_PROPERTIES: Endpoint = ep(
    "GET /applications/{id}/extensionProperties",
    &[
        "Application.Read.All",
        "Application.ReadWrite.OwnedBy",
        "Application.ReadWrite.All",
        "Directory.Read.All",
    ],
);
/// `POST /applications/{id}/extensionProperties`.
// https://learn.microsoft.com/graph/api/application-post-extensionproperty?view=graph-rest-1.0#permissions
pub const CREATE_EXTENSION_PROPERTY: Endpoint = ep(
    "POST /applications/{id}/extensionProperties",
    &[
        "Application.ReadWrite.OwnedBy",
        "Application.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
);

// --- cross-tenant access policy ---

/// `GET /policies/crossTenantAccessPolicy/partners`.
// https://learn.microsoft.com/graph/api/crosstenantaccesspolicy-list-partners?view=graph-rest-1.0#permissions
pub const LIST_PARTNERS: Endpoint = ep(
    "GET /policies/crossTenantAccessPolicy/partners",
    &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
);
/// `POST /policies/crossTenantAccessPolicy/partners`.
// https://learn.microsoft.com/graph/api/crosstenantaccesspolicy-post-partners?view=graph-rest-1.0#permissions
pub const CREATE_PARTNER: Endpoint = ep(
    "POST /policies/crossTenantAccessPolicy/partners",
    &["Policy.ReadWrite.CrossTenantAccess"],
);
/// `GET /policies/crossTenantAccessPolicy/partners/{id}`.
// https://learn.microsoft.com/graph/api/crosstenantaccesspolicyconfigurationpartner-get?view=graph-rest-1.0#permissions
pub const GET_PARTNER: Endpoint = ep(
    "GET /policies/crossTenantAccessPolicy/partners/{id}",
    &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
);
/// `GET /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization`.
// https://learn.microsoft.com/graph/api/crosstenantidentitysyncpolicypartner-get?view=graph-rest-1.0#permissions
pub const GET_PARTNER_SYNC: Endpoint = ep(
    "GET /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization",
    &["Policy.Read.All", "Policy.ReadWrite.CrossTenantAccess"],
);
/// `PUT /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization`.
// https://learn.microsoft.com/graph/api/crosstenantaccesspolicyconfigurationpartner-put-identitysynchronization?view=graph-rest-1.0#permissions
pub const PUT_PARTNER_SYNC: Endpoint = ep(
    "PUT /policies/crossTenantAccessPolicy/partners/{id}/identitySynchronization",
    &["Policy.ReadWrite.CrossTenantAccess"],
);

// --- organization ---
// Older revisions of these pages also listed Organization.Read.All and
// Organization.ReadWrite.All; the current tables grant app-only callers through
// Directory.Read.All only (User.Read.All does not grant them).

/// `GET /organization`.
// https://learn.microsoft.com/graph/api/organization-list?view=graph-rest-1.0#permissions
pub const LIST_ORGANIZATION: Endpoint = ep(
    "GET /organization",
    &["Directory.Read.All", "Directory.ReadWrite.All"],
);
/// `GET /organization/{id}`.
// https://learn.microsoft.com/graph/api/organization-get?view=graph-rest-1.0#permissions
pub const GET_ORGANIZATION: Endpoint = ep(
    "GET /organization/{id}",
    &["Directory.Read.All", "Directory.ReadWrite.All"],
);

// --- service principals and synchronization (emulator/src/synchronization.rs) ---
// Application.ReadWrite.OwnedBy is left out where a page lists it: it grants access only to
// service principals the calling app owns, and the emulator's synchronization service
// principals have no owners.

/// `GET /servicePrincipals`.
// https://learn.microsoft.com/graph/api/serviceprincipal-list?view=graph-rest-1.0#permissions
pub const LIST_SERVICE_PRINCIPALS: Endpoint = ep(
    "GET /servicePrincipals",
    &[
        "Application.Read.All",
        "AgentIdentity.Read.All",
        "AgentIdentityBlueprintPrincipal.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
    ],
);

/// `GET /servicePrincipals/{id}`.
// https://learn.microsoft.com/graph/api/serviceprincipal-get?view=graph-rest-1.0#permissions
pub const GET_SERVICE_PRINCIPAL: Endpoint = ep(
    "GET /servicePrincipals/{id}",
    &[
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
    ],
);

/// `GET /servicePrincipals/{id}/appRoleAssignedTo`.
// https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto?view=graph-rest-1.0#permissions
pub const LIST_APP_ROLE_ASSIGNED_TO: Endpoint = ep(
    "GET /servicePrincipals/{id}/appRoleAssignedTo",
    &[
        "Application.Read.All",
        "Application.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
);

/// `GET /servicePrincipals/{id}/synchronization/templates`.
// https://learn.microsoft.com/graph/api/synchronization-synchronization-list-templates?view=graph-rest-1.0#permissions
pub const LIST_SYNC_TEMPLATES: Endpoint = ep(
    "GET /servicePrincipals/{id}/synchronization/templates",
    &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
);

/// `GET /servicePrincipals/{id}/synchronization/jobs`.
// https://learn.microsoft.com/graph/api/synchronization-synchronization-list-jobs?view=graph-rest-1.0#permissions
pub const LIST_SYNC_JOBS: Endpoint = ep(
    "GET /servicePrincipals/{id}/synchronization/jobs",
    &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
);

/// `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-get?view=graph-rest-1.0#permissions
pub const GET_SYNC_JOB: Endpoint = ep(
    "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}",
    &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
);

/// `GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-get?view=graph-rest-1.0#permissions
pub const GET_SYNC_SCHEMA: Endpoint = ep(
    "GET /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema",
    &["Synchronization.Read.All", "Synchronization.ReadWrite.All"],
);

/// `PUT /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationschema-update?view=graph-rest-1.0#permissions
pub const PUT_SYNC_SCHEMA: Endpoint = ep(
    "PUT /servicePrincipals/{id}/synchronization/jobs/{jobId}/schema",
    &["Synchronization.ReadWrite.All"],
);

/// `POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/start`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-start?view=graph-rest-1.0#permissions
pub const START_SYNC_JOB: Endpoint = ep(
    "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/start",
    &["Synchronization.ReadWrite.All"],
);

/// `POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/pause`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-pause?view=graph-rest-1.0#permissions
pub const PAUSE_SYNC_JOB: Endpoint = ep(
    "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/pause",
    &["Synchronization.ReadWrite.All"],
);

/// `POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/restart`.
// https://learn.microsoft.com/graph/api/synchronization-synchronizationjob-restart?view=graph-rest-1.0#permissions
pub const RESTART_SYNC_JOB: Endpoint = ep(
    "POST /servicePrincipals/{id}/synchronization/jobs/{jobId}/restart",
    &["Synchronization.ReadWrite.All"],
);

/// `GET /servicePrincipals/{id}/synchronization/secrets`.
// The `secrets` property of the synchronization resource; the page of its only method (PUT,
// "Add synchronization secrets") lists these permissions:
// https://learn.microsoft.com/graph/api/synchronization-synchronization-secrets?view=graph-rest-1.0#permissions
pub const GET_SYNC_SECRETS: Endpoint = ep(
    "GET /servicePrincipals/{id}/synchronization/secrets",
    &["Synchronization.ReadWrite.All"],
);

/// Every endpoint the emulator serves, with its permissions.
pub const ENDPOINTS: &[Endpoint] = &[
    LIST_USERS,
    CREATE_USER,
    USER_DELTA,
    GET_USER,
    UPDATE_USER,
    DELETE_USER,
    USER_MEMBER_OF,
    LIST_GROUPS,
    CREATE_GROUP,
    GROUP_DELTA,
    GET_GROUP,
    UPDATE_GROUP,
    ADD_MEMBERS_BIND,
    DELETE_GROUP,
    LIST_MEMBERS,
    LIST_TRANSITIVE_MEMBERS,
    ADD_MEMBER,
    REMOVE_MEMBER,
    INVITE,
    LIST_DELETED_USERS,
    LIST_DELETED_GROUPS,
    GET_DELETED_USER,
    GET_DELETED_GROUP,
    RESTORE_USER,
    RESTORE_GROUP,
    PURGE_USER,
    PURGE_GROUP,
    GET_DIRECTORY_OBJECT,
    GET_BY_IDS,
    LIST_APPLICATIONS,
    GET_APPLICATION,
    LIST_EXTENSION_PROPERTIES,
    CREATE_EXTENSION_PROPERTY,
    LIST_PARTNERS,
    CREATE_PARTNER,
    GET_PARTNER,
    GET_PARTNER_SYNC,
    PUT_PARTNER_SYNC,
    LIST_ORGANIZATION,
    GET_ORGANIZATION,
    LIST_SERVICE_PRINCIPALS,
    GET_SERVICE_PRINCIPAL,
    LIST_APP_ROLE_ASSIGNED_TO,
    LIST_SYNC_TEMPLATES,
    LIST_SYNC_JOBS,
    GET_SYNC_JOB,
    GET_SYNC_SCHEMA,
    PUT_SYNC_SCHEMA,
    START_SYNC_JOB,
    PAUSE_SYNC_JOB,
    RESTART_SYNC_JOB,
    GET_SYNC_SECRETS,
];

/// The endpoint whose template is `request` (`GET /users/delta`,
/// `POST /directory/deletedItems/{id}/restore (user)`; compared without case), if the
/// emulator serves it.
pub fn endpoint(request: &str) -> Option<&'static Endpoint> {
    let wanted = request.split_whitespace().collect::<Vec<_>>().join(" ");
    ENDPOINTS
        .iter()
        .find(|e| e.request.eq_ignore_ascii_case(&wanted))
}

/// The message of Graph's 403 for a token without the permission an endpoint needs.
pub const DENIED_MESSAGE: &str = "Insufficient privileges to complete the operation.";

/// Graph's error body for a token without the permission an endpoint needs:
/// `{"error": {"code": "Authorization_RequestDenied", "message": DENIED_MESSAGE, ...}}`.
// https://learn.microsoft.com/graph/errors#code-property
pub fn denied_body() -> Value {
    json!({"error": {"code": "Authorization_RequestDenied", "message": DENIED_MESSAGE, "innerError": {}}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn one_entry_per_endpoint_each_with_permissions() {
        let mut seen = BTreeSet::new();
        for e in ENDPOINTS {
            assert!(
                seen.insert(e.request.to_ascii_lowercase()),
                "{} twice",
                e.request
            );
            assert!(!e.roles.is_empty(), "{} has no permission", e.request);
            let method = e.request.split(' ').next().unwrap_or_default();
            assert!(
                matches!(method, "GET" | "POST" | "PATCH" | "PUT" | "DELETE"),
                "{}",
                e.request
            );
        }
    }

    #[test]
    fn lookup_is_exact_and_without_case() {
        assert_eq!(endpoint("get /USERS/delta"), Some(&USER_DELTA));
        assert!(endpoint("GET /users/delta()").is_none());
        assert!(USER_DELTA.granted_by("user.read.all"));
        // A ReadWrite permission grants only where the table lists it.
        assert!(!GET_DIRECTORY_OBJECT.granted_by("Directory.ReadWrite.All"));
        assert!(!LIST_ORGANIZATION.granted_by("User.Read.All"));
        assert!(LIST_ORGANIZATION.allows(&["Directory.Read.All".to_string()]));
    }
}

//! The Graph operations a sync cycle calls, as typed methods on [`GraphClient`].
//!
//! Every method states whether it is safe to repeat after a crash or a lost answer; the
//! apply stage relies on that. Reads always send `$select`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{GraphClient, GraphRequest, encode_path_segment, encode_query_value};
use super::error::{GraphApiError, GraphError};
use super::paging::list_all;

/// The redirect URL Microsoft documents for invitations whose message is not sent.
pub const INVITE_REDIRECT_URL: &str = "https://myapplications.microsoft.com";

/// Most members (`members@odata.bind`) Graph takes in one request.
pub const MAX_BINDS_PER_REQUEST: usize = 20;

/// Page size asked for on directory lists (Graph's maximum for users and groups).
pub(crate) const LIST_PAGE_SIZE: u32 = 999;

/// The `userType` of an invited user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserType {
    /// An external member (what cross-tenant synchronization creates by default).
    Member,
    /// A guest.
    Guest,
}

impl UserType {
    fn as_str(self) -> &'static str {
        match self {
            UserType::Member => "Member",
            UserType::Guest => "Guest",
        }
    }
}

/// What a delete-like call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made.
    Done,
    /// Nothing to do: the object or link was already gone (Graph answered 404).
    AlreadyDone,
}

/// The answer to an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The object id of the (new or existing) user.
    pub user_id: String,
    /// `status` (`PendingAcceptance`, `Completed`, ...).
    pub status: Option<String>,
}

/// What [`GraphClient::add_members`] did.
#[derive(Debug, Clone, Default)]
pub struct AddMembersReport {
    /// Members added now.
    pub added: Vec<String>,
    /// Members that were already in the group.
    pub already_members: Vec<String>,
    /// Members Graph refused, each with Graph's error (e.g. the object does not exist).
    pub failed: Vec<MemberFailure>,
}

/// A member that could not be added.
#[derive(Debug, Clone)]
pub struct MemberFailure {
    /// The member's object id.
    pub member_id: String,
    /// Graph's answer.
    pub error: GraphApiError,
}

/// A directory extension property (`extensionProperty`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProperty {
    /// Object id of the property.
    pub id: String,
    /// Full name, `extension_{appIdWithoutDashes}_{name}`.
    pub name: String,
    /// `String`, `Integer`, ...
    pub data_type: String,
    /// `User`, `Group`, ...
    #[serde(default)]
    pub target_objects: Vec<String>,
}

/// The target tenant's cross-tenant access settings for a source tenant, as far as
/// synchronization needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerPolicy {
    /// The source tenant.
    pub tenant_id: String,
    /// Whether a partner configuration exists for the source tenant.
    pub configured: bool,
    /// `automaticUserConsentSettings.inboundAllowed` (automatic redemption).
    pub automatic_redemption_inbound: Option<bool>,
    /// `identitySynchronization.userSyncInbound.isSyncAllowed`; `None` when no
    /// identity synchronization policy exists.
    pub user_sync_inbound_allowed: Option<bool>,
}

/// `$select=...` with `id` always included. An empty `select` is refused: every read names
/// what it needs.
fn select_param(select: &[&str]) -> Result<String, GraphError> {
    if select.is_empty() {
        return Err(GraphError::Invalid(
            "a read needs $select: name the properties it needs".into(),
        ));
    }
    let mut fields: Vec<&str> = Vec::with_capacity(select.len() + 1);
    if !select.contains(&"id") {
        fields.push("id");
    }
    fields.extend_from_slice(select);
    Ok(format!("$select={}", encode_query_value(&fields.join(","))))
}

fn seg(id: &str) -> String {
    encode_path_segment(id)
}

fn id_of(body: Option<Value>, what: &str) -> Result<String, GraphError> {
    body.as_ref()
        .and_then(|b| b.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GraphError::Decode {
            method: "POST".into(),
            path: what.into(),
            reason: "the answer has no `id`".into(),
            request_id: None,
        })
}

fn gone_is_fine(
    result: Result<super::client::GraphResponse, GraphError>,
) -> Result<Outcome, GraphError> {
    match result {
        Ok(_) => Ok(Outcome::Done),
        Err(e) if e.status() == Some(404) => Ok(Outcome::AlreadyDone),
        Err(e) => Err(e),
    }
}

impl GraphClient {
    /// All users, with `select` (plus `id`) and an optional OData `$filter`.
    /// Read-only; safe to repeat.
    pub async fn list_users(
        &self,
        select: &[&str],
        filter: Option<&str>,
    ) -> Result<Vec<Value>, GraphError> {
        self.list_directory("/users", select, filter, false).await
    }

    /// All groups, with `select` (plus `id`) and an optional OData `$filter`.
    /// Read-only; safe to repeat.
    pub async fn list_groups(
        &self,
        select: &[&str],
        filter: Option<&str>,
    ) -> Result<Vec<Value>, GraphError> {
        self.list_directory("/groups", select, filter, false).await
    }

    /// All objects of a directory collection (`/users`, `/groups`, `/groups/{id}/members`,
    /// ...) with `select` (plus `id`) and an optional `$filter`. With `advanced`, the request
    /// is an advanced query (`ConsistencyLevel: eventual` and `$count=true`), which Graph
    /// requires for operators such as `endsWith`, `ne` and `not`; its results may lag
    /// recent changes. Read-only; safe to repeat.
    pub async fn list_directory(
        &self,
        path: &str,
        select: &[&str],
        filter: Option<&str>,
        advanced: bool,
    ) -> Result<Vec<Value>, GraphError> {
        let mut url = format!("{path}?{}&$top={LIST_PAGE_SIZE}", select_param(select)?);
        if let Some(filter) = filter {
            url.push_str("&$filter=");
            url.push_str(&encode_query_value(filter));
        }
        let mut request = GraphRequest::get(url);
        if advanced {
            request.url.push_str("&$count=true");
            request = request.header("ConsistencyLevel", "eventual");
        }
        list_all(self, request).await
    }

    /// The direct members of a group (users, groups, devices, ...; each item carries
    /// `@odata.type`). Read-only; safe to repeat.
    pub async fn group_members(
        &self,
        group_id: &str,
        select: &[&str],
    ) -> Result<Vec<Value>, GraphError> {
        let url = format!(
            "/groups/{}/members?{}&$top={LIST_PAGE_SIZE}",
            seg(group_id),
            select_param(select)?
        );
        list_all(self, GraphRequest::get(url)).await
    }

    /// The transitive members of a group (members of nested groups included, flattened).
    /// Read-only; safe to repeat.
    pub async fn transitive_members(
        &self,
        group_id: &str,
        select: &[&str],
    ) -> Result<Vec<Value>, GraphError> {
        let url = format!(
            "/groups/{}/transitiveMembers?{}&$top={LIST_PAGE_SIZE}",
            seg(group_id),
            select_param(select)?
        );
        list_all(self, GraphRequest::get(url)).await
    }

    /// Invites `email` as a B2B user (`POST /invitations`, no invitation e-mail, redirect to
    /// [`INVITE_REDIRECT_URL`]) and returns the user's id.
    ///
    /// Safe to repeat in practice: for an address that already belongs to an external user
    /// of the tenant, Graph answers with that user rather than creating a second one, so a
    /// retry after a lost answer finds the same id. The API page does not promise this, so
    /// the planner also matches by anchor before inviting. App-only invitations fail when
    /// the tenant restricts B2B invitations to administrators.
    pub async fn invite_user(
        &self,
        email: &str,
        display_name: &str,
        user_type: UserType,
    ) -> Result<Invitation, GraphError> {
        let body = json!({
            "invitedUserEmailAddress": email,
            "invitedUserDisplayName": display_name,
            "inviteRedirectUrl": INVITE_REDIRECT_URL,
            "sendInvitationMessage": false,
            "invitedUserType": user_type.as_str(),
        });
        let response = self
            .send(GraphRequest::post("/invitations", body).idempotent(true))
            .await?;
        let request_id = response.request_id.clone();
        let body = response.body.unwrap_or(Value::Null);
        let user_id = body
            .pointer("/invitedUser/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Decode {
                method: "POST".into(),
                path: "/v1.0/invitations".into(),
                reason: "the invitation has no invitedUser.id".into(),
                request_id,
            })?;
        Ok(Invitation {
            user_id,
            status: body
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Updates a user's properties (`PATCH /users/{id}`). Retries "does not exist" answers
    /// for users created moments ago. Safe to repeat: the same patch gives the same state.
    pub async fn update_user(&self, user_id: &str, patch: &Value) -> Result<(), GraphError> {
        self.send(
            GraphRequest::patch(format!("/users/{}", seg(user_id)), patch.clone())
                .retry_on_replication_lag(),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a user (soft delete: restorable for 30 days with
    /// [`GraphClient::restore_deleted`]). Safe to repeat: a user already gone gives
    /// [`Outcome::AlreadyDone`]. A user created seconds ago may not be replicated yet and also
    /// answers 404, so never delete right after creating.
    pub async fn delete_user(&self, user_id: &str) -> Result<Outcome, GraphError> {
        gone_is_fine(
            self.send(GraphRequest::delete(format!("/users/{}", seg(user_id))))
                .await,
        )
    }

    /// Restores a soft-deleted user (or Microsoft 365 group; security groups are deleted
    /// permanently) with `POST /directory/deletedItems/{id}/restore`, without body, and
    /// returns the restored object. Repeating after success answers 404 (no longer in
    /// deleted items): the caller then reads the object instead; never creates anything.
    pub async fn restore_deleted(&self, object_id: &str) -> Result<Value, GraphError> {
        let response = self
            .send(
                GraphRequest::new(
                    reqwest::Method::POST,
                    format!("/directory/deletedItems/{}/restore", seg(object_id)),
                )
                .idempotent(true),
            )
            .await?;
        Ok(response.body.unwrap_or(Value::Null))
    }

    /// Creates a group (`POST /groups`) and returns its id. `body` may bind up to
    /// [`MAX_BINDS_PER_REQUEST`] members and owners together (`members@odata.bind`,
    /// `owners@odata.bind`); more are refused before sending.
    ///
    /// Not safe to repeat blindly: Graph does not deduplicate groups, so this request is not
    /// resent after it may have reached Graph, and after a crash the caller must first look
    /// for the group by its anchor.
    pub async fn create_group(&self, body: &Value) -> Result<String, GraphError> {
        let binds = |key: &str| body.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        let total = binds("members@odata.bind") + binds("owners@odata.bind");
        if total > MAX_BINDS_PER_REQUEST {
            return Err(GraphError::Invalid(format!(
                "a new group can bind at most {MAX_BINDS_PER_REQUEST} members and owners, not {total}; add the rest with add_members"
            )));
        }
        let response = self
            .send(GraphRequest::post("/groups", body.clone()))
            .await?;
        id_of(response.body, "/v1.0/groups")
    }

    /// Updates a group's properties (`PATCH /groups/{id}`). Retries "does not exist" for
    /// groups created moments ago. Safe to repeat.
    pub async fn update_group(&self, group_id: &str, patch: &Value) -> Result<(), GraphError> {
        self.send(
            GraphRequest::patch(format!("/groups/{}", seg(group_id)), patch.clone())
                .retry_on_replication_lag(),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a group. Security groups are deleted permanently (Microsoft: restoring
    /// "is not applicable to security groups"), so the planner's deletion threshold must
    /// come first. Safe to repeat: a group already gone gives [`Outcome::AlreadyDone`].
    pub async fn delete_group(&self, group_id: &str) -> Result<Outcome, GraphError> {
        gone_is_fine(
            self.send(GraphRequest::delete(format!("/groups/{}", seg(group_id))))
                .await,
        )
    }

    /// Adds members to a group with `members@odata.bind` in `PATCH`es of at most
    /// [`MAX_BINDS_PER_REQUEST`]. Graph adds none of a chunk when any fails; when a chunk
    /// fails because a member is already there (400) or an object is missing (404), its
    /// members are added one by one with `POST /groups/{id}/members/$ref`, where "already a
    /// member" counts as success and any other refusal is reported in
    /// [`AddMembersReport::failed`] without stopping the others.
    ///
    /// Safe to repeat: members already present are reported, not failed. An `Err` (no
    /// answer, sign-in failure, or the group itself refused) leaves the members of earlier
    /// chunks added; repeating the call finishes the job.
    pub async fn add_members(
        &self,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<AddMembersReport, GraphError> {
        let mut report = AddMembersReport::default();
        for chunk in member_ids.chunks(MAX_BINDS_PER_REQUEST) {
            let binds: Vec<String> = chunk
                .iter()
                .map(|id| self.directory_object_url(id))
                .collect();
            let request = GraphRequest::patch(
                format!("/groups/{}", seg(group_id)),
                json!({ "members@odata.bind": binds }),
            )
            .retry_on_replication_lag();
            match self.send(request).await {
                Ok(_) => report.added.extend(chunk.iter().cloned()),
                Err(e) if matches!(e.status(), Some(400 | 404)) => {
                    for id in chunk {
                        match self.add_member(group_id, id).await {
                            Ok(true) => report.added.push(id.clone()),
                            Ok(false) => report.already_members.push(id.clone()),
                            Err(GraphError::Api(error)) if matches!(error.status, 400 | 404) => {
                                report.failed.push(MemberFailure {
                                    member_id: id.clone(),
                                    error: *error,
                                })
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Adds one member (`POST /groups/{id}/members/$ref`). Returns `false` when it was
    /// already a member. Retries "does not exist" for objects created moments ago. Safe to
    /// repeat.
    pub async fn add_member(&self, group_id: &str, member_id: &str) -> Result<bool, GraphError> {
        let body = json!({ "@odata.id": self.directory_object_url(member_id) });
        let request = GraphRequest::post(format!("/groups/{}/members/$ref", seg(group_id)), body)
            .idempotent(true)
            .retry_on_replication_lag();
        match self.send(request).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_already_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a member (`DELETE /groups/{id}/members/{member}/$ref`). Safe to repeat: a
    /// membership already gone (404) gives [`Outcome::AlreadyDone`].
    pub async fn remove_member(
        &self,
        group_id: &str,
        member_id: &str,
    ) -> Result<Outcome, GraphError> {
        gone_is_fine(
            self.send(GraphRequest::delete(format!(
                "/groups/{}/members/{}/$ref",
                seg(group_id),
                seg(member_id)
            )))
            .await,
        )
    }

    /// The extension property of the application (by object id) whose short name is `name`
    /// (the part after `extension_{appId}_`), or `None`. Read-only; safe to repeat.
    pub async fn get_extension_property(
        &self,
        app_object_id: &str,
        name: &str,
    ) -> Result<Option<ExtensionProperty>, GraphError> {
        let url = format!(
            "/applications/{}/extensionProperties?$select=id,name,dataType,targetObjects",
            seg(app_object_id)
        );
        let items = list_all(self, GraphRequest::get(url)).await?;
        let suffix = format!("_{name}");
        for item in items {
            let property: ExtensionProperty =
                serde_json::from_value(item).map_err(|e| GraphError::Decode {
                    method: "GET".into(),
                    path: format!("/v1.0/applications/{app_object_id}/extensionProperties"),
                    reason: e.to_string(),
                    request_id: None,
                })?;
            if property.name == name || property.name.ends_with(&suffix) {
                return Ok(Some(property));
            }
        }
        Ok(None)
    }

    /// Creates a `String` extension property `name` on the application (by object id) for
    /// `target_objects` (`User`, `Group`). Not safe to repeat blindly (a second create is
    /// refused as a duplicate): call [`GraphClient::ensure_extension_property`] instead.
    pub async fn create_extension_property(
        &self,
        app_object_id: &str,
        name: &str,
        target_objects: &[&str],
    ) -> Result<ExtensionProperty, GraphError> {
        let body = json!({ "name": name, "dataType": "String", "targetObjects": target_objects });
        let response = self
            .send(
                GraphRequest::post(
                    format!("/applications/{}/extensionProperties", seg(app_object_id)),
                    body,
                )
                .retry_on_replication_lag(),
            )
            .await?;
        let request_id = response.request_id.clone();
        serde_json::from_value(response.body.unwrap_or(Value::Null)).map_err(|e| {
            GraphError::Decode {
                method: "POST".into(),
                path: format!("/v1.0/applications/{app_object_id}/extensionProperties"),
                reason: e.to_string(),
                request_id,
            }
        })
    }

    /// The extension property `name`, created when missing. Safe to repeat.
    pub async fn ensure_extension_property(
        &self,
        app_object_id: &str,
        name: &str,
        target_objects: &[&str],
    ) -> Result<ExtensionProperty, GraphError> {
        if let Some(existing) = self.get_extension_property(app_object_id, name).await? {
            return Ok(existing);
        }
        self.create_extension_property(app_object_id, name, target_objects)
            .await
    }

    /// Reads this (target) tenant's cross-tenant access settings for `source_tenant`:
    /// automatic redemption (`automaticUserConsentSettings.inboundAllowed`) and inbound user
    /// synchronization (`identitySynchronization.userSyncInbound.isSyncAllowed`). Needs
    /// Policy.Read.All. Read-only; safe to repeat.
    pub async fn cross_tenant_partner_policy(
        &self,
        source_tenant: &str,
    ) -> Result<PartnerPolicy, GraphError> {
        let base = format!(
            "/policies/crossTenantAccessPolicy/partners/{}",
            seg(source_tenant)
        );
        let partner = match self
            .get_json(&format!(
                "{base}?$select=tenantId,automaticUserConsentSettings"
            ))
            .await
        {
            Ok(v) => Some(v),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        let sync = match self
            .get_json(&format!(
                "{base}/identitySynchronization?$select=tenantId,userSyncInbound"
            ))
            .await
        {
            Ok(v) => Some(v),
            Err(e) if e.status() == Some(404) => None,
            Err(e) => return Err(e),
        };
        Ok(PartnerPolicy {
            tenant_id: source_tenant.to_owned(),
            configured: partner.is_some(),
            automatic_redemption_inbound: partner
                .as_ref()
                .and_then(|p| p.pointer("/automaticUserConsentSettings/inboundAllowed"))
                .and_then(Value::as_bool),
            user_sync_inbound_allowed: sync
                .as_ref()
                .and_then(|s| s.pointer("/userSyncInbound/isSyncAllowed"))
                .and_then(Value::as_bool),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::client::tests::{client_for, fast_options};
    use crate::graph::test_server::{Reply, TestServer};

    fn binds(body: &Value) -> Vec<String> {
        body["members@odata.bind"]
            .as_array()
            .expect("binds")
            .iter()
            .map(|v| {
                v.as_str()
                    .expect("str")
                    .rsplit('/')
                    .next()
                    .expect("id")
                    .to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn add_members_chunks_by_twenty_and_handles_already_members() {
        let server = TestServer::start(|req, _n| {
            if req.method == "PATCH" {
                let ids = binds(&req.json());
                if ids.contains(&"m22".to_owned()) || ids.contains(&"m30".to_owned()) {
                    return Reply::json(400, json!({"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist for the following modified properties: 'members'."}}));
                }
                Reply::empty(204)
            } else {
                assert_eq!(req.path, "/v1.0/groups/g1/members/$ref");
                let target = req.json()["@odata.id"].as_str().expect("id").to_owned();
                if target.ends_with("/directoryObjects/m30") {
                    Reply::json(404, json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'm30' does not exist or one of its queried reference-property objects are not present."}}))
                } else if target.ends_with("/directoryObjects/m22") {
                    Reply::json(400, json!({"error": {"code": "Request_BadRequest", "message": "One or more added object references already exist for the following modified properties: 'members'."}}))
                } else {
                    Reply::empty(204)
                }
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        let ids: Vec<String> = (0..45).map(|i| format!("m{i}")).collect();
        let report = client.add_members("g1", &ids).await.expect("added");
        assert_eq!(report.already_members, ["m22"]);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].member_id, "m30");
        assert_eq!(report.failed[0].error.code, "Request_ResourceNotFound");
        assert_eq!(report.added.len(), 43);
        let reqs = server.requests();
        let patches: Vec<usize> = reqs
            .iter()
            .filter(|r| r.method == "PATCH")
            .map(|r| binds(&r.json()).len())
            .collect();
        assert_eq!(patches, [20, 20, 5]);
        assert_eq!(
            reqs.iter().filter(|r| r.method == "POST").count(),
            24,
            "the failing chunk goes member by member (20), the missing member with 4 lag retries"
        );
        let first = reqs[0].json();
        assert_eq!(
            first["members@odata.bind"][0],
            format!("{}/v1.0/directoryObjects/m0", server.base())
        );
    }

    #[tokio::test]
    async fn remove_member_treats_404_as_already_gone() {
        let server = TestServer::start(|req, n| {
            assert_eq!(req.path, "/v1.0/groups/g1/members/u1/$ref");
            if n == 0 { Reply::empty(204) } else {
                Reply::json(404, json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource does not exist"}}))
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        assert_eq!(
            client.remove_member("g1", "u1").await.expect("ok"),
            Outcome::Done
        );
        assert_eq!(
            client.remove_member("g1", "u1").await.expect("ok"),
            Outcome::AlreadyDone
        );
        assert_eq!(
            server.requests().len(),
            2,
            "a 404 on delete is not retried as lag"
        );
    }

    #[tokio::test]
    async fn invitation_follows_the_documented_body() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(201, json!({"id": "inv1", "inviteRedeemUrl": "https://login.microsoftonline.com/redeem", "invitedUserEmailAddress": "ann@fabrikam.com", "status": "PendingAcceptance", "invitedUser": {"id": "user-1"}}))
        })
        .await;
        let client = client_for(&server, fast_options());
        let inv = client
            .invite_user("ann@fabrikam.com", "Ann", UserType::Member)
            .await
            .expect("invited");
        assert_eq!(inv.user_id, "user-1");
        let req = &server.requests()[0];
        assert_eq!(req.path, "/v1.0/invitations");
        assert_eq!(
            req.json(),
            json!({"invitedUserEmailAddress": "ann@fabrikam.com", "invitedUserDisplayName": "Ann", "inviteRedirectUrl": "https://myapplications.microsoft.com", "sendInvitationMessage": false, "invitedUserType": "Member"})
        );
    }

    #[tokio::test]
    async fn create_group_refuses_more_than_twenty_binds() {
        let server = TestServer::start(|_req, _n| Reply::json(201, json!({"id": "g-new"}))).await;
        let client = client_for(&server, fast_options());
        let many: Vec<String> = (0..21)
            .map(|i| client.directory_object_url(&format!("u{i}")))
            .collect();
        let body = json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true, "members@odata.bind": many});
        assert!(matches!(
            client.create_group(&body).await,
            Err(GraphError::Invalid(_))
        ));
        assert!(server.requests().is_empty());
        let body = json!({"displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true});
        assert_eq!(client.create_group(&body).await.expect("created"), "g-new");
    }

    #[tokio::test]
    async fn list_users_sends_select_and_encoded_filter() {
        let server =
            TestServer::start(|_req, _n| Reply::json(200, json!({"value": [{"id": "u1"}]}))).await;
        let client = client_for(&server, fast_options());
        let users = client
            .list_users(&["displayName", "mail"], Some("startswith(mail,'a+b')"))
            .await
            .expect("list");
        assert_eq!(users.len(), 1);
        assert_eq!(
            server.requests()[0].query,
            "$select=id,displayName,mail&$top=999&$filter=startswith(mail,%27a%2Bb%27)"
        );
        assert!(client.list_users(&[], None).await.is_err());
    }

    #[tokio::test]
    async fn advanced_queries_keep_their_header_on_every_page() {
        let server = TestServer::start(|req, n| {
            assert_eq!(req.header("consistencylevel"), Some("eventual"));
            if n == 0 {
                Reply::json(200, json!({"@odata.count": 2, "@odata.nextLink": format!("http://{}/v1.0/users?$skiptoken=x", req.header("host").unwrap_or_default()), "value": [{"id": "u1"}]}))
            } else {
                Reply::json(200, json!({"value": [{"id": "u2"}]}))
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        let users = client
            .list_directory(
                "/users",
                &["mail"],
                Some("endsWith(mail,'@fabrikam.com')"),
                true,
            )
            .await
            .expect("list");
        assert_eq!(users.len(), 2);
        let reqs = server.requests();
        assert!(reqs[0].query.ends_with("&$count=true"), "{}", reqs[0].query);
        assert_eq!(reqs[1].header("consistencylevel"), Some("eventual"));
    }

    #[tokio::test]
    async fn partner_policy_is_read() {
        let server = TestServer::start(|req, _n| {
            if req.path.ends_with("/identitySynchronization") {
                Reply::json(200, json!({"tenantId": "src", "userSyncInbound": {"isSyncAllowed": true}}))
            } else {
                Reply::json(200, json!({"tenantId": "src", "automaticUserConsentSettings": {"inboundAllowed": false, "outboundAllowed": null}}))
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        let policy = client
            .cross_tenant_partner_policy("src")
            .await
            .expect("policy");
        assert!(policy.configured);
        assert_eq!(policy.user_sync_inbound_allowed, Some(true));
        assert_eq!(policy.automatic_redemption_inbound, Some(false));
    }

    #[tokio::test]
    async fn extension_property_is_found_by_short_name_or_created() {
        let server = TestServer::start(|req, _n| {
            if req.method == "GET" {
                Reply::json(200, json!({"value": [{"id": "p1", "name": "extension_0123abcd_other", "dataType": "String", "targetObjects": ["User"]}]}))
            } else {
                assert_eq!(req.json(), json!({"name": "tenantsyncAnchor", "dataType": "String", "targetObjects": ["User", "Group"]}));
                Reply::json(201, json!({"id": "p2", "name": "extension_0123abcd_tenantsyncAnchor", "dataType": "String", "targetObjects": ["User", "Group"]}))
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        assert!(
            client
                .get_extension_property("app-obj", "other")
                .await
                .expect("get")
                .is_some()
        );
        let p = client
            .ensure_extension_property("app-obj", "tenantsyncAnchor", &["User", "Group"])
            .await
            .expect("ensure");
        assert_eq!(p.name, "extension_0123abcd_tenantsyncAnchor");
    }
}

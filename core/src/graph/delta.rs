//! Delta queries for users and groups (<https://learn.microsoft.com/graph/delta-query-overview>,
//! `user-delta`, `group-delta`, `delta-query-groups`).
//!
//! A round starts at `/users/delta?$select=...` (or a stored delta link), follows every
//! `@odata.nextLink`, and ends with an `@odata.deltaLink`, kept opaque for the next round.
//! Objects carry changed properties; removed objects carry `@removed` with reason `changed`
//! (soft-deleted, restorable) or `deleted` (gone for good); groups carry membership changes in
//! `members@delta`, where removed members have `@removed`. One group can arrive in several
//! pages with different slices of `members@delta`: the round merges them.
//!
//! An expired or unknown token (410 Gone, or a 4xx with `syncStateNotFound`,
//! `resyncRequired` and similar codes, "a 40X-series error" in Microsoft's words) yields [`DeltaError::Expired`]; [`delta_or_full`] then
//! starts a new round without token, which returns the full current state.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::{GraphClient, GraphRequest, encode_query_value};
use super::error::GraphError;
use super::paging::Page;

/// The page size every delta request asks for (`Prefer: odata.maxpagesize`), on the first
/// request, every `@odata.nextLink` and every `@odata.deltaLink`: delta pages must be followed
/// one after another, so a round's time is its page count times Graph's latency. 999 is the
/// largest page Graph serves for directory objects (`$top` 1 to 999,
/// <https://learn.microsoft.com/graph/paging>); delta does not take `$top`, and the preference
/// is how a client asks for a page size (<https://learn.microsoft.com/graph/delta-query-overview>,
/// "Use delta query"; <https://learn.microsoft.com/graph/api/user-delta> and
/// <https://learn.microsoft.com/graph/api/group-delta>, request headers). Graph may serve
/// smaller pages than asked, which the client follows as usual.
pub(crate) const DELTA_PAGE_SIZE: u32 = 999;

/// Which collection a delta round tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeltaResource {
    /// `/users/delta`.
    Users,
    /// `/groups/delta`.
    Groups,
}

impl DeltaResource {
    fn path(self) -> &'static str {
        match self {
            DeltaResource::Users => "/users/delta",
            DeltaResource::Groups => "/groups/delta",
        }
    }
}

/// An `@odata.deltaLink`, stored and sent back verbatim (it encodes the original query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct DeltaLink(pub String);

/// Why an object was reported removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemovedReason {
    /// Soft-deleted; restorable from deleted items for 30 days (or, for a member, the
    /// membership ended).
    Changed,
    /// Permanently deleted (or, for a member, the membership ended).
    Deleted,
    /// A reason this client does not know, kept as sent.
    Other(String),
}

impl RemovedReason {
    fn from_annotation(v: &Value) -> Self {
        match v.get("reason").and_then(Value::as_str) {
            Some("changed") => RemovedReason::Changed,
            Some("deleted") => RemovedReason::Deleted,
            Some(other) => RemovedReason::Other(other.to_owned()),
            None => RemovedReason::Other(String::new()),
        }
    }
}

/// A member reference from `members@delta`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    /// The member's object id.
    pub id: String,
    /// `@odata.type` (`#microsoft.graph.user`, `#microsoft.graph.group`, ...), when sent.
    pub odata_type: Option<String>,
}

/// One object of a delta round, merged across pages.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeltaObject {
    /// Object id.
    pub id: String,
    /// Set when the object was removed.
    pub removed: Option<RemovedReason>,
    /// Properties as sent (annotations and `members@delta` taken out).
    pub properties: Map<String, Value>,
    /// Members added.
    pub members_added: Vec<MemberRef>,
    /// Members removed.
    pub members_removed: Vec<MemberRef>,
}

impl DeltaObject {
    /// Merges one appearance of the object. The latest appearance decides whether it is
    /// removed: an object reported removed and then present again (restored within the
    /// round) ends up present.
    fn merge_item(&mut self, item: Map<String, Value>) {
        if !item.contains_key("@removed")
            && item
                .keys()
                .any(|k| k != "id" && (!k.starts_with('@') || k == "members@delta"))
        {
            self.removed = None;
        }
        for (key, value) in item {
            match key.as_str() {
                "id" => {}
                "@removed" => {
                    self.removed = Some(RemovedReason::from_annotation(&value));
                }
                "members@delta" => {
                    for member in value.as_array().into_iter().flatten() {
                        self.merge_member(member);
                    }
                }
                k if k.starts_with('@') => {}
                _ => {
                    self.properties.insert(key, value);
                }
            }
        }
    }

    fn merge_member(&mut self, member: &Value) {
        let Some(id) = member.get("id").and_then(Value::as_str) else {
            return;
        };
        let reference = MemberRef {
            id: id.to_owned(),
            odata_type: member
                .get("@odata.type")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        // The latest report of a member wins.
        self.members_added.retain(|m| m.id != id);
        self.members_removed.retain(|m| m.id != id);
        if member.get("@removed").is_some() {
            self.members_removed.push(reference);
        } else {
            self.members_added.push(reference);
        }
    }
}

/// The objects of a delta round read so far, each merged across the pages it appears in.
#[derive(Debug, Clone, Default)]
pub struct DeltaMerge {
    objects: Vec<DeltaObject>,
    index: HashMap<String, usize>,
}

impl DeltaMerge {
    /// Merges the `value` items of one page, in order. Items that are not objects or have no
    /// string `id` are skipped.
    pub fn add_page(&mut self, items: Vec<Value>) {
        for item in items {
            let Value::Object(map) = item else { continue };
            let Some(id) = map.get("id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let objects = &mut self.objects;
            let slot = *self.index.entry(id.clone()).or_insert_with(|| {
                objects.push(DeltaObject {
                    id,
                    ..DeltaObject::default()
                });
                objects.len() - 1
            });
            objects[slot].merge_item(map);
        }
    }

    /// The objects in the order first seen.
    pub fn into_objects(self) -> Vec<DeltaObject> {
        self.objects
    }
}

/// The outcome of one delta round.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeltaRound {
    /// Objects in the order first seen, each merged across pages.
    pub objects: Vec<DeltaObject>,
    /// The link for the next round.
    pub delta_link: DeltaLink,
    /// True when the round started without token, so it holds the full current state and
    /// objects absent from it do not exist (or are out of the selected set).
    pub full: bool,
}

/// A delta token can no longer be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the delta token is no longer valid (graph answered {status} `{code}`, request-id {rid}); a full read is needed", rid = request_id.as_deref().unwrap_or("none"))]
pub(crate) struct DeltaExpired {
    /// HTTP status (410, or another 4xx with an expiry code).
    pub status: u16,
    /// Graph's code.
    pub code: String,
    /// Graph's `request-id`.
    pub request_id: Option<String>,
}

/// A delta round failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeltaError {
    /// The token expired or is unknown: read everything again.
    #[error(transparent)]
    Expired(DeltaExpired),
    /// Any other failure.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Graph's codes for a delta token that must be replaced by a full read.
const EXPIRED_CODES: &[&str] = &[
    "syncStateNotFound",
    "resyncRequired",
    "syncStateInvalid",
    "fullSyncRequired",
];

fn expired(error: &GraphError) -> Option<DeltaExpired> {
    let api = error.api()?;
    let coded = EXPIRED_CODES.iter().any(|c| {
        api.code.eq_ignore_ascii_case(c)
            || api
                .inner_code
                .as_deref()
                .is_some_and(|i| i.eq_ignore_ascii_case(c))
    });
    (api.status == 410 || ((400..500).contains(&api.status) && coded)).then(|| DeltaExpired {
        status: api.status,
        code: api.code.clone(),
        request_id: api.request_id.clone(),
    })
}

/// The first URL of a round without token. `select` must not be empty; for groups `members`
/// is added when missing so membership changes are tracked.
pub(crate) fn initial_url(resource: DeltaResource, select: &[&str]) -> Result<String, GraphError> {
    if select.is_empty() {
        return Err(GraphError::Invalid(
            "a delta query needs $select: name the properties to track".into(),
        ));
    }
    let mut fields: Vec<&str> = select.to_vec();
    if resource == DeltaResource::Groups && !fields.contains(&"members") {
        fields.push("members");
    }
    Ok(format!(
        "{}?$select={}",
        resource.path(),
        encode_query_value(&fields.join(","))
    ))
}

/// Runs one delta round: from `since` when given, else from scratch (full state).
pub(crate) async fn delta(
    client: &GraphClient,
    resource: DeltaResource,
    select: &[&str],
    since: Option<&DeltaLink>,
) -> Result<DeltaRound, DeltaError> {
    let mut url = match since {
        Some(link) => link.0.clone(),
        None => initial_url(resource, select)?,
    };
    let mut merged = DeltaMerge::default();
    loop {
        let request = GraphRequest::get(url.clone())
            .header("Prefer", &format!("odata.maxpagesize={DELTA_PAGE_SIZE}"));
        let response = match client.send(request).await {
            Ok(r) => r,
            Err(e) => {
                return Err(match expired(&e) {
                    Some(x) => DeltaError::Expired(x),
                    None => DeltaError::Graph(e),
                });
            }
        };
        let body = response.body.ok_or_else(|| GraphError::Decode {
            method: "GET".into(),
            path: resource.path().into(),
            reason: "the delta answer has no body".into(),
            request_id: response.request_id.clone(),
        })?;
        let page = Page::from_body(body, resource.path())?;
        merged.add_page(page.items);
        match (page.next_link, page.delta_link) {
            (Some(next), _) => url = next,
            (None, Some(delta_link)) => {
                return Ok(DeltaRound {
                    objects: merged.into_objects(),
                    delta_link: DeltaLink(delta_link),
                    full: since.is_none(),
                });
            }
            (None, None) => {
                return Err(GraphError::Decode {
                    method: "GET".into(),
                    path: resource.path().into(),
                    reason: "a delta page has neither @odata.nextLink nor @odata.deltaLink".into(),
                    request_id: response.request_id,
                }
                .into());
            }
        }
    }
}

/// A delta round from `since`, falling back to a full round when the token has expired.
/// The result's `full` flag tells which one happened.
pub(crate) async fn delta_or_full(
    client: &GraphClient,
    resource: DeltaResource,
    select: &[&str],
    since: Option<&DeltaLink>,
) -> Result<DeltaRound, GraphError> {
    match delta(client, resource, select, since).await {
        Ok(round) => Ok(round),
        Err(DeltaError::Expired(_)) => match delta(client, resource, select, None).await {
            Ok(round) => Ok(round),
            Err(DeltaError::Graph(e)) => Err(e),
            Err(DeltaError::Expired(x)) => Err(GraphError::Invalid(format!(
                "a delta round without token was refused as expired: {x}"
            ))),
        },
        Err(DeltaError::Graph(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::client::tests::{client_for, fast_options};
    use crate::graph::test_server::{Reply, TestServer};

    fn base(req: &crate::graph::test_server::RecordedRequest) -> String {
        format!("http://{}/v1.0", req.header("host").unwrap_or_default())
    }

    /// A group split over two pages, a removed group, a removed member.
    fn groups_server_script(req: &crate::graph::test_server::RecordedRequest, _n: usize) -> Reply {
        let b = base(req);
        match req.query.as_str() {
            "$select=displayName,securityEnabled,members" => Reply::json(200, serde_json::json!({
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups(displayName,securityEnabled,members)",
                "@odata.nextLink": format!("{b}/groups/delta?$skiptoken=page2"),
                "value": [
                    {"displayName": "Sales", "securityEnabled": true, "id": "g1",
                     "members@delta": [
                        {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                        {"@odata.type": "#microsoft.graph.user", "id": "u2"}
                     ]},
                    {"id": "g2", "@removed": {"reason": "changed"}}
                ]
            })),
            "$skiptoken=page2" => Reply::json(200, serde_json::json!({
                "@odata.deltaLink": format!("{b}/groups/delta?$deltatoken=tok1"),
                "value": [
                    {"displayName": "Sales", "securityEnabled": true, "id": "g1",
                     "members@delta": [
                        {"@odata.type": "#microsoft.graph.user", "id": "u3"},
                        {"@odata.type": "#microsoft.graph.user", "id": "u2", "@removed": {"reason": "deleted"}}
                     ]},
                    {"id": "g3", "displayName": "Empty", "securityEnabled": true}
                ]
            })),
            "$deltatoken=expired" => Reply::json(410, serde_json::json!({"error": {"code": "syncStateNotFound", "message": "The sync state is not found or expired."}}))
                .header("location", &format!("{b}/groups/delta?$deltatoken=")),
            "$deltatoken=resync" => Reply::json(400, serde_json::json!({"error": {"code": "resyncRequired", "message": "Resync required."}})),
            other => Reply::json(400, serde_json::json!({"error": {"code": "Request_BadRequest", "message": format!("unexpected query {other}")}})),
        }
    }

    #[tokio::test]
    async fn groups_are_merged_across_pages_with_removals() {
        let server = TestServer::start(groups_server_script).await;
        let client = client_for(&server, fast_options());
        let round = delta(
            &client,
            DeltaResource::Groups,
            &["displayName", "securityEnabled"],
            None,
        )
        .await
        .expect("round");
        assert!(round.full);
        assert!(
            round
                .delta_link
                .0
                .ends_with("/groups/delta?$deltatoken=tok1")
        );
        assert_eq!(round.objects.len(), 3);
        let g1 = &round.objects[0];
        assert_eq!(g1.id, "g1");
        assert_eq!(g1.removed, None);
        assert_eq!(g1.properties["displayName"], "Sales");
        let added: Vec<&str> = g1.members_added.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(added, ["u1", "u3"]);
        assert_eq!(g1.members_removed.len(), 1);
        assert_eq!(g1.members_removed[0].id, "u2");
        assert_eq!(
            g1.members_removed[0].odata_type.as_deref(),
            Some("#microsoft.graph.user")
        );
        assert_eq!(round.objects[1].removed, Some(RemovedReason::Changed));
        assert!(round.objects[2].members_added.is_empty());
        assert!(!round.objects[0].properties.contains_key("members@delta"));
    }

    #[tokio::test]
    async fn expired_tokens_are_typed_and_fall_back_to_a_full_round() {
        let server = TestServer::start(groups_server_script).await;
        let client = client_for(&server, fast_options());
        for token in ["expired", "resync"] {
            let link = DeltaLink(format!(
                "{}/v1.0/groups/delta?$deltatoken={token}",
                server.base()
            ));
            let err = delta(
                &client,
                DeltaResource::Groups,
                &["displayName", "securityEnabled"],
                Some(&link),
            )
            .await
            .expect_err("expired");
            assert!(matches!(err, DeltaError::Expired(_)), "{err}");
            let round = delta_or_full(
                &client,
                DeltaResource::Groups,
                &["displayName", "securityEnabled"],
                Some(&link),
            )
            .await
            .expect("fallback");
            assert!(round.full);
            assert_eq!(round.objects.len(), 3);
        }
    }

    #[tokio::test]
    async fn a_stored_link_is_sent_verbatim_and_users_removed_are_reported() {
        let server = TestServer::start(|req, _n| {
            let b = base(req);
            assert_eq!(req.path, "/v1.0/users/delta");
            assert_eq!(req.query, "$deltatoken=abc%2Bdef");
            // Every delta request asks for the largest pages.
            assert!(
                req.header("prefer")
                    .is_some_and(|p| p.contains("odata.maxpagesize=999"))
            );
            Reply::json(
                200,
                serde_json::json!({
                    "@odata.deltaLink": format!("{b}/users/delta?$deltatoken=next"),
                    "value": [
                        {"id": "u9", "@removed": {"reason": "deleted"}},
                        {"id": "u8", "displayName": "New Name", "accountEnabled": false}
                    ]
                }),
            )
        })
        .await;
        let client = client_for(&server, fast_options());
        let link = DeltaLink(format!(
            "{}/v1.0/users/delta?$deltatoken=abc%2Bdef",
            server.base()
        ));
        let round = delta_or_full(&client, DeltaResource::Users, &["displayName"], Some(&link))
            .await
            .expect("round");
        assert!(!round.full);
        assert_eq!(round.objects[0].removed, Some(RemovedReason::Deleted));
        assert_eq!(round.objects[1].properties["accountEnabled"], false);
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn the_latest_appearance_decides_removal() {
        let mut object = DeltaObject::default();
        let item = |v: Value| v.as_object().cloned().expect("object");
        object.merge_item(item(
            serde_json::json!({"id": "u1", "@removed": {"reason": "changed"}}),
        ));
        assert_eq!(object.removed, Some(RemovedReason::Changed));
        object.merge_item(item(serde_json::json!({"id": "u1", "displayName": "Back"})));
        assert_eq!(object.removed, None);
        assert_eq!(object.properties["displayName"], "Back");
        object.merge_item(item(
            serde_json::json!({"id": "u1", "@removed": {"reason": "deleted"}}),
        ));
        assert_eq!(object.removed, Some(RemovedReason::Deleted));
    }

    #[test]
    fn group_select_always_tracks_members() {
        let url = initial_url(DeltaResource::Groups, &["displayName"]).expect("url");
        assert_eq!(url, "/groups/delta?$select=displayName,members");
        assert!(initial_url(DeltaResource::Users, &[]).is_err());
    }
}

//! Microsoft Graph v1.0 resources: users, groups, members, invitations, deleted items,
//! applications and extension properties, cross-tenant access partners, organization.

use crate::auth::Caller;
use crate::delta;
use crate::dispatch::{GReq, GResp};
use crate::odata::{self, Expr, FilterError};
use crate::permissions::{self, Endpoint};
use crate::store::{AdminError, Deleted, Kind, Obj, Tenant, now_string};
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};

/// Graph's default `$select` for users.
pub(crate) const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Graph's default property set for groups.
pub(crate) const GROUP_DEFAULT: &[&str] = &[
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "creationOptions",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
];

/// User properties filterable without advanced query parameters.
const USER_FILTERABLE: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "accountEnabled",
    "userType",
    "jobTitle",
    "mailNickname",
    "otherMails",
    "proxyAddresses",
    "onPremisesImmutableId",
    "externalUserState",
    "creationType",
    "employeeId",
    "identities",
];
/// User properties filterable with `ConsistencyLevel: eventual`.
const USER_FILTERABLE_ADVANCED: &[&str] = &[
    "department",
    "city",
    "country",
    "companyName",
    "state",
    "officeLocation",
    "employeeType",
    "usageLocation",
    "preferredLanguage",
];
const GROUP_FILTERABLE: &[&str] = &[
    "id",
    "displayName",
    "mail",
    "mailNickname",
    "mailEnabled",
    "securityEnabled",
    "groupTypes",
    "proxyAddresses",
    "onPremisesSyncEnabled",
    "isAssignableToRole",
];
const GROUP_FILTERABLE_ADVANCED: &[&str] = &["description", "visibility", "classification"];

/// Page size when `$top` is absent.
const DEFAULT_PAGE: usize = 100;

fn not_found(id: &str) -> GResp {
    GResp::error(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn bad_request(msg: &str) -> GResp {
    GResp::error(400, "Request_BadRequest", msg)
}

fn unsupported_query(msg: &str) -> GResp {
    GResp::error(400, "Request_UnsupportedQuery", msg)
}

/// Graph's 403 for a token without the permission the endpoint needs.
fn denied() -> GResp {
    GResp::json(403, permissions::denied_body())
}

fn method_not_allowed() -> GResp {
    GResp::error(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

/// Refuses the request unless the token holds one of `endpoint`'s permissions (see
/// [`permissions`]).
fn need(caller: &Caller, endpoint: &Endpoint) -> Result<(), GResp> {
    if endpoint.allows(&caller.roles) {
        Ok(())
    } else {
        Err(denied())
    }
}

fn admin_err(e: AdminError) -> GResp {
    match e {
        AdminError::NotFound(id) => not_found(&id),
        AdminError::Conflict(m) | AdminError::Invalid(m) => bad_request(&m),
        AdminError::UnknownTenant(t) => not_found(&t),
    }
}

fn body_obj(req: &GReq) -> Result<Obj, GResp> {
    match &req.body {
        Some(Ok(Value::Object(o))) => Ok(o.clone()),
        Some(Ok(_)) | Some(Err(())) => Err(GResp::error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
        None => Err(GResp::error(
            400,
            "BadRequest",
            "Empty Payload. JSON content expected.",
        )),
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A partner configuration as Graph shows it, with its identity synchronization policy.
pub(crate) fn default_partner(tenant_id: &str, sync_allowed: bool) -> Value {
    json!({
        "tenantId": tenant_id,
        "isServiceProvider": null,
        "isInMultiTenantOrganization": false,
        "inboundTrust": null,
        "b2bCollaborationOutbound": null,
        "b2bCollaborationInbound": null,
        "b2bDirectConnectOutbound": null,
        "b2bDirectConnectInbound": null,
        "tenantRestrictions": null,
        // Cross-tenant synchronization needs automatic redemption on both sides.
        "automaticUserConsentSettings": {"inboundAllowed": sync_allowed, "outboundAllowed": sync_allowed},
        "identitySynchronization": {
            "tenantId": tenant_id,
            "displayName": null,
            "userSyncInbound": {"isSyncAllowed": sync_allowed}
        }
    })
}

/// Serves one Graph v1.0 request (other than `$batch`).
pub(crate) fn handle(base: &str, t: &mut Tenant, caller: &Caller, req: &GReq) -> GResp {
    match route(base, t, caller, req) {
        Ok(r) | Err(r) => r,
    }
}

fn route(base: &str, t: &mut Tenant, caller: &Caller, req: &GReq) -> Result<GResp, GResp> {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    let lower: Vec<String> = s.iter().map(|x| x.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (m, l.as_slice()) {
        ("GET", ["users"]) => {
            need(caller, &permissions::LIST_USERS)?;
            list(base, t, req, Kind::User)
        }
        ("POST", ["users"]) => {
            need(caller, &permissions::CREATE_USER)?;
            create_user(base, t, req)
        }
        ("GET", ["users", "delta"]) => {
            need(caller, &permissions::USER_DELTA)?;
            delta::handle(base, t, req, Kind::User)
        }
        ("GET", ["users", _]) => {
            need(caller, &permissions::GET_USER)?;
            let id = visible_user(t, s[1])?;
            get_one(base, t, req, Kind::User, &id)
        }
        ("PATCH", ["users", _]) => {
            need(caller, &permissions::UPDATE_USER)?;
            let id = visible_user(t, s[1])?;
            let patch = body_obj(req)?;
            check_extensions(t, &patch, "User")?;
            t.patch_user(&id, &patch, true).map_err(admin_err)?;
            Ok(GResp::no_content())
        }
        ("DELETE", ["users", _]) => {
            need(caller, &permissions::DELETE_USER)?;
            let id = visible_user(t, s[1])?;
            t.soft_delete(&id).map_err(admin_err)?;
            Ok(GResp::no_content())
        }
        ("GET", ["users", _, "memberof"]) => {
            need(caller, &permissions::USER_MEMBER_OF)?;
            let id = visible_user(t, s[1])?;
            let ids: Vec<String> = t.member_of(&id);
            page_members(base, t, req, ids, &format!("users/{id}/memberOf"))
        }
        ("GET", ["groups"]) => {
            need(caller, &permissions::LIST_GROUPS)?;
            list(base, t, req, Kind::Group)
        }
        ("POST", ["groups"]) => {
            need(caller, &permissions::CREATE_GROUP)?;
            create_group(base, t, req)
        }
        ("GET", ["groups", "delta"]) => {
            need(caller, &permissions::GROUP_DELTA)?;
            delta::handle(base, t, req, Kind::Group)
        }
        ("GET", ["groups", id]) => {
            need(caller, &permissions::GET_GROUP)?;
            get_one(base, t, req, Kind::Group, id)
        }
        ("PATCH", ["groups", id]) => {
            need(caller, group_patch_endpoint(req))?;
            patch_group(t, id, req)
        }
        ("DELETE", ["groups", id]) => {
            need(caller, &permissions::DELETE_GROUP)?;
            if t.lagging(id) {
                return Err(not_found(id));
            }
            t.delete_group(id).map_err(admin_err)?;
            Ok(GResp::no_content())
        }
        ("GET", ["groups", id, "members"]) => {
            need(caller, &permissions::LIST_MEMBERS)?;
            let ids = direct_members(t, id)?;
            page_members(base, t, req, ids, &format!("groups/{id}/members"))
        }
        ("GET", ["groups", id, "transitivemembers"]) => {
            need(caller, &permissions::LIST_TRANSITIVE_MEMBERS)?;
            let ids = transitive_members(t, id)?;
            page_members(base, t, req, ids, &format!("groups/{id}/transitiveMembers"))
        }
        ("POST", ["groups", id, "members", "$ref"]) => {
            need(caller, &permissions::ADD_MEMBER)?;
            add_member_ref(t, id, req)
        }
        ("DELETE", ["groups", id, "members", mid, "$ref"]) => {
            need(caller, &permissions::REMOVE_MEMBER)?;
            if !t.groups.contains_key(*id) || t.lagging(id) {
                return Err(not_found(id));
            }
            t.remove_member(id, mid).map_err(admin_err)?;
            Ok(GResp::no_content())
        }
        ("POST", ["invitations"]) => {
            need(caller, &permissions::INVITE)?;
            invite(base, t, req)
        }
        (
            "GET",
            [
                "directory",
                "deleteditems",
                kind @ ("microsoft.graph.user" | "microsoft.graph.group"),
            ],
        ) => {
            let kind = if *kind == "microsoft.graph.user" {
                Kind::User
            } else {
                Kind::Group
            };
            need(
                caller,
                match kind {
                    Kind::User => &permissions::LIST_DELETED_USERS,
                    Kind::Group => &permissions::LIST_DELETED_GROUPS,
                },
            )?;
            list_deleted(base, t, req, kind)
        }
        ("GET", ["directory", "deleteditems", id]) => {
            let d = t.deleted.get(*id).ok_or_else(|| not_found(id))?;
            need(
                caller,
                match d.kind {
                    Kind::User => &permissions::GET_DELETED_USER,
                    Kind::Group => &permissions::GET_DELETED_GROUP,
                },
            )?;
            let mut o = deleted_view(d, odata::parse_select(req.q("select")).as_deref());
            o.insert("@odata.type".into(), json!(d.kind.odata_type()));
            o.insert(
                "@odata.context".into(),
                json!(format!("{base}/v1.0/$metadata#directoryObjects/$entity")),
            );
            Ok(GResp::json(200, Value::Object(o)))
        }
        ("POST", ["directory", "deleteditems", id, "restore"]) => {
            let d = t.deleted.get(*id).ok_or_else(|| not_found(id))?;
            need(
                caller,
                match d.kind {
                    Kind::User => &permissions::RESTORE_USER,
                    Kind::Group => &permissions::RESTORE_GROUP,
                },
            )?;
            let kind = d.kind;
            let obj = t.restore(id).map_err(admin_err)?;
            let mut o = odata::project(&obj, None, default_for(kind));
            o.insert("@odata.type".into(), json!(kind.odata_type()));
            o.insert(
                "@odata.context".into(),
                json!(format!("{base}/v1.0/$metadata#directoryObjects/$entity")),
            );
            Ok(GResp::json(200, Value::Object(o)))
        }
        ("DELETE", ["directory", "deleteditems", id]) => {
            let d = t.deleted.get(*id).ok_or_else(|| not_found(id))?;
            need(
                caller,
                match d.kind {
                    Kind::User => &permissions::PURGE_USER,
                    Kind::Group => &permissions::PURGE_GROUP,
                },
            )?;
            t.hard_delete(id).map_err(admin_err)?;
            Ok(GResp::no_content())
        }
        ("GET", ["directoryobjects", id]) => {
            need(caller, &permissions::GET_DIRECTORY_OBJECT)?;
            let kind = t.kind_of(id).ok_or_else(|| not_found(id))?;
            let mut r = get_one(base, t, req, kind, id)?;
            if let Some(Value::Object(o)) = r.body.as_mut() {
                o.insert("@odata.type".into(), json!(kind.odata_type()));
            }
            Ok(r)
        }
        ("POST", ["directoryobjects", "getbyids"]) => {
            need(caller, &permissions::GET_BY_IDS)?;
            get_by_ids(base, t, req)
        }
        ("GET", ["applications"]) => {
            need(caller, &permissions::LIST_APPLICATIONS)?;
            list_applications(base, t, req)
        }
        ("GET", ["applications", _]) => {
            need(caller, &permissions::GET_APPLICATION)?;
            let app = find_application(t, s[1]).ok_or_else(|| not_found(s[1]))?;
            let mut o = app.clone();
            o.insert(
                "@odata.context".into(),
                json!(format!("{base}/v1.0/$metadata#applications/$entity")),
            );
            Ok(GResp::json(200, Value::Object(o)))
        }
        ("GET", ["applications", _, "extensionproperties"]) => {
            need(caller, &permissions::LIST_EXTENSION_PROPERTIES)?;
            let app = find_application(t, s[1]).ok_or_else(|| not_found(s[1]))?;
            let app_id = app.get("appId").cloned().unwrap_or(Value::Null);
            let value: Vec<Value> = t
                .extension_properties
                .iter()
                .filter(|e| e.get("appId") == Some(&app_id))
                .map(|e| Value::Object(public_extension(e)))
                .collect();
            Ok(GResp::json(
                200,
                json!({"@odata.context": format!("{base}/v1.0/$metadata#applications('{}')/extensionProperties", s[1]), "value": value}),
            ))
        }
        ("POST", ["applications", _, "extensionproperties"]) => {
            need(caller, &permissions::CREATE_EXTENSION_PROPERTY)?;
            owner_or_broader(t, caller, s[1])?;
            create_extension(base, t, s[1], req)
        }
        ("GET", ["policies", "crosstenantaccesspolicy", "partners"]) => {
            need(caller, &permissions::LIST_PARTNERS)?;
            let value: Vec<Value> = t.partners.values().map(partner_view).collect();
            Ok(GResp::json(
                200,
                json!({"@odata.context": format!("{base}/v1.0/$metadata#policies/crossTenantAccessPolicy/partners"), "value": value}),
            ))
        }
        ("POST", ["policies", "crosstenantaccesspolicy", "partners"]) => {
            need(caller, &permissions::CREATE_PARTNER)?;
            let body = body_obj(req)?;
            let tid = body
                .get("tenantId")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| bad_request("Property 'tenantId' is required."))?;
            if t.partners.contains_key(&tid) {
                return Err(GResp::error(
                    409,
                    "Request_MultipleObjectsWithSameKeyValue",
                    "A partner configuration for this tenant already exists.",
                ));
            }
            let mut p = default_partner(&tid, false);
            p["identitySynchronization"] = Value::Null;
            t.partners.insert(tid.clone(), p.clone());
            Ok(GResp::json(201, partner_view(&p)))
        }
        ("GET", ["policies", "crosstenantaccesspolicy", "partners", tid]) => {
            need(caller, &permissions::GET_PARTNER)?;
            let p = t.partners.get(*tid).ok_or_else(|| not_found(tid))?;
            let mut v = partner_view(p);
            v["@odata.context"] = json!(format!(
                "{base}/v1.0/$metadata#policies/crossTenantAccessPolicy/partners/$entity"
            ));
            Ok(GResp::json(200, v))
        }
        (
            "GET",
            [
                "policies",
                "crosstenantaccesspolicy",
                "partners",
                tid,
                "identitysynchronization",
            ],
        ) => {
            need(caller, &permissions::GET_PARTNER_SYNC)?;
            let p = t.partners.get(*tid).ok_or_else(|| not_found(tid))?;
            let sync = p
                .get("identitySynchronization")
                .filter(|v| !v.is_null())
                .ok_or_else(|| not_found(tid))?;
            let mut v = sync.clone();
            v["@odata.context"] = json!(format!(
                "{base}/v1.0/$metadata#policies/crossTenantAccessPolicy/partners('{tid}')/identitySynchronization/$entity"
            ));
            Ok(GResp::json(200, v))
        }
        (
            "PUT",
            [
                "policies",
                "crosstenantaccesspolicy",
                "partners",
                tid,
                "identitysynchronization",
            ],
        ) => {
            need(caller, &permissions::PUT_PARTNER_SYNC)?;
            let body = body_obj(req)?;
            let p = t.partners.get_mut(*tid).ok_or_else(|| not_found(tid))?;
            let allowed = body
                .get("userSyncInbound")
                .and_then(|u| u.get("isSyncAllowed"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            p["identitySynchronization"] = json!({
                "tenantId": tid,
                "displayName": body.get("displayName").cloned().unwrap_or(Value::Null),
                "userSyncInbound": {"isSyncAllowed": allowed}
            });
            Ok(GResp::no_content())
        }
        ("GET", ["organization"]) => {
            need(caller, &permissions::LIST_ORGANIZATION)?;
            Ok(GResp::json(
                200,
                json!({"@odata.context": format!("{base}/v1.0/$metadata#organization"), "value": [organization(t)]}),
            ))
        }
        ("GET", ["organization", id]) if eq(id, &t.id) => {
            need(caller, &permissions::GET_ORGANIZATION)?;
            let mut o = organization(t);
            o["@odata.context"] = json!(format!("{base}/v1.0/$metadata#organization/$entity"));
            Ok(GResp::json(200, o))
        }
        (_, ["serviceprincipals", ..]) => {
            match crate::synchronization::route(base, &mut t.sync, caller, req) {
                Some(r) => Ok(r),
                None => Err(bad_request(&format!(
                    "Resource not found for the segment '{}'.",
                    s.last().copied().unwrap_or("")
                ))),
            }
        }
        (_, [first, ..])
            if matches!(
                *first,
                "users"
                    | "groups"
                    | "invitations"
                    | "directory"
                    | "applications"
                    | "policies"
                    | "organization"
                    | "directoryobjects"
            ) && known_path(&l) =>
        {
            Err(method_not_allowed())
        }
        _ => Err(bad_request(&format!(
            "Resource not found for the segment '{}'.",
            s.last().copied().unwrap_or("")
        ))),
    }
}

/// A live user by id or userPrincipalName that replication lag does not hide.
fn visible_user(t: &Tenant, key: &str) -> Result<String, GResp> {
    t.find_user(key)
        .filter(|id| !t.lagging(id))
        .map(str::to_string)
        .ok_or_else(|| not_found(key))
}

fn known_path(l: &[&str]) -> bool {
    matches!(
        l,
        ["users"]
            | ["users", _]
            | ["groups"]
            | ["groups", _]
            | ["invitations"]
            | ["groups", _, "members", ..]
    )
}

/// Refuses a change to application `key` by a caller whose only application permission for
/// it is `Application.ReadWrite.OwnedBy` and whose service principal does not own it:
/// "It cannot update any apps that it is not an owner of."
// https://learn.microsoft.com/graph/permissions-reference#applicationreadwriteownedby
fn owner_or_broader(t: &Tenant, caller: &Caller, key: &str) -> Result<(), GResp> {
    const BROADER: &[&str] = &["Application.ReadWrite.All", "Directory.ReadWrite.All"];
    if caller
        .roles
        .iter()
        .any(|r| BROADER.iter().any(|b| b.eq_ignore_ascii_case(r)))
    {
        return Ok(());
    }
    let app = find_application(t, key).ok_or_else(|| not_found(key))?;
    let app_id = app.get("appId").and_then(Value::as_str).unwrap_or_default();
    let owned = t.apps.iter().any(|a| {
        a.client_id.eq_ignore_ascii_case(app_id)
            && a.owners
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&caller.app_id))
    });
    if owned { Ok(()) } else { Err(denied()) }
}

/// The table that applies to `PATCH /groups/{id}`: adding members with
/// `members@odata.bind` alone is documented (and permitted) as *Add members*; any other
/// property is *Update group*.
fn group_patch_endpoint(req: &GReq) -> &'static Endpoint {
    match &req.body {
        Some(Ok(Value::Object(o)))
            if !o.is_empty() && o.keys().all(|k| k == "members@odata.bind") =>
        {
            &permissions::ADD_MEMBERS_BIND
        }
        _ => &permissions::UPDATE_GROUP,
    }
}

fn default_for(kind: Kind) -> Option<&'static [&'static str]> {
    match kind {
        Kind::User => Some(USER_DEFAULT),
        Kind::Group => Some(GROUP_DEFAULT),
    }
}

fn organization(t: &Tenant) -> Value {
    json!({
        "id": t.id,
        "displayName": t.display_name,
        "tenantType": "AAD",
        "countryLetterCode": "US",
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": t.domain,
            "type": "Managed"
        }]
    })
}

fn partner_view(p: &Value) -> Value {
    let mut v = p.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("identitySynchronization");
    }
    v
}

fn filter_for(t: &Tenant, req: &GReq, kind: Kind) -> Result<Option<Expr>, GResp> {
    let Some(f) = req.q("filter") else {
        return Ok(None);
    };
    // Advanced query capabilities need `ConsistencyLevel: eventual` and `$count=true`.
    let advanced = req
        .header("consistencylevel")
        .is_some_and(|v| eq(v, "eventual"))
        && req.q("count").is_some_and(|c| eq(c, "true"));
    let (basic, adv, target) = match kind {
        Kind::User => (USER_FILTERABLE, USER_FILTERABLE_ADVANCED, "User"),
        Kind::Group => (GROUP_FILTERABLE, GROUP_FILTERABLE_ADVANCED, "Group"),
    };
    let allowed = |p: &str| {
        basic.iter().any(|b| eq(b, p))
            || (advanced && adv.iter().any(|b| eq(b, p)))
            || (p.starts_with("extension_") && t.extension_registered(p, target))
    };
    match odata::parse_filter(f, &allowed) {
        Ok(e) if odata::needs_advanced(&e) && !advanced => Err(unsupported_query(
            "Operators 'ne' and 'not' need advanced query parameters: send 'ConsistencyLevel: eventual' and '$count=true'.",
        )),
        Ok(e) => Ok(Some(e)),
        Err(FilterError::Unsupported(p)) => Err(unsupported_query(&format!(
            "Unsupported or invalid query filter clause specified for property '{p}' of resource '{target}'."
        ))),
        Err(FilterError::Syntax(m)) => Err(GResp::error(
            400,
            "BadRequest",
            &format!("Invalid filter clause: {m}"),
        )),
    }
}

fn page_size(v: Option<&Value>, req_top: Option<&str>) -> Result<usize, GResp> {
    if let Some(n) = v.and_then(Value::as_u64) {
        return Ok(n as usize);
    }
    match req_top {
        None => Ok(DEFAULT_PAGE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(GResp::error(
                400,
                "Request_BadRequest",
                &format!(
                    "Invalid page size specified: '{s}'. Must be between 1 and 999 inclusive."
                ),
            )),
        },
    }
}

fn expired_page_token() -> GResp {
    GResp::error(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
}

/// `GET /users` and `GET /groups`.
fn list(base: &str, t: &Tenant, req: &GReq, kind: Kind) -> Result<GResp, GResp> {
    // A skip token carries the original query options.
    let token = match req.q("skiptoken") {
        Some(s) => Some(odata::decode_token(s).ok_or_else(expired_page_token)?),
        None => None,
    };
    let effective = match &token {
        Some(tok) => {
            let mut r = req.clone();
            r.query = tok
                .get("q")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some((
                                p.get(0)?.as_str()?.to_string(),
                                p.get(1)?.as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            r
        }
        None => req.clone(),
    };
    refuse_unsupported_options(&effective)?;
    let filter = filter_for(t, &effective, kind)?;
    let expand = expansion(&effective, kind)?;
    let select = odata::parse_select(effective.q("select"));
    let top = page_size(None, effective.q("top"))?;
    let after = token
        .as_ref()
        .and_then(|tok| tok.get("a"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let map = match kind {
        Kind::User => t.users(),
        Kind::Group => &t.groups,
    };
    let name = match kind {
        Kind::User => "users",
        Kind::Group => "groups",
    };
    let matching = map
        .iter()
        .filter(|(id, o)| !t.lagging(id) && filter.as_ref().is_none_or(|f| odata::eval(f, o)));
    let count_requested = effective.q("count").is_some_and(|c| eq(c, "true"));
    let total = if count_requested {
        Some(matching.clone().count())
    } else {
        None
    };
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    let lower = match &after {
        Some(a) => std::ops::Bound::Excluded(a.clone()),
        None => std::ops::Bound::Unbounded,
    };
    let page = map
        .range((lower, std::ops::Bound::Unbounded))
        .filter(|(id, o)| !t.lagging(id) && filter.as_ref().is_none_or(|f| odata::eval(f, o)));
    for (id, o) in page {
        if value.len() == top {
            more = true;
            break;
        }
        let mut item = odata::project(o, select.as_deref(), default_for(kind));
        if let Some(inner) = &expand {
            item.insert("members".into(), expanded_members(t, id, inner.as_deref()));
        }
        value.push(Value::Object(item));
        last = Some(id.clone());
    }
    let ctx = match &select {
        Some(sel) => format!("{base}/v1.0/$metadata#{name}({})", sel.join(",")),
        None => format!("{base}/v1.0/$metadata#{name}"),
    };
    let mut body = json!({"@odata.context": ctx});
    if let Some(n) = total {
        body["@odata.count"] = json!(n);
    }
    if more {
        let q: Vec<Value> = effective
            .query
            .iter()
            .filter(|(k, _)| !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
            .map(|(k, v)| json!([k, v]))
            .collect();
        let tok = odata::encode_token(&json!({"a": last, "q": q}));
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{name}?$skiptoken={tok}"));
    }
    body["value"] = Value::Array(value);
    Ok(GResp::json(200, body))
}

/// `$expand` on users and groups: only `members` of groups (at most 20, as Graph returns),
/// optionally with a nested `$select`. Returns the nested selection when asked.
fn expansion(req: &GReq, kind: Kind) -> Result<Option<Option<Vec<String>>>, GResp> {
    let Some(e) = req.q("expand") else {
        return Ok(None);
    };
    let e = e.trim();
    let (name, inner) = match e.split_once('(') {
        Some((n, rest)) => (n.trim(), Some(rest.trim_end_matches(')'))),
        None => (e, None),
    };
    if kind != Kind::Group || !name.eq_ignore_ascii_case("members") {
        return Err(unsupported_query(&format!(
            "Expanding '{e}' is not supported here; the emulator expands only 'members' of groups."
        )));
    }
    let select = inner.and_then(|i| {
        i.split(';')
            .find_map(|p| p.trim().strip_prefix("$select="))
            .and_then(|s| odata::parse_select(Some(s)))
    });
    Ok(Some(select))
}

fn expanded_members(t: &Tenant, group: &str, select: Option<&[String]>) -> Value {
    let ids = t.members.get(group).cloned().unwrap_or_default();
    let value: Vec<Value> = ids
        .iter()
        .filter(|m| !t.lagging(m))
        .filter_map(|m| {
            let (o, kind) = t.live(m)?;
            Some(directory_object(o, kind, select))
        })
        .take(20)
        .collect();
    Value::Array(value)
}

/// A user or group in a list of directory objects: its `@odata.type` first, then its
/// properties (`select`, or the defaults of its kind).
fn directory_object(o: &Obj, kind: Kind, select: Option<&[String]>) -> Value {
    let mut out = Obj::new();
    out.insert("@odata.type".into(), json!(kind.odata_type()));
    out.append(&mut odata::project(o, select, default_for(kind)));
    Value::Object(out)
}

fn refuse_unsupported_options(req: &GReq) -> Result<(), GResp> {
    for opt in ["orderby", "search"] {
        if req.q(opt).is_some() {
            return Err(unsupported_query(&format!(
                "${opt} is not supported by the emulator; sort or search on the client."
            )));
        }
    }
    Ok(())
}

fn get_one(base: &str, t: &Tenant, req: &GReq, kind: Kind, id: &str) -> Result<GResp, GResp> {
    let (map, name) = match kind {
        Kind::User => (t.users(), "users"),
        Kind::Group => (&t.groups, "groups"),
    };
    let o = map
        .get(id)
        .filter(|_| !t.lagging(id))
        .ok_or_else(|| not_found(id))?;
    let select = odata::parse_select(req.q("select"));
    let expand = expansion(req, kind)?;
    let mut p = odata::project(o, select.as_deref(), default_for(kind));
    if let Some(inner) = &expand {
        p.insert("members".into(), expanded_members(t, id, inner.as_deref()));
    }
    let ctx = match &select {
        Some(sel) => format!("{base}/v1.0/$metadata#{name}({})/$entity", sel.join(",")),
        None => format!("{base}/v1.0/$metadata#{name}/$entity"),
    };
    let mut out = Obj::new();
    out.insert("@odata.context".into(), json!(ctx));
    out.append(&mut p);
    Ok(GResp::json(200, Value::Object(out)))
}

fn direct_members(t: &Tenant, id: &str) -> Result<Vec<String>, GResp> {
    if t.lagging(id) {
        return Err(not_found(id));
    }
    let set = t.members.get(id).ok_or_else(|| not_found(id))?;
    Ok(set.iter().filter(|m| !t.lagging(m)).cloned().collect())
}

fn transitive_members(t: &Tenant, id: &str) -> Result<Vec<String>, GResp> {
    direct_members(t, id)?;
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([id.to_string()]);
    while let Some(g) = queue.pop_front() {
        if let Some(ms) = t.members.get(&g) {
            for m in ms {
                if m != id && !t.lagging(m) && seen.insert(m.clone()) && t.groups.contains_key(m) {
                    queue.push_back(m.clone());
                }
            }
        }
    }
    Ok(seen.into_iter().collect())
}

fn page_members(
    base: &str,
    t: &Tenant,
    req: &GReq,
    ids: Vec<String>,
    path: &str,
) -> Result<GResp, GResp> {
    if req.q("filter").is_some() {
        return Err(unsupported_query("Unsupported Query."));
    }
    let token = match req.q("skiptoken") {
        Some(s) => Some(odata::decode_token(s).ok_or_else(expired_page_token)?),
        None => None,
    };
    let select = match &token {
        Some(tok) => tok.get("s").and_then(Value::as_str).map(str::to_string),
        None => req.q("select").map(str::to_string),
    };
    let top = page_size(token.as_ref().and_then(|x| x.get("t")), req.q("top"))?;
    let after = token
        .as_ref()
        .and_then(|x| x.get("a"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let sel = odata::parse_select(select.as_deref());
    let mut value = Vec::new();
    let mut last = None;
    let mut more = false;
    for id in ids
        .iter()
        .filter(|i| after.as_ref().is_none_or(|a| i.as_str() > a.as_str()))
    {
        if value.len() == top {
            more = true;
            break;
        }
        let Some((o, kind)) = t.live(id) else {
            continue;
        };
        value.push(directory_object(o, kind, sel.as_deref()));
        last = Some(id.clone());
    }
    let mut body = json!({"@odata.context": format!("{base}/v1.0/$metadata#directoryObjects")});
    if more {
        let tok = odata::encode_token(&json!({"a": last, "s": select, "t": top}));
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?$skiptoken={tok}"));
    }
    body["value"] = Value::Array(value);
    Ok(GResp::json(200, body))
}

/// A deleted object's properties (`select`, or the defaults of its kind) with its
/// `deletedDateTime`.
fn deleted_view(d: &Deleted, select: Option<&[String]>) -> Obj {
    let mut o = odata::project(&d.obj, select, default_for(d.kind));
    o.insert(
        "deletedDateTime".into(),
        d.obj.get("deletedDateTime").cloned().unwrap_or(Value::Null),
    );
    o
}

fn list_deleted(base: &str, t: &Tenant, req: &GReq, kind: Kind) -> Result<GResp, GResp> {
    let select = odata::parse_select(req.q("select"));
    let filter = filter_for(t, req, kind)?;
    let value: Vec<Value> = t
        .deleted
        .values()
        .filter(|d| d.kind == kind && filter.as_ref().is_none_or(|f| odata::eval(f, &d.obj)))
        .map(|d| Value::Object(deleted_view(d, select.as_deref())))
        .collect();
    let name = if kind == Kind::User { "user" } else { "group" };
    Ok(GResp::json(
        200,
        json!({"@odata.context": format!("{base}/v1.0/$metadata#directory/deletedItems/microsoft.graph.{name}"), "value": value}),
    ))
}

/// Extracts the object id from an `@odata.id` / `@odata.bind` reference URL.
fn ref_id(url: &str) -> Option<String> {
    let url = url.trim_end_matches('/');
    let last = url.rsplit('/').next()?;
    // Also accept `directoryObjects('{id}')`.
    let last = last
        .strip_prefix("directoryObjects('")
        .and_then(|x| x.strip_suffix("')"))
        .unwrap_or(last);
    if last.is_empty() || last.contains('(') {
        return None;
    }
    Some(last.to_ascii_lowercase())
}

fn lag_error(id: &str) -> GResp {
    bad_request(&format!(
        "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
    ))
}

fn add_member_ref(t: &mut Tenant, group: &str, req: &GReq) -> Result<GResp, GResp> {
    let body = body_obj(req)?;
    if !t.groups.contains_key(group) {
        return Err(not_found(group));
    }
    let url = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad_request("Invalid object identifier: the request body must contain '@odata.id'.")
        })?;
    let member =
        ref_id(url).ok_or_else(|| bad_request(&format!("Invalid object identifier '{url}'.")))?;
    if t.lagging(group) {
        return Err(lag_error(group));
    }
    if t.kind_of(&member).is_none() {
        return Err(not_found(&member));
    }
    if t.lagging(&member) {
        return Err(lag_error(&member));
    }
    t.add_member(group, &member).map_err(admin_err)?;
    Ok(GResp::no_content())
}

/// Resolves `members@odata.bind` (at most 20); all must exist.
fn binds(t: &Tenant, body: &Obj) -> Result<Vec<String>, GResp> {
    let mut refs = Vec::new();
    for key in ["members@odata.bind", "owners@odata.bind"] {
        if let Some(v) = body.get(key) {
            let arr = v.as_array().ok_or_else(|| {
                bad_request(&format!(
                    "'{key}' must be an array of directoryObjects URLs."
                ))
            })?;
            for u in arr {
                let url = u
                    .as_str()
                    .ok_or_else(|| bad_request("Invalid object identifier."))?;
                let id = ref_id(url)
                    .ok_or_else(|| bad_request(&format!("Invalid object identifier '{url}'.")))?;
                if key.starts_with("members") {
                    refs.push(id);
                } else if t.kind_of(&id).is_none() {
                    return Err(lag_error(&id));
                }
            }
        }
    }
    let total: usize = ["members@odata.bind", "owners@odata.bind"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_array).map(Vec::len))
        .sum();
    if total > 20 {
        return Err(bad_request(
            "The request exceeds the limit of 20 object references (members and owners) that can be bound in a single request.",
        ));
    }
    for id in &refs {
        if t.kind_of(id).is_none() || t.lagging(id) {
            return Err(lag_error(id));
        }
    }
    Ok(refs)
}

fn check_extensions(t: &Tenant, body: &Obj, target: &str) -> Result<(), GResp> {
    for k in body.keys() {
        if k.starts_with("extension_") && !t.extension_registered(k, target) {
            return Err(bad_request(&format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        }
    }
    Ok(())
}

/// Refuses a creation body that lacks one of `props` (or has it null).
fn require(body: &Obj, props: &[&str]) -> Result<(), GResp> {
    match props
        .iter()
        .find(|p| body.get(**p).is_none_or(Value::is_null))
    {
        Some(p) => Err(bad_request(&format!(
            "Property '{p}' is required when creating the resource."
        ))),
        None => Ok(()),
    }
}

/// Refuses a creation body that sets an unregistered extension property or one of the
/// properties Graph does not let clients write (`read_only`).
fn check_writable(t: &Tenant, body: &Obj, target: &str, read_only: &[&str]) -> Result<(), GResp> {
    check_extensions(t, body, target)?;
    match body.keys().find(|k| read_only.contains(&k.as_str())) {
        Some(ro) => Err(bad_request(&format!(
            "Property '{ro}' is read-only and cannot be set."
        ))),
        None => Ok(()),
    }
}

/// The id of a stored object.
fn id_of(o: &Obj) -> String {
    o.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Graph's answer to a creation: `201 Created` with the new object (its default properties)
/// and its URL in `Location`.
fn created(base: &str, kind: Kind, o: &Obj) -> GResp {
    let set = match kind {
        Kind::User => "users",
        Kind::Group => "groups",
    };
    let mut out = Obj::new();
    out.insert(
        "@odata.context".into(),
        json!(format!("{base}/v1.0/$metadata#{set}/$entity")),
    );
    out.append(&mut odata::project(o, None, default_for(kind)));
    GResp::json(201, Value::Object(out))
        .with_header("Location", format!("{base}/v1.0/{set}/{}", id_of(o)))
}

fn create_user(base: &str, t: &mut Tenant, req: &GReq) -> Result<GResp, GResp> {
    let mut body = body_obj(req)?;
    require(
        &body,
        &[
            "accountEnabled",
            "displayName",
            "mailNickname",
            "userPrincipalName",
            "passwordProfile",
        ],
    )?;
    let upn = body
        .get("userPrincipalName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let domain_ok = upn.rsplit_once('@').is_some_and(|(_, d)| eq(d, &t.domain));
    if !domain_ok {
        return Err(bad_request(
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
        ));
    }
    body.remove("passwordProfile");
    check_writable(t, &body, "User", crate::store::USER_READ_ONLY)?;
    body.entry("creationType").or_insert(Value::Null);
    let o = t.create_user(body).map_err(admin_err)?;
    Ok(created(base, Kind::User, &o))
}

fn create_group(base: &str, t: &mut Tenant, req: &GReq) -> Result<GResp, GResp> {
    let mut body = body_obj(req)?;
    require(
        &body,
        &[
            "displayName",
            "mailEnabled",
            "mailNickname",
            "securityEnabled",
        ],
    )?;
    let unified = body
        .get("groupTypes")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "Unified"));
    let mail_enabled = body.get("mailEnabled") == Some(&json!(true));
    let security = body.get("securityEnabled") == Some(&json!(true));
    if !unified && mail_enabled {
        return Err(bad_request(
            "The service does not currently support writes of mail-enabled groups. Please ensure that the mail-enablement property is unset or set to false.",
        ));
    }
    if !unified && !security {
        return Err(bad_request(
            "A group that is not a Microsoft 365 group must be created with securityEnabled set to true.",
        ));
    }
    let members = binds(t, &body)?;
    body.remove("members@odata.bind");
    body.remove("owners@odata.bind");
    check_writable(t, &body, "Group", crate::store::GROUP_READ_ONLY)?;
    if unified {
        let nick = body
            .get("mailNickname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        body.insert("mail".into(), json!(format!("{nick}@{}", t.domain)));
        body.insert(
            "proxyAddresses".into(),
            json!([format!("SMTP:{nick}@{}", t.domain)]),
        );
        body.entry("visibility").or_insert(json!("Public"));
        body.insert("renewedDateTime".into(), json!(now_string(&t.clock)));
    }
    let o = t.create_group(body).map_err(admin_err)?;
    let id = id_of(&o);
    for m in members {
        // Duplicates in the bind list are ignored.
        let _ = t.add_member(&id, &m);
    }
    Ok(created(base, Kind::Group, &o))
}

fn patch_group(t: &mut Tenant, id: &str, req: &GReq) -> Result<GResp, GResp> {
    if !t.groups.contains_key(id) || t.lagging(id) {
        return Err(not_found(id));
    }
    let mut body = body_obj(req)?;
    let members = binds(t, &body)?;
    let existing = t.members.get(id).cloned().unwrap_or_default();
    let mut seen = BTreeSet::new();
    for m in &members {
        if existing.contains(m) || !seen.insert(m.clone()) {
            return Err(bad_request(
                "One or more added object references already exist for the following modified properties: 'members'.",
            ));
        }
        if m == id {
            return Err(bad_request("A group cannot be a member of itself."));
        }
    }
    body.remove("members@odata.bind");
    body.remove("owners@odata.bind");
    check_extensions(t, &body, "Group")?;
    if !body.is_empty() {
        t.patch_group(id, &body, true).map_err(admin_err)?;
    }
    for m in members {
        t.add_member(id, &m).map_err(admin_err)?;
    }
    Ok(GResp::no_content())
}

fn invite(base: &str, t: &mut Tenant, req: &GReq) -> Result<GResp, GResp> {
    let body = body_obj(req)?;
    let bad = |m: &str| GResp::error(400, "BadRequest", m);
    let email = body
        .get("invitedUserEmailAddress")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("The invitedUserEmailAddress property is required."))?
        .to_string();
    let redirect = body
        .get("inviteRedirectUrl")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("The inviteRedirectUrl property is required."))?
        .to_string();
    let Some((alias, domain)) = email
        .rsplit_once('@')
        .filter(|(a, d)| !a.is_empty() && d.contains('.'))
    else {
        return Err(bad(&format!("The email address '{email}' is not valid.")));
    };
    let user_type = body
        .get("invitedUserType")
        .and_then(Value::as_str)
        .unwrap_or("Guest");
    let user_type = match user_type {
        x if eq(x, "guest") => "Guest",
        x if eq(x, "member") => "Member",
        other => {
            return Err(bad(&format!(
                "Invalid value '{other}' for invitedUserType; use Guest or Member."
            )));
        }
    };
    let display = body
        .get("invitedUserDisplayName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let send = body
        .get("sendInvitationMessage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let existing = t
        .find_user_by_mail(&email)
        .and_then(|id| t.users().get_key_value(id))
        .map(|(id, u)| (id.clone(), u.clone()));
    let (user_id, user, status) = match existing {
        Some((id, u)) => {
            let status = match u.get("externalUserState").and_then(Value::as_str) {
                Some("Accepted") | None => "Completed",
                Some(_) => "PendingAcceptance",
            };
            (id, u, status)
        }
        None => {
            let stem = format!("{}_{}", alias, domain).replace(['@', ' '], "_");
            let mut upn = format!("{stem}#EXT#@{}", t.domain);
            let mut n = 1;
            while t.find_user(&upn).is_some() {
                upn = format!("{stem}{n}#EXT#@{}", t.domain);
                n += 1;
            }
            let mut o = Obj::new();
            o.insert("userPrincipalName".into(), json!(upn));
            o.insert(
                "displayName".into(),
                json!(display.clone().unwrap_or_else(|| email.clone())),
            );
            o.insert("mail".into(), json!(email));
            o.insert("otherMails".into(), json!([email]));
            o.insert("mailNickname".into(), json!(format!("{stem}#EXT#")));
            o.insert("userType".into(), json!(user_type));
            o.insert("externalUserState".into(), json!("PendingAcceptance"));
            o.insert(
                "externalUserStateChangeDateTime".into(),
                json!(now_string(&t.clock)),
            );
            o.insert("creationType".into(), json!("Invitation"));
            o.insert("accountEnabled".into(), json!(true));
            o.insert(
                "identities".into(),
                json!([{"signInType": "userPrincipalName", "issuer": t.domain, "issuerAssignedId": upn}]),
            );
            let u = t.create_user(o).map_err(admin_err)?;
            (id_of(&u), u, "PendingAcceptance")
        }
    };
    let invitation_id = uuid::Uuid::new_v4().to_string();
    t.invitations.insert(invitation_id.clone(), user_id.clone());
    let redeem = format!(
        "https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{}%26user%3d{}%26ticket%3d{}",
        t.id,
        user_id,
        uuid::Uuid::new_v4().simple()
    );
    Ok(GResp::json(
        201,
        json!({
            "@odata.context": format!("{base}/v1.0/$metadata#invitations/$entity"),
            "id": invitation_id,
            "inviteRedeemUrl": redeem,
            "invitedUserDisplayName": display.or_else(|| user.get("displayName").and_then(Value::as_str).map(str::to_string)),
            "invitedUserType": user.get("userType").cloned().unwrap_or(json!(user_type)),
            "invitedUserEmailAddress": email,
            "sendInvitationMessage": send,
            "resetRedemption": false,
            "inviteRedirectUrl": redirect,
            "status": status,
            "invitedUserMessageInfo": body.get("invitedUserMessageInfo").cloned().unwrap_or(json!({"messageLanguage": null, "customizedMessageBody": null, "ccRecipients": [{"emailAddress": {"name": null, "address": null}}]})),
            "invitedUser": {"id": user_id},
        }),
    ))
}

/// `POST /directoryObjects/getByIds`.
fn get_by_ids(base: &str, t: &Tenant, req: &GReq) -> Result<GResp, GResp> {
    let body = body_obj(req)?;
    let ids: Vec<String> = body
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_request("Property 'ids' is required."))?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect();
    if ids.len() > 1000 {
        return Err(bad_request("The number of ids must not exceed 1000."));
    }
    let types: Option<Vec<String>> = body.get("types").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| {
                v.as_str().map(|s| {
                    s.trim_start_matches("microsoft.graph.")
                        .to_ascii_lowercase()
                })
            })
            .collect()
    });
    let wanted = |k: Kind| {
        let name = if k == Kind::User { "user" } else { "group" };
        types
            .as_ref()
            .is_none_or(|ts| ts.iter().any(|x| x == name || x == "directoryobject"))
    };
    let mut value = Vec::new();
    for id in &ids {
        if t.lagging(id) {
            continue;
        }
        let Some((o, kind)) = t.live(id) else {
            continue;
        };
        if wanted(kind) {
            value.push(directory_object(o, kind, None));
        }
    }
    Ok(GResp::json(
        200,
        json!({"@odata.context": format!("{base}/v1.0/$metadata#directoryObjects"), "value": value}),
    ))
}

fn find_application<'a>(t: &'a Tenant, key: &str) -> Option<&'a Obj> {
    let key = key.trim();
    if let Some(app_id) = key
        .strip_prefix("(appId='")
        .or_else(|| key.strip_prefix("applications(appId='"))
        .and_then(|x| x.strip_suffix("')"))
    {
        return t.applications.values().find(|a| {
            a.get("appId")
                .and_then(Value::as_str)
                .is_some_and(|x| eq(x, app_id))
        });
    }
    t.applications.get(&key.to_ascii_lowercase())
}

fn list_applications(base: &str, t: &Tenant, req: &GReq) -> Result<GResp, GResp> {
    let allowed = |p: &str| eq(p, "appId") || eq(p, "id") || eq(p, "displayName");
    let filter = match req.q("filter") {
        Some(f) => Some(odata::parse_filter(f, &allowed).map_err(|e| match e {
            FilterError::Unsupported(p) => unsupported_query(&format!(
                "Unsupported or invalid query filter clause specified for property '{p}' of resource 'Application'."
            )),
            FilterError::Syntax(m) => GResp::error(400, "BadRequest", &format!("Invalid filter clause: {m}")),
        })?),
        None => None,
    };
    let select = odata::parse_select(req.q("select"));
    let value: Vec<Value> = t
        .applications
        .values()
        .filter(|a| filter.as_ref().is_none_or(|f| odata::eval(f, a)))
        .map(|a| Value::Object(odata::project(a, select.as_deref(), None)))
        .collect();
    Ok(GResp::json(
        200,
        json!({"@odata.context": format!("{base}/v1.0/$metadata#applications"), "value": value}),
    ))
}

fn public_extension(e: &Obj) -> Obj {
    let mut o = e.clone();
    o.remove("appId");
    o
}

fn create_extension(base: &str, t: &mut Tenant, key: &str, req: &GReq) -> Result<GResp, GResp> {
    let app = find_application(t, key)
        .ok_or_else(|| not_found(key))?
        .clone();
    let body = body_obj(req)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(|| {
            bad_request("Property 'name' is required and may contain only letters, digits and '_'.")
        })?;
    let data_type = body
        .get("dataType")
        .and_then(Value::as_str)
        .unwrap_or("String");
    const TYPES: &[&str] = &[
        "Binary",
        "Boolean",
        "DateTime",
        "Integer",
        "LargeInteger",
        "String",
    ];
    if !TYPES.contains(&data_type) {
        return Err(bad_request(&format!(
            "Invalid value '{data_type}' for property 'dataType'."
        )));
    }
    let targets = body
        .get("targetObjects")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad_request("Property 'targetObjects' is required."))?
        .clone();
    let app_id = app
        .get("appId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let full = format!("extension_{}_{name}", app_id.replace('-', ""));
    if t.extension_properties.iter().any(|e| {
        e.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| eq(n, &full))
    }) {
        return Err(bad_request(&format!(
            "Property with name '{full}' already exists on the application."
        )));
    }
    let mut e = Obj::new();
    e.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    e.insert("deletedDateTime".into(), Value::Null);
    e.insert(
        "appDisplayName".into(),
        app.get("displayName").cloned().unwrap_or(Value::Null),
    );
    e.insert("dataType".into(), json!(data_type));
    e.insert(
        "isMultiValued".into(),
        body.get("isMultiValued").cloned().unwrap_or(json!(false)),
    );
    e.insert("isSyncedFromOnPremises".into(), json!(false));
    e.insert("name".into(), json!(full));
    e.insert("targetObjects".into(), Value::Array(targets));
    e.insert("appId".into(), json!(app_id));
    t.extension_properties.push(e.clone());
    let mut out = public_extension(&e);
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/v1.0/$metadata#applications('{key}')/extensionProperties/$entity"
        )),
    );
    Ok(GResp::json(201, Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_ids_are_extracted() {
        assert_eq!(
            ref_id("https://graph.microsoft.com/v1.0/directoryObjects/ABC"),
            Some("abc".to_string())
        );
        assert_eq!(
            ref_id("https://x/v1.0/directoryObjects('abc')"),
            Some("abc".to_string())
        );
        assert_eq!(ref_id(""), None);
    }
}

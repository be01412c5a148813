//! What Microsoft's authentication libraries fetch before they ask for a token: the OpenID
//! Connect discovery documents of a tenant (v2.0 and v1), the signing keys they point to, and
//! MSAL's instance discovery.
//!
//! Documents follow the shape Entra serves
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri>):
//! every endpoint is on the host the client used (`127.0.0.1:PORT` or `localhost:PORT`, the
//! names the emulator's certificate carries), for a served tenant by GUID or verified domain
//! (endpoints then name the GUID) and for `common` and `organizations` (endpoints keep that
//! word, the issuer has the `{tenantid}` placeholder, `tenant_region_scope` is null).

use crate::auth::{correlation_id, sts_error};
use crate::server::{Shared, plain};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::{Value, json};

/// Claims Entra lists in its v2.0 discovery document.
const CLAIMS_V2: &[&str] = &[
    "sub",
    "iss",
    "cloud_instance_name",
    "cloud_instance_host_name",
    "cloud_graph_host_name",
    "msgraph_host",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "nonce",
    "preferred_username",
    "name",
    "tid",
    "ver",
    "at_hash",
    "c_hash",
    "email",
];

/// Claims Entra lists in its v1 discovery document.
const CLAIMS_V1: &[&str] = &[
    "sub",
    "iss",
    "cloud_instance_name",
    "cloud_instance_host_name",
    "cloud_graph_host_name",
    "msgraph_host",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "amr",
    "nonce",
    "email",
    "given_name",
    "family_name",
    "nickname",
];

/// `token_endpoint_auth_methods_supported` as Entra lists it.
const AUTH_METHODS: &[&str] = &[
    "client_secret_post",
    "private_key_jwt",
    "client_secret_basic",
];

/// Region of the emulated tenants: their organization's country is the US.
const TENANT_REGION: &str = "NA";

/// The authority a discovery request names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Authority {
    /// A served tenant, by its id.
    Tenant(String),
    /// `common` or `organizations` (lower case): any work or school account.
    Multi(&'static str),
}

impl Authority {
    /// The path segment endpoints use: the tenant id, or the multi-tenant word.
    fn segment(&self) -> &str {
        match self {
            Authority::Tenant(id) => id,
            Authority::Multi(word) => word,
        }
    }

    /// The tenant part of the issuer.
    fn issuer_tenant(&self) -> &str {
        match self {
            Authority::Tenant(id) => id,
            Authority::Multi(_) => "{tenantid}",
        }
    }

    fn region(&self) -> Value {
        match self {
            Authority::Tenant(_) => json!(TENANT_REGION),
            Authority::Multi(_) => Value::Null,
        }
    }
}

/// The tenant a path names, or the identity platform's "tenant not found" error (as Entra
/// answers for an unknown tenant: 400 `invalid_tenant`, AADSTS90002).
#[allow(clippy::result_large_err)]
fn authority(shared: &Shared, key: &str, correlation: &str) -> Result<Authority, Response> {
    let lower = key.to_ascii_lowercase();
    match lower.as_str() {
        "common" => return Ok(Authority::Multi("common")),
        "organizations" => return Ok(Authority::Multi("organizations")),
        _ => {}
    }
    // A tenant id or one of its verified domains.
    if let Some((id, _)) = shared.tenant(key) {
        return Ok(Authority::Tenant(id.to_string()));
    }
    Err(sts_error(
        400,
        "invalid_tenant",
        90002,
        &format!(
            "Tenant '{key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. This emulator serves the tenants it printed at start, 'common' and 'organizations'."
        ),
        correlation,
    ))
}

/// `scheme://host:port` as the client addressed the emulator: its `Host` header when that
/// names the emulator (`127.0.0.1`, `localhost`) on its port, else the base URL.
pub(crate) fn origin(shared: &Shared, parts: &Parts) -> String {
    let (scheme, authority) = shared
        .base_url
        .split_once("://")
        .unwrap_or(("https", shared.base_url.as_str()));
    let port = authority.rsplit_once(':').map(|(_, p)| p).unwrap_or("");
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    if let Some(h) = host
        && let Some((name, p)) = h.rsplit_once(':')
        && p == port
        && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1")
    {
        return format!("{scheme}://{}:{port}", name.to_ascii_lowercase());
    }
    shared.base_url.clone()
}

/// The host (and port) part of an origin.
fn host_of(origin: &str) -> &str {
    origin.split_once("://").map(|(_, h)| h).unwrap_or(origin)
}

/// `doc` with the fields that end both discovery documents: the Kerberos endpoint, the
/// tenant's region and the cloud's host names.
fn with_instance_fields(mut doc: Value, origin: &str, a: &Authority) -> Value {
    let t = a.segment();
    let host = host_of(origin);
    if let Some(o) = doc.as_object_mut() {
        o.insert(
            "kerberos_endpoint".into(),
            json!(format!("{origin}/{t}/kerberos")),
        );
        o.insert("tenant_region_scope".into(), a.region());
        o.insert("cloud_instance_name".into(), json!(host));
        o.insert("cloud_graph_host_name".into(), json!(host));
        o.insert("msgraph_host".into(), json!(host));
        o.insert("rbac_url".into(), json!("https://pas.windows.net"));
    }
    doc
}

/// The v2.0 OpenID Connect discovery document.
fn v2_document(origin: &str, a: &Authority) -> Value {
    let t = a.segment();
    let doc = json!({
        "token_endpoint": format!("{origin}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "jwks_uri": format!("{origin}/{t}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{origin}/{}/v2.0", a.issuer_tenant()),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{origin}/oidc/userinfo"),
        "authorization_endpoint": format!("{origin}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{origin}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{origin}/{t}/oauth2/v2.0/logout"),
        "claims_supported": CLAIMS_V2,
    });
    with_instance_fields(doc, origin, a)
}

/// The v1 OpenID Connect discovery document. Its issuer is the `iss` of the emulator's access
/// tokens (`https://sts.windows.net/{tenant}/`), as Entra's v1 document is that of its v1
/// tokens (Graph's access tokens for applications are v1 tokens).
fn v1_document(origin: &str, a: &Authority) -> Value {
    let t = a.segment();
    let doc = json!({
        "token_endpoint": format!("{origin}/{t}/oauth2/token"),
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "jwks_uri": format!("{origin}/{t}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": format!("https://sts.windows.net/{}/", a.issuer_tenant()),
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{origin}/{t}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{origin}/{t}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{origin}/{t}/oauth2/logout"),
        "claims_supported": CLAIMS_V1,
        "check_session_iframe": format!("{origin}/{t}/oauth2/checksession"),
        "userinfo_endpoint": format!("{origin}/{t}/openid/userinfo"),
    });
    with_instance_fields(doc, origin, a)
}

/// The key set: the one key the emulator signs with. The v2.0 set names each key's issuer,
/// as Entra's does.
fn keys(shared: &Shared, origin: &str, a: &Authority, v2: bool) -> Value {
    let issuer = v2.then(|| format!("{origin}/{}/v2.0", a.issuer_tenant()));
    json!({"keys": [shared.signer.jwk(issuer.as_deref())]})
}

/// MSAL's instance discovery, `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`
/// (<https://learn.microsoft.com/entra/msal/dotnet/advanced/custom-authority-aliases>): for an
/// authorization endpoint on the emulator's host it answers the tenant discovery endpoint
/// (v2.0 or v1 after the endpoint's path) and the host's aliases; for any other host it
/// answers `invalid_instance` (AADSTS50049), as Entra does for a host it does not know.
fn instance(origin: &str, query: &str, correlation: &str) -> Response {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match get("api-version") {
        Some("1.0" | "1.1") => {}
        _ => {
            return sts_error(
                400,
                "invalid_request",
                900144,
                "The request must contain the parameter 'api-version' with the value 1.0 or 1.1.",
                correlation,
            );
        }
    }
    let Some(endpoint) = get("authorization_endpoint") else {
        return sts_error(
            400,
            "invalid_request",
            900144,
            "The request must contain the parameter 'authorization_endpoint', e.g. https://127.0.0.1:PORT/{tenant}/oauth2/v2.0/authorize.",
            correlation,
        );
    };
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or("");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    // MSAL for Python drops the port from the endpoint it sends; the name decides.
    let name = host.rsplit_once(':').map(|(n, _)| n).unwrap_or(host);
    let ours = name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1";
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (tenant, v2) = match segs.as_slice() {
        [t, "oauth2", "v2.0", "authorize"] => (*t, true),
        [t, "oauth2", "authorize"] => (*t, false),
        _ => ("", false),
    };
    if !ours || tenant.is_empty() {
        return sts_error(
            400,
            "invalid_instance",
            50049,
            &format!(
                "Unknown or invalid instance. The emulator answers for authorization endpoints on {}, e.g. {origin}/{{tenant}}/oauth2/v2.0/authorize; it was asked about '{endpoint}'.",
                host_of(origin)
            ),
            correlation,
        );
    }
    let discovery = if v2 {
        format!("{origin}/{tenant}/v2.0/.well-known/openid-configuration")
    } else {
        format!("{origin}/{tenant}/.well-known/openid-configuration")
    };
    let port = host_of(origin)
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or_default();
    let preferred = host_of(origin).to_string();
    let aliases: Vec<String> = ["127.0.0.1", "localhost"]
        .iter()
        .map(|n| format!("{n}:{port}"))
        .collect();
    plain(
        200,
        json!({
            "tenant_discovery_endpoint": discovery,
            "api-version": get("api-version"),
            "metadata": [{
                "preferred_network": preferred,
                "preferred_cache": preferred,
                "aliases": aliases,
            }],
        }),
    )
}

/// The documents served per authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Document {
    V2,
    V1,
    KeysV2,
    KeysV1,
}

/// Serves a discovery request, or returns None when the path is not one.
pub(crate) fn handle(shared: &Shared, parts: &Parts, path: &str, query: &str) -> Option<Response> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (tenant, document) = match segs.as_slice() {
        ["common", "discovery", "instance"] => ("", None),
        [t, "v2.0", ".well-known", "openid-configuration"] => (*t, Some(Document::V2)),
        [t, ".well-known", "openid-configuration"] => (*t, Some(Document::V1)),
        [t, "discovery", "v2.0", "keys"] => (*t, Some(Document::KeysV2)),
        [t, "discovery", "keys"] => (*t, Some(Document::KeysV1)),
        _ => return None,
    };
    let correlation = correlation_id(parts);
    if parts.method != axum::http::Method::GET {
        return Some(sts_error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts GET requests.",
            &correlation,
        ));
    }
    let origin = origin(shared, parts);
    let Some(document) = document else {
        return Some(instance(&origin, query, &correlation));
    };
    let a = match authority(shared, tenant, &correlation) {
        Ok(a) => a,
        Err(r) => return Some(r),
    };
    let body = match document {
        Document::V2 => v2_document(&origin, &a),
        Document::V1 => v1_document(&origin, &a),
        Document::KeysV2 => keys(shared, &origin, &a, true),
        Document::KeysV1 => keys(shared, &origin, &a, false),
    };
    Some(plain(200, body))
}

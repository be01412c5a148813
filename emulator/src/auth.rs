//! Identity platform: client-credentials token endpoint, the managed identity endpoints (App
//! Service / Azure Automation style and instance metadata service style) and validation of
//! bearer tokens presented to Graph.

use crate::config::AppRegistration;
use crate::dispatch::GResp;
use crate::jwt;
use crate::server::{Shared, lock, plain};
use axum::response::Response;
use serde_json::{Value, json};
use std::time::Duration;

/// Audience of Graph tokens.
pub(crate) const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Audience of managed-identity tokens used as federated client assertions.
pub(crate) const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const LIFETIME: i64 = 3599;

/// The emulator's time in unix seconds: token issuance, expiry and assertion windows.
fn now(shared: &Shared) -> i64 {
    shared.clock.now().timestamp()
}

/// An identity platform error response. The description's lines are separated by `\r\n`, as
/// in the error example of https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#error-response
/// (`"AADSTS70011: ... is not valid.\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ..."`).
pub(crate) fn sts_error(
    status: u16,
    error: &str,
    code: u32,
    message: &str,
    correlation: &str,
) -> Response {
    let trace = uuid::Uuid::new_v4().to_string();
    let ts = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    plain(status, body)
}

fn object_id(tenant: &str, client_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("sp:{tenant}:{client_id}").as_bytes(),
    )
    .to_string()
}

/// Claims of a Graph application token.
fn graph_claims(
    tenant: &str,
    app: &AppRegistration,
    issuer_base: &str,
    audience: &str,
    n: i64,
) -> Value {
    let mut c = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": n, "nbf": n, "exp": n + LIFETIME,
        "tid": tenant,
        "appid": app.client_id,
        "azp": app.client_id,
        "oid": object_id(tenant, &app.client_id),
        "sub": object_id(tenant, &app.client_id),
        "idtyp": "app",
        "ver": "1.0",
        "xms_emulator": issuer_base,
    });
    if !app.roles.is_empty() {
        c["roles"] = json!(app.roles);
    }
    c
}

async fn apply_latency(shared: &Shared, tenant: &str) {
    let delay = shared.tenant(tenant).and_then(|(_, t)| {
        let mut t = lock(t);
        let l = t.knobs.latency.clone()?;
        Some(crate::faults::latency(&mut t, &l))
    });
    if let Some(d) = delay
        && d > Duration::ZERO
    {
        tokio::time::sleep(d).await;
    }
}

/// The correlation id of a sign-in request: the `client-request-id` the client sent, or a
/// new one.
pub(crate) fn correlation_id(parts: &axum::http::request::Parts) -> String {
    parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`.
pub(crate) async fn token(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    tenant_key: &str,
    body: &[u8],
) -> Response {
    let correlation = correlation_id(parts);
    if parts.method != axum::http::Method::POST {
        return sts_error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
            &correlation,
        );
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some((tenant_id, tenant)) = shared.tenant(tenant_key) else {
        return sts_error(
            400,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
            &correlation,
        );
    };
    let tenant_id = tenant_id.to_string();
    apply_latency(shared, &tenant_id).await;
    match get("grant_type") {
        Some("client_credentials") => {}
        None => {
            return sts_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
                &correlation,
            );
        }
        Some(other) => {
            return sts_error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
                &correlation,
            );
        }
    }
    let Some(client_id) = get("client_id") else {
        return sts_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            &correlation,
        );
    };
    let scope = get("scope").unwrap_or_default();
    let scope_ok = scope.split(' ').filter(|s| !s.is_empty()).any(|s| {
        s.strip_suffix("/.default")
            .is_some_and(|r| shared.is_graph_resource(r))
    });
    // A `/.default` scope of a resource the tenant does not know is refused with AADSTS500011
    // (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
    let unknown_resource = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .find_map(|s| s.strip_suffix("/.default"))
        .filter(|r| !shared.is_graph_resource(r));
    if scope.is_empty() {
        return sts_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
            &correlation,
        );
    }
    let app = lock(tenant)
        .apps
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id) && !a.managed_identity)
        .cloned();
    let Some(app) = app else {
        return sts_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
            &correlation,
        );
    };
    if let Some(resource) = unknown_resource.filter(|_| !scope_ok) {
        return sts_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
            &correlation,
        );
    }
    if !scope_ok {
        return sts_error(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
            &correlation,
        );
    }
    if let Some(secret) = get("client_secret") {
        if app.client_secret.as_deref() != Some(secret) {
            return sts_error(
                401,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.client_id
                ),
                &correlation,
            );
        }
    } else if let Some(assertion) = get("client_assertion") {
        if get("client_assertion_type") != Some(JWT_BEARER) {
            return sts_error(
                400,
                "invalid_request",
                50027,
                "Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                &correlation,
            );
        }
        if let Err(r) = check_assertion(
            shared,
            &tenant_id,
            tenant_key,
            &app,
            assertion,
            &correlation,
        ) {
            return r;
        }
    } else {
        return sts_error(
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            &correlation,
        );
    }
    let token = shared.signer.sign(&graph_claims(
        &tenant_id,
        &app,
        &shared.base_url,
        shared.graph_audience(),
        now(shared),
    ));
    let mut resp = plain(
        200,
        json!({"token_type": "Bearer", "expires_in": LIFETIME, "ext_expires_in": LIFETIME, "access_token": token}),
    );
    if let Ok(v) = correlation.parse() {
        resp.headers_mut().insert("client-request-id", v);
    }
    resp
}

#[allow(clippy::result_large_err)]
fn check_assertion(
    shared: &Shared,
    tenant_id: &str,
    tenant_key: &str,
    app: &AppRegistration,
    assertion: &str,
    correlation: &str,
) -> Result<(), Response> {
    let n = now(shared);
    if let Some(pem) = &app.certificate_pem {
        let claims = jwt::verify_with_certificate(assertion, pem).map_err(|e| {
            sts_error(
                401,
                "invalid_client",
                700027,
                &format!("Client assertion failed signature validation: {e}."),
                correlation,
            )
        })?;
        let audiences = [
            format!("{}/{tenant_id}/oauth2/v2.0/token", shared.base_url),
            format!("{}/{tenant_key}/oauth2/v2.0/token", shared.base_url),
            format!("https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"),
            format!("https://login.microsoftonline.com/{tenant_key}/oauth2/v2.0/token"),
            format!("https://login.microsoftonline.com/{tenant_id}/v2.0"),
        ];
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => audiences.iter().any(|x| x.eq_ignore_ascii_case(a)),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.iter().any(|x| x.eq_ignore_ascii_case(a))),
            _ => false,
        };
        if !aud_ok {
            return Err(sts_error(
                400,
                "invalid_client",
                700212,
                "No matching federated identity record found for presented assertion audience.",
                correlation,
            ));
        }
        for claim in ["iss", "sub"] {
            if claims.get(claim).and_then(Value::as_str) != Some(app.client_id.as_str()) {
                return Err(sts_error(
                    401,
                    "invalid_client",
                    700021,
                    &format!(
                        "Client assertion application identifier doesn't match 'client_id' parameter ('{claim}' must be the client id)."
                    ),
                    correlation,
                ));
            }
        }
        check_times(&claims, n, correlation)?;
        return Ok(());
    }
    if let Some(fic) = &app.federated_from {
        let claims = shared.signer.verify(assertion).map_err(|_| {
            sts_error(
                400,
                "invalid_request",
                700211,
                "No matching federated identity record found for presented assertion issuer.",
                correlation,
            )
        })?;
        let aud_ok = claims.get("aud").and_then(Value::as_str) == Some(EXCHANGE_AUDIENCE);
        let sub_ok = claims
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case(&fic.managed_identity_client_id));
        if !aud_ok || !sub_ok {
            return Err(sts_error(
                400,
                "invalid_request",
                70021,
                "No matching federated identity record found for presented assertion.",
                correlation,
            ));
        }
        check_times(&claims, n, correlation)?;
        return Ok(());
    }
    Err(sts_error(
        401,
        "invalid_client",
        700027,
        "The certificate with identifier used to sign the client assertion is not registered on application.",
        correlation,
    ))
}

#[allow(clippy::result_large_err)]
fn check_times(claims: &Value, n: i64, correlation: &str) -> Result<(), Response> {
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN);
    if exp <= n - 300 || nbf > n + 300 {
        return Err(sts_error(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
            correlation,
        ));
    }
    Ok(())
}

/// `GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01[&client_id=...]`: the App
/// Service, Functions and Azure Automation endpoint
/// (https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference).
pub(crate) async fn managed_identity(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    query: &str,
) -> Response {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // The X-IDENTITY-HEADER header must carry the IDENTITY_HEADER value; the header
    // "mitigates server-side request forgery attacks" (same page, REST endpoint reference).
    match parts
        .headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
    {
        None => {
            return plain(
                400,
                json!({"statusCode": 400, "message": "Required metadata header not specified: X-IDENTITY-HEADER"}),
            );
        }
        Some(h) if h != shared.identity_header => {
            return plain(
                401,
                json!({"statusCode": 401, "message": "Unauthorized: invalid X-IDENTITY-HEADER"}),
            );
        }
        Some(_) => {}
    }
    // "api-version: The version of the token API to be used. Use 2019-08-01." (same page).
    if get("api-version") != Some("2019-08-01") {
        return plain(
            400,
            json!({"statusCode": 400, "message": "api-version 2019-08-01 is required"}),
        );
    }
    let Some(resource) = get("resource") else {
        return plain(
            400,
            json!({"statusCode": 400, "message": "resource is required"}),
        );
    };
    match mi_token(shared, get("client_id"), resource).await {
        Ok(body) => plain(200, body),
        Err(MiError::NoIdentity(message) | MiError::UnknownResource(message)) => {
            plain(400, json!({"statusCode": 400, "message": message}))
        }
    }
}

/// `GET /metadata/identity/oauth2/token?api-version=...&resource=...[&client_id=...]` with
/// `Metadata: true`: the instance metadata service of Azure VMs
/// (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#get-a-token-using-http).
pub(crate) async fn imds(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    query: &str,
) -> Response {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let bad = |error: &str, description: &str| {
        plain(
            400,
            json!({"error": error, "error_description": description}),
        )
    };
    // IMDS answers GET only (https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service#http-verbs).
    if parts.method != axum::http::Method::GET {
        return plain(
            405,
            json!({"error": "Method not allowed", "newest-versions": ["2019-08-01"]}),
        );
    }
    // "Metadata: Metadata request header field, required as a mitigation against Server Side
    // Request Forgery (SSRF) attack. This value must be set to true, in all lower case."
    // (how-to-use-vm-token, Get a token using HTTP). Requests with X-Forwarded-For are refused
    // (https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service#security-and-authentication).
    if parts.headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return bad("invalid_request", "Required metadata header not specified");
    }
    if parts.headers.contains_key("x-forwarded-for") {
        return bad(
            "invalid_request",
            "Requests with an X-Forwarded-For header are not accepted",
        );
    }
    // "api-version: A query string parameter, indicating the API version for the token
    // endpoint. Please use API version 2018-02-01 or greater." (how-to-use-vm-token).
    match get("api-version") {
        None => {
            return bad(
                "invalid_request",
                "Required query variable 'api-version' is missing",
            );
        }
        Some(v)
            if v < "2018-02-01" || chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_err() =>
        {
            return bad("invalid_request", "Invalid version of api-version");
        }
        Some(_) => {}
    }
    let Some(resource) = get("resource") else {
        return bad(
            "invalid_resource",
            "Required query variable 'resource' is missing",
        );
    };
    match mi_token(shared, get("client_id"), resource).await {
        Ok(mut body) => {
            // IMDS also reports `expires_in`, `ext_expires_in` and `not_before`, as strings.
            let exp = body["expires_on"]
                .as_str()
                .and_then(|e| e.parse::<i64>().ok())
                .unwrap_or(0);
            let n = now(shared);
            body["expires_in"] = json!((exp - n).to_string());
            body["ext_expires_in"] = json!((exp - n).to_string());
            body["not_before"] = json!(n.to_string());
            body["refresh_token"] = json!("");
            plain(200, body)
        }
        // "Identity not found" for an identity that is not assigned (how-to-use-vm-token,
        // error handling table).
        Err(MiError::NoIdentity(_)) => bad("invalid_request", "Identity not found"),
        Err(MiError::UnknownResource(message)) => bad("invalid_resource", &message),
    }
}

enum MiError {
    NoIdentity(String),
    UnknownResource(String),
}

/// A managed identity token: the identity named by `client_id` (or the first one), for the
/// emulated Graph or the token exchange audience.
async fn mi_token(shared: &Shared, wanted: Option<&str>, resource: &str) -> Result<Value, MiError> {
    let mut found = None;
    for (tid, t) in &shared.tenants {
        let t = lock(t);
        if let Some(app) = t.apps.iter().find(|a| {
            a.managed_identity && wanted.is_none_or(|w| a.client_id.eq_ignore_ascii_case(w))
        }) {
            found = Some((tid.clone(), app.clone()));
            break;
        }
    }
    let Some((tid, app)) = found else {
        return Err(MiError::NoIdentity(format!(
            "No managed identity found for client_id {}",
            wanted.unwrap_or("(system-assigned)")
        )));
    };
    apply_latency(shared, &tid).await;
    let res = resource.trim_end_matches('/');
    let claims = if res == EXCHANGE_AUDIENCE {
        let n = now(shared);
        json!({
            "aud": EXCHANGE_AUDIENCE,
            "iss": format!("{}/{tid}/v2.0", shared.base_url),
            "sub": app.client_id,
            "oid": object_id(&tid, &app.client_id),
            "tid": tid,
            "appid": app.client_id,
            "iat": n, "nbf": n, "exp": n + 86_399,
            "idtyp": "app",
        })
    } else if shared.is_graph_resource(res) {
        let mut c = graph_claims(
            &tid,
            &app,
            &shared.base_url,
            shared.graph_audience(),
            now(shared),
        );
        c["xms_mirid"] = json!(format!(
            "/subscriptions/emulated/managedIdentity/{}",
            app.client_id
        ));
        c
    } else {
        return Err(MiError::UnknownResource(format!(
            "resource '{resource}' is not served by this emulator; use {} or {EXCHANGE_AUDIENCE}",
            shared.graph_audience()
        )));
    };
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let token = shared.signer.sign(&claims);
    Ok(json!({
        "access_token": token,
        "expires_on": exp.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": app.client_id,
    }))
}

/// The application calling Graph, with the permissions (`roles`) its token holds; what each
/// endpoint needs is in [`crate::permissions`].
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant_id: String,
    pub app_id: String,
    pub roles: Vec<String>,
}

/// Validates `Authorization: Bearer` for Graph.
pub(crate) fn authorize(shared: &Shared, headers: &axum::http::HeaderMap) -> Result<Caller, GResp> {
    let unauth = |m: &str| GResp::error(401, "InvalidAuthenticationToken", m);
    let Some(h) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauth("Access token is empty."));
    };
    let Some(token) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    else {
        return Err(unauth("Access token is empty."));
    };
    let claims = match shared.signer.verify(token.trim()) {
        Ok(c) => c,
        Err(jwt::JwtError::Malformed) => {
            return Err(unauth(
                "IDX14100: JWT is not well formed, there are no dots (.).",
            ));
        }
        Err(_) => return Err(unauth("Access token validation failure.")),
    };
    if claims.get("aud").and_then(Value::as_str) != Some(shared.graph_audience()) {
        return Err(unauth("Access token validation failure. Invalid audience."));
    }
    if claims.get("exp").and_then(Value::as_i64).unwrap_or(0) <= now(shared) {
        return Err(unauth("Lifetime validation failed, the token is expired."));
    }
    let tid = claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if shared.tenant(tid).is_none() {
        return Err(unauth("Access token validation failure. Invalid audience."));
    }
    Ok(Caller {
        tenant_id: tid.to_string(),
        app_id: claims
            .get("appid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        roles: claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

//! Graph request pipeline: authentication, latency, faults, throttling, counting, JSON
//! batching, and the Graph response envelope (request ids, error `innerError`).

use crate::auth::{self, Caller};
use crate::clock::Clock;
use crate::faults::{self, Fault};
use crate::graph;
use crate::operation;
use crate::server::{DropConnection, Shared, lock};
use crate::store::Tenant;
use axum::body::{Body, Bytes};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// A Graph response before it is put on the wire (or into a batch response).
#[derive(Debug, Clone)]
pub(crate) struct GResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl GResp {
    /// A JSON response.
    pub(crate) fn json(status: u16, body: Value) -> GResp {
        GResp {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// 204 No Content.
    pub(crate) fn no_content() -> GResp {
        GResp {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    /// A Graph error: `{"error": {"code", "message", "innerError"}}`.
    pub(crate) fn error(status: u16, code: &str, message: &str) -> GResp {
        GResp::json(
            status,
            json!({"error": {"code": code, "message": message, "innerError": {}}}),
        )
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: String) -> GResp {
        self.headers.push((name.to_string(), value));
        self
    }

    fn fill_inner_error(&mut self, clock: &Clock, request_id: &str, client_request_id: &str) {
        if let Some(inner) = self
            .body
            .as_mut()
            .and_then(|b| b.get_mut("error"))
            .and_then(|e| e.get_mut("innerError"))
            .and_then(Value::as_object_mut)
        {
            inner.insert(
                "date".into(),
                json!(clock.now().format("%Y-%m-%dT%H:%M:%S").to_string()),
            );
            inner.insert("request-id".into(), json!(request_id));
            inner.insert("client-request-id".into(), json!(client_request_id));
        }
    }
}

/// One Graph request, from the wire or from a batch.
#[derive(Debug, Clone)]
pub(crate) struct GReq {
    /// Upper-case method.
    pub method: String,
    /// Decoded path segments after `/v1.0`.
    pub segs: Vec<String>,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The JSON body, `Some(Err)` when a body was sent but is not JSON.
    pub body: Option<Result<Value, ()>>,
    /// The path (decoded segments joined by `/`) as the client wrote it, when it named an
    /// operation in another of the forms Graph accepts (`users/microsoft.graph.delta()`):
    /// links in the response echo that form, as Graph's do.
    pub as_called: Option<String>,
}

impl GReq {
    /// First value of a query parameter (names compared without case, `$` optional).
    pub(crate) fn q(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case(bare))
            .map(|(_, v)| v.as_str())
    }

    /// A header value.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Request-counter kind, e.g. `GET /users/{id}`.
    pub(crate) fn kind(&self) -> String {
        const WORDS: &[&str] = &[
            "users",
            "groups",
            "delta",
            "members",
            "transitiveMembers",
            "$ref",
            "invitations",
            "directory",
            "deletedItems",
            "microsoft.graph.user",
            "microsoft.graph.group",
            "restore",
            "applications",
            "extensionProperties",
            "policies",
            "crossTenantAccessPolicy",
            "partners",
            "identitySynchronization",
            "organization",
            "directoryObjects",
            "memberOf",
            "$count",
            "$batch",
            "getByIds",
        ];
        let path: Vec<&str> = self
            .segs
            .iter()
            .map(|s| {
                WORDS
                    .iter()
                    .find(|w| w.eq_ignore_ascii_case(s))
                    .copied()
                    .unwrap_or("{id}")
            })
            .collect();
        format!("{} /{}", self.method, path.join("/"))
    }

    /// Resource-unit cost as Graph's identity throttling computes it.
    fn cost(&self) -> (u64, bool) {
        if self.method == "POST"
            && self
                .segs
                .last()
                .is_some_and(|s| s.eq_ignore_ascii_case("getByIds"))
        {
            return (5, false);
        }
        if self.method != "GET" {
            return (1, true);
        }
        let last = self.segs.last().map(String::as_str).unwrap_or_default();
        let mut c: i64 = if last.eq_ignore_ascii_case("transitiveMembers") {
            5
        } else if last.eq_ignore_ascii_case("members") {
            3
        } else if self
            .segs
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("users"))
        {
            2
        } else {
            1
        };
        if self.q("select").is_some() {
            c -= 1;
        }
        if self.q("expand").is_some() {
            c += 1;
        }
        if self
            .q("top")
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| t < 20)
        {
            c -= 1;
        }
        (c.max(1) as u64, false)
    }
}

/// Decodes `%XX` escapes.
pub(crate) fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a path and query into a request.
pub(crate) fn parse_target(
    method: &str,
    target: &str,
    headers: Vec<(String, String)>,
    body: Option<Result<Value, ()>>,
) -> GReq {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segs = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(pct_decode)
        .collect();
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                pct_decode(&k.replace('+', " ")),
                pct_decode(&v.replace('+', " ")),
            )
        })
        .collect();
    GReq {
        method: method.to_ascii_uppercase(),
        segs,
        query,
        headers,
        body,
        as_called: None,
    }
}

/// Serves one Graph request from the wire.
pub(crate) async fn graph(
    shared: &Shared,
    parts: &axum::http::request::Parts,
    path: &str,
    query: &str,
    bytes: Bytes,
) -> Response {
    // The machine's clock, not the emulator's: it orders messages on the wire (see Arrival).
    let arrived = std::time::Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let sent_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let client_request_id = sent_id.clone().unwrap_or_else(|| request_id.clone());
    let arrival = faults::Arrival {
        at: arrived,
        client_request_id: sent_id,
    };
    let caller = match auth::authorize(shared, &parts.headers) {
        Ok(c) => c,
        Err(r) => return to_response(&shared.clock, r, &request_id, &client_request_id),
    };
    let Some((_, tenant)) = shared.tenant(&caller.tenant_id) else {
        return to_response(
            &shared.clock,
            GResp::error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
            &request_id,
            &client_request_id,
        );
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice::<Value>(&bytes).map_err(|_| ()))
    };
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let req = parse_target(parts.method.as_str(), &target, headers, body);

    // Latency and faults apply to the wire request as a whole.
    let (delay, fault) = {
        let mut t = lock(tenant);
        let delay = t
            .knobs
            .latency
            .clone()
            .map(|l| faults::latency(&mut t, &l))
            .unwrap_or_default();
        let fault = t
            .knobs
            .faults
            .clone()
            .and_then(|f| faults::draw(&mut t, &f));
        (delay, fault)
    };
    if delay > Duration::ZERO {
        tokio::time::sleep(delay).await;
    }
    match fault {
        Some(Fault::Drop) => {
            lock(tenant).count("fault:drop");
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            return r;
        }
        Some(Fault::Timeout(ms)) => {
            lock(tenant).count("fault:timeout");
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return to_response(
                &shared.clock,
                faults::error_response(504),
                &request_id,
                &client_request_id,
            );
        }
        Some(Fault::Error(status)) => {
            lock(tenant).count(&format!("fault:{status}"));
            return to_response(
                &shared.clock,
                faults::error_response(status),
                &request_id,
                &client_request_id,
            );
        }
        None => {}
    }
    let resp = if req.segs.len() == 1 && req.segs[0] == "$batch" {
        if req.method != "POST" {
            GResp::error(
                405,
                "Request_BadRequest",
                "Only POST is supported on $batch.",
            )
        } else {
            lock(tenant).count("$batch");
            let items = faults::Arrival {
                at: arrival.at,
                client_request_id: None,
            };
            batch(shared, tenant, &caller, &req, &items)
        }
    } else {
        let mut t = lock(tenant);
        execute(shared, &mut t, &caller, &req, &arrival)
    };
    to_response(&shared.clock, resp, &request_id, &client_request_id)
}

/// Counts, throttles and executes one (non-batch) request.
fn execute(
    shared: &Shared,
    t: &mut Tenant,
    caller: &Caller,
    req: &GReq,
    arrival: &faults::Arrival,
) -> GResp {
    // Every URL form Graph accepts for an operation is served as its plain form.
    let normalized = operation::normalize(&req.segs);
    let canonical;
    let req = match &normalized {
        Ok(Some(segs)) => {
            canonical = GReq {
                segs: segs.clone(),
                as_called: Some(req.segs.join("/")),
                ..req.clone()
            };
            &canonical
        }
        _ => req,
    };
    t.count(&req.kind());
    let (cost, is_write) = req.cost();
    if let Some(r) = faults::throttle(t, &caller.app_id, cost, is_write, arrival) {
        return r;
    }
    if let Err(refused) = normalized {
        return refused;
    }
    let mut r = graph::handle(&shared.base_url, t, caller, req);
    if is_write {
        shared.wrote(|| crate::server::Write {
            tenant_id: t.id.clone(),
            method: req.method.clone(),
            path: req.segs.join("/"),
            kind: req.kind(),
            body: req.body.clone().and_then(Result::ok),
            status: r.status,
        });
    }
    if t.knobs.throttling.is_some() {
        r.headers
            .push(("x-ms-resource-unit".into(), cost.to_string()));
        if let Some(p) = faults::limit_percentage(t, &caller.app_id) {
            r.headers.push(("x-ms-throttle-limit-percentage".into(), p));
        }
    }
    r
}

fn to_response(clock: &Clock, mut r: GResp, request_id: &str, client_request_id: &str) -> Response {
    r.fill_inner_error(clock, request_id, client_request_id);
    let mut b = Response::builder()
        .status(r.status)
        .header("request-id", request_id)
        .header("client-request-id", client_request_id);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    match &r.body {
        Some(body) => b
            .header(
                "content-type",
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            )
            .body(Body::from(body.to_string())),
        None => b.body(Body::empty()),
    }
    .unwrap_or_default()
}

/// `POST /$batch` (JSON batching).
fn batch(
    shared: &Shared,
    tenant: &std::sync::Mutex<Tenant>,
    caller: &Caller,
    req: &GReq,
    arrival: &faults::Arrival,
) -> GResp {
    let bad = |m: &str| GResp::error(400, "BadRequest", m);
    let body = match &req.body {
        Some(Ok(b)) => b,
        _ => {
            return bad(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            );
        }
    };
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return bad("Invalid batch payload format: 'requests' is required.");
    };
    if requests.len() > 20 {
        return bad("The number of batch requests exceeds the limit of 20.");
    }
    if requests.is_empty() {
        return bad("Invalid batch payload format: 'requests' must not be empty.");
    }
    let mut ids = HashSet::new();
    for r in requests {
        let id = r.get("id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        });
        let Some(id) = id else {
            return bad("Invalid batch payload format: every request needs an 'id'.");
        };
        if !ids.insert(id) {
            return bad("Batch request ids must be unique.");
        }
        if r.get("method").and_then(Value::as_str).is_none()
            || r.get("url").and_then(Value::as_str).is_none()
        {
            return bad("Invalid batch payload format: every request needs 'method' and 'url'.");
        }
        let method = r.get("method").and_then(Value::as_str).unwrap_or_default();
        if matches!(
            method.to_ascii_uppercase().as_str(),
            "POST" | "PATCH" | "PUT"
        ) {
            let has_type = r
                .get("headers")
                .and_then(Value::as_object)
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
            if !has_type || r.get("body").is_none() {
                let id = r
                    .get("id")
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_default();
                return bad(&format!(
                    "Write request id : {id} does not contain Content-Type header or body."
                ));
            }
        }
    }
    let id_of = |r: &Value| {
        r.get("id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_u64().map(|n| n.to_string()))
            })
            .unwrap_or_default()
    };
    let deps_of = |r: &Value| -> Vec<String> {
        match r.get("dependsOn") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    for r in requests {
        if let Some(d) = deps_of(r).iter().find(|d| !ids.contains(*d)) {
            return bad(&format!(
                "Request dependsOn an id '{d}' that is not in the batch."
            ));
        }
    }
    let mut status: HashMap<String, u16> = HashMap::new();
    let mut out: Vec<Value> = Vec::new();
    let mut pending: Vec<&Value> = requests.iter().collect();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|r| deps_of(r).iter().all(|d| status.contains_key(d)));
        let Some(i) = ready else {
            return bad("The dependsOn relationships of the batch requests form a cycle.");
        };
        let r = pending.remove(i);
        let id = id_of(r);
        let failed_dep = deps_of(r)
            .iter()
            .any(|d| status.get(d).is_none_or(|s| !(200..300).contains(s)));
        let mut resp = if failed_dep {
            GResp::error(
                424,
                "FailedDependency",
                "The request failed because a request it depends on failed.",
            )
        } else {
            let method = r.get("method").and_then(Value::as_str).unwrap_or_default();
            let url = r.get("url").and_then(Value::as_str).unwrap_or_default();
            let headers: Vec<(String, String)> = r
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .filter_map(|(k, v)| {
                            Some((k.to_ascii_lowercase(), v.as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if url.starts_with("http://") || url.starts_with("https://") {
                GResp::error(
                    400,
                    "BadRequest",
                    "Batch request urls must be relative, e.g. /users/{id}.",
                )
            } else {
                let rel = url.strip_prefix("/v1.0").unwrap_or(url);
                let body = r.get("body").cloned().map(Ok);
                let inner = parse_target(method, rel, headers, body);
                let mut t = lock(tenant);
                execute(shared, &mut t, caller, &inner, arrival)
            }
        };
        let inner_id = uuid::Uuid::new_v4().to_string();
        resp.fill_inner_error(&shared.clock, &inner_id, &inner_id);
        status.insert(id.clone(), resp.status);
        let mut headers = serde_json::Map::new();
        for (k, v) in &resp.headers {
            headers.insert(k.clone(), json!(v));
        }
        if resp.body.is_some() {
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        let mut o = json!({"id": id, "status": resp.status, "headers": headers});
        if let Some(b) = resp.body {
            o["body"] = b;
        }
        out.push(o);
    }
    GResp::json(200, json!({"responses": out}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_hide_ids() {
        let r = parse_target("get", "/users/abc%40x.com?$select=id", Vec::new(), None);
        assert_eq!(r.segs, vec!["users", "abc@x.com"]);
        assert_eq!(r.kind(), "GET /users/{id}");
        assert_eq!(r.q("$select"), Some("id"));
        let r = parse_target("DELETE", "/groups/g1/members/u1/$ref", Vec::new(), None);
        assert_eq!(r.kind(), "DELETE /groups/{id}/members/{id}/$ref");
    }

    #[test]
    fn costs_follow_graph() {
        let c = |t: &str| parse_target("GET", t, Vec::new(), None).cost().0;
        assert_eq!(c("/users"), 2);
        assert_eq!(c("/users?$select=id"), 1);
        assert_eq!(c("/groups/x/members"), 3);
        assert_eq!(c("/groups/x/transitiveMembers"), 5);
        assert_eq!(c("/groups"), 1);
        assert_eq!(
            parse_target("PATCH", "/users/x", Vec::new(), None).cost(),
            (1, true)
        );
    }
}

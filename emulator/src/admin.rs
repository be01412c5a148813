//! HTTP admin interface under `/_emulator/` (no authentication; loopback only).

use crate::config::Knobs;
use crate::server::{Shared, lock, plain};
use crate::store::{AdminError, Obj};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

fn err(e: AdminError) -> Response {
    let status = match e {
        AdminError::NotFound(_) | AdminError::UnknownTenant(_) => 404,
        AdminError::Conflict(_) => 409,
        AdminError::Invalid(_) => 400,
    };
    plain(status, json!({"error": e.to_string()}))
}

fn no_content() -> Response {
    let mut r = plain(204, Value::Null);
    *r.body_mut() = axum::body::Body::empty();
    r.headers_mut().remove("content-type");
    r
}

#[allow(clippy::result_large_err)]
fn body_obj(bytes: &[u8]) -> Result<Obj, Response> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(plain(400, json!({"error": "expected a JSON object body"}))),
    }
}

/// Serves `/_emulator/{rest}`.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    rest: &str,
    query: &str,
    bytes: &[u8],
) -> Response {
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(crate::dispatch::pct_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let hard = query.split('&').any(|p| p == "hard=true");
    if s == ["tenants"] && method == Method::GET {
        let v: Vec<Value> = shared
            .tenants
            .iter()
            .map(|(id, t)| json!({"tenantId": id, "domain": lock(t).domain}))
            .collect();
        return plain(200, json!({"value": v}));
    }
    let (Some(&"tenants"), Some(tid)) = (s.first(), s.get(1)) else {
        return plain(
            404,
            json!({"error": format!("no admin endpoint at /_emulator/{rest}")}),
        );
    };
    let Some((_, tenant)) = shared.tenant(tid) else {
        return err(AdminError::UnknownTenant(tid.to_string()));
    };
    let mut t = lock(tenant);
    let r = match (method.as_str(), &s[2..]) {
        ("GET", ["state"]) => Ok(plain(
            200,
            serde_json::to_value(t.state()).unwrap_or(Value::Null),
        )),
        ("POST", ["users"]) => match body_obj(bytes) {
            Ok(o) => t.create_user(o).map(|u| plain(201, Value::Object(u))),
            Err(r) => return r,
        },
        ("PATCH", ["users", id]) => match body_obj(bytes) {
            Ok(o) => t
                .patch_user(&id.to_ascii_lowercase(), &o, false)
                .map(|_| no_content()),
            Err(r) => return r,
        },
        ("DELETE", ["users", id]) | ("DELETE", ["groups", id]) if hard => t
            .hard_delete(&id.to_ascii_lowercase())
            .map(|_| no_content()),
        ("DELETE", ["users", id]) => t
            .soft_delete(&id.to_ascii_lowercase())
            .map(|_| no_content()),
        ("POST", ["groups"]) => match body_obj(bytes) {
            Ok(o) => t.create_group(o).map(|g| plain(201, Value::Object(g))),
            Err(r) => return r,
        },
        ("PATCH", ["groups", id]) => match body_obj(bytes) {
            Ok(o) => t
                .patch_group(&id.to_ascii_lowercase(), &o, false)
                .map(|_| no_content()),
            Err(r) => return r,
        },
        ("DELETE", ["groups", id]) => t
            .delete_group(&id.to_ascii_lowercase())
            .map(|_| no_content()),
        ("PUT", ["groups", g, "members", m]) => t
            .add_member(&g.to_ascii_lowercase(), &m.to_ascii_lowercase())
            .map(|_| no_content()),
        ("DELETE", ["groups", g, "members", m]) => t
            .remove_member(&g.to_ascii_lowercase(), &m.to_ascii_lowercase())
            .map(|_| no_content()),
        ("POST", ["deleted", id, "restore"]) => t
            .restore(&id.to_ascii_lowercase())
            .map(|o| plain(200, Value::Object(o))),
        ("GET", ["counts"]) => Ok(plain(200, json!(t.counts))),
        ("DELETE", ["counts"]) => {
            t.counts.clear();
            t.violations = 0;
            Ok(no_content())
        }
        ("GET", ["knobs"]) => Ok(plain(
            200,
            serde_json::to_value(&t.knobs).unwrap_or(Value::Null),
        )),
        ("PUT", ["knobs"]) => match serde_json::from_slice::<Knobs>(bytes) {
            Ok(k) => {
                t.set_knobs(k);
                Ok(no_content())
            }
            Err(e) => Ok(plain(400, json!({"error": format!("invalid knobs: {e}")}))),
        },
        ("GET", ["throttle-violations"]) => Ok(plain(200, json!({"violations": t.violations}))),
        ("PUT", ["partners", pid]) => match body_obj(bytes) {
            Ok(o) => {
                let allowed = o
                    .get("isSyncAllowed")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let pid = pid.to_ascii_lowercase();
                t.partners
                    .insert(pid.clone(), crate::graph::default_partner(&pid, allowed));
                Ok(no_content())
            }
            Err(r) => return r,
        },
        _ => Ok(plain(
            404,
            json!({"error": format!("no admin endpoint {method} /_emulator/{rest}")}),
        )),
    };
    r.unwrap_or_else(err)
}

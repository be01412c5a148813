//! What the Graph client reads from the network, through the same functions the client uses.
//! The first byte of the input picks the reader (its value modulo 7); the rest is the text:
//!
//! - `0`: a collection page (`value`, `@odata.nextLink`, `@odata.deltaLink`), read as a delta
//!   page twice (one object split over pages), its links resolved as the client follows them;
//! - `1`: a `$batch` answer, with each item's error and `Retry-After`;
//! - `2`: an error body (`{"error": {"code", "message", "innerError"}}`) with a 4xx/5xx status;
//! - `3`: a token endpoint answer (client credentials and managed identity);
//! - `4`: a `Retry-After` header value, as the client waits for it;
//! - `5`: an access token's claims (`roles`), as `tenantsync check` reads them;
//! - `6`: the body of a success answer, as the client decodes it (any JSON, or none).

#![no_main]

use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tenantsync_core::testing::{
    BatchItem, DeltaMerge, Page, expires_in_of, parse_answers, path_of, resolve_url,
    retry_after_value, sign_in_refusal, token_claims, token_lifetime,
};
use tenantsync_core::{GraphApiError, Secret};

const GRAPH: &str = "https://graph.microsoft.com";
const API_ROOT: &str = "https://graph.microsoft.com/v1.0";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 7 {
        0 => page(text),
        1 => batch(text),
        2 => error_body(u16::from(selector) * 2 + 400, text),
        3 => token(text),
        4 => retry_after(text),
        5 => {
            let _ = token_claims(text);
        }
        _ => {
            if !text.trim().is_empty() {
                let _ = serde_json::from_str::<Value>(text);
            }
        }
    }
});

fn json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

fn page(text: &str) {
    let Some(body) = json(text) else { return };
    let Ok(page) = Page::from_body(body, "/users/delta?$select=displayName") else {
        return;
    };
    let mut merged = DeltaMerge::default();
    merged.add_page(page.items.clone());
    merged.add_page(page.items);
    for object in merged.into_objects() {
        let _ = (object.removed, object.members_added.len());
    }
    for link in page.next_link.iter().chain(&page.delta_link) {
        if let Ok(url) = resolve_url(GRAPH, API_ROOT, link) {
            let _ = path_of(&url);
        }
    }
}

fn batch(text: &str) {
    let Ok(answers) = parse_answers(json(text), &Some("rid".into())) else {
        return;
    };
    let item = BatchItem::get("/users/1?$select=id");
    for answer in answers.values() {
        let _ = (
            answer.is_success(),
            answer.error(&item).map(|e| e.to_string()),
        );
        if let Some(wait) = answer.retry_after(SystemTime::now()) {
            // As the client waits: until the answer's arrival plus the wait.
            let _ = Instant::now() + wait;
        }
    }
}

fn error_body(status: u16, text: &str) {
    let e = GraphApiError::from_response(status, None, "crid".into(), "GET", "/users", text);
    let _ = (e.is_not_found(), e.is_already_exists(), e.to_string());
}

fn token(text: &str) {
    let body = json(text).unwrap_or(Value::Null);
    let sent = Instant::now();
    // As the provider dates a token: `expires_in` when the answer has one, otherwise what is
    // left until `expires_on` (here, any count of milliseconds the input spells).
    let left_ms = body
        .get("expires_on")
        .and_then(Value::as_i64)
        .map_or(0, |ms| i128::from(ms) * 1000);
    let _ = sent + token_lifetime(expires_in_of(&body), left_ms);
    let secret = Secret::new("s3cret");
    let refusal = sign_in_refusal(&body, 401, "tenant", "client", Some(&secret));
    let _ = refusal.to_string();
}

fn retry_after(text: &str) {
    let now = SystemTime::now();
    if let Some(wait) = retry_after_value(text.trim(), now) {
        // As the client waits: until the answer's arrival plus the wait.
        let _ = Instant::now() + wait;
        let _ = Duration::ZERO.saturating_add(wait);
    }
}

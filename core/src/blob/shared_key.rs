//! Shared Key authorization of Blob service requests, for Azurite and other emulators (the
//! `shared-key` storage credential). The storage crate signs in with Microsoft Entra tokens
//! only; this `azure_core` policy signs each try of a request instead, as
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key> describes
//! ("Shared Key for Blob, Queue, and File services", version 2009-09-19 and later).

use std::fmt;

use async_trait::async_trait;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine as _;

use crate::graph::Secret;

/// Signs every request with the account's key: `Authorization: SharedKey {account}:{signature}`
/// and the `x-ms-date` it covers. `Debug` never shows the key.
pub(crate) struct SharedKeyPolicy {
    account: String,
    key: ring::hmac::Key,
}

impl fmt::Debug for SharedKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeyPolicy")
            .field("account", &self.account)
            .field("key", &"***")
            .finish()
    }
}

impl SharedKeyPolicy {
    /// A policy for `account` with its base64 access key; `None` when the key is not base64.
    pub(crate) fn new(account: &str, key: &Secret) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.expose().trim())
            .ok()?;
        Some(SharedKeyPolicy {
            account: account.to_owned(),
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The string to sign: the verb, the standard headers in their fixed order (an empty
    /// `Content-Length` for an empty body), the canonicalized `x-ms-` headers, then the
    /// canonicalized resource.
    fn string_to_sign(&self, request: &Request) -> String {
        let header = |name: &str| {
            request
                .headers()
                .iter()
                .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str().trim().to_owned())
                .unwrap_or_default()
        };
        let length = match request.body().len() {
            None | Some(0) => String::new(),
            Some(n) => n.to_string(),
        };
        let mut text = format!("{}\n", request.method().as_str().to_ascii_uppercase());
        for part in [
            header("content-encoding"),
            header("content-language"),
            length,
            header("content-md5"),
            header("content-type"),
            // `x-ms-date` is set: the standard Date is then empty.
            String::new(),
            header("if-modified-since"),
            header("if-match"),
            header("if-none-match"),
            header("if-unmodified-since"),
            header("range"),
        ] {
            text.push_str(&part);
            text.push('\n');
        }
        let mut ms: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter(|(n, _)| n.as_str().to_ascii_lowercase().starts_with("x-ms-"))
            .map(|(n, v)| {
                let value = v.as_str().split_whitespace().collect::<Vec<_>>().join(" ");
                (n.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        ms.sort();
        for (name, value) in ms {
            text.push_str(&format!("{name}:{value}\n"));
        }
        text.push_str(&self.canonicalized_resource(request.url()));
        text
    }

    /// `/{account}{path}` then each query parameter, lower-cased and sorted, as
    /// `\nname:value[,value]`.
    fn canonicalized_resource(&self, url: &url::Url) -> String {
        let mut text = format!("/{}{}", self.account, url.path());
        let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (name, value) in url.query_pairs() {
            params
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(value.into_owned());
        }
        for (name, mut values) in params {
            values.sort();
            text.push_str(&format!("\n{name}:{}", values.join(",")));
        }
        text
    }
}

#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[std::sync::Arc<dyn Policy>],
    ) -> PolicyResult {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        request.insert_header("x-ms-date", date);
        let signature = ring::hmac::sign(&self.key, self.string_to_sign(request).as_bytes());
        let signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
        request.insert_header(
            "authorization",
            format!("SharedKey {}:{signature}", self.account),
        );
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::Method;

    #[test]
    fn the_string_to_sign_follows_the_documented_order() {
        let key = Secret::new(base64::engine::general_purpose::STANDARD.encode(b"key"));
        let policy = SharedKeyPolicy::new("devstoreaccount1", &key).expect("base64");
        let url = url::Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/jobs/job.db?comp=lease&timeout=30",
        )
        .expect("url");
        let mut request = Request::new(url, Method::Put);
        request.insert_header("x-ms-version", "2025-01-05");
        request.insert_header("x-ms-lease-action", "acquire");
        request.insert_header("if-match", "\"0x1\"");
        assert_eq!(
            policy.string_to_sign(&request),
            "PUT\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\nx-ms-lease-action:acquire\nx-ms-version:2025-01-05\n/devstoreaccount1/devstoreaccount1/jobs/job.db\ncomp:lease\ntimeout:30"
        );
    }

    #[test]
    fn a_key_that_is_not_base64_is_refused_and_never_shown() {
        assert!(SharedKeyPolicy::new("a", &Secret::new("not base64!")).is_none());
        let key = Secret::new("c2VjcmV0");
        let policy = SharedKeyPolicy::new("a", &key).expect("base64");
        assert!(!format!("{policy:?}").contains("c2VjcmV0"));
    }
}

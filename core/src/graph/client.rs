//! [`GraphClient`]: authenticated requests to Microsoft Graph v1.0 with bounded concurrency,
//! timeouts, retries and throttling handled as Microsoft documents
//! (<https://learn.microsoft.com/graph/throttling>):
//!
//! - **429**: wait exactly `Retry-After` (seconds or an HTTP date) before the retry, never
//!   less; without the header, exponential backoff. The wait is shared: every request of the
//!   same client (one client per tenant) holds back until the throttled instant has passed.
//! - **5xx, timeouts, connection errors**: exponential backoff with jitter, for requests that
//!   are safe to repeat. A `POST` that creates something is not resent after it may have
//!   reached Graph (a timeout or 5xx), because that could create a duplicate; it is resent
//!   only after a 429 (refused, not processed) or a connection failure (never sent).
//! - **Replication lag**: requests marked with [`GraphRequest::retry_on_replication_lag`]
//!   retry Graph's "does not exist" answers a bounded number of times, for objects created
//!   moments ago on another replica.
//! - **401**: the cached token is dropped and the request is sent once more with a new one.
//!
//! Every wait and every reading of the time goes through the client's [`Clock`]
//! ([`GraphClientOptions::clock`]).
//!
//! Every request carries a fresh `client-request-id` (a UUID, kept across its retries), and
//! errors keep the `request-id` of Graph's answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng as _;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::auth::TokenProvider;
use super::cloud::Cloud;
use super::error::{GraphApiError, GraphError};
use super::transport::{TransportError, http_client};
use crate::clock::Clock;

/// Default number of requests in flight at once per client.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Default time allowed for one request, headers and body.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default number of times a request is sent before a transient failure is returned.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// Default first backoff delay (doubled each retry).
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Default longest backoff delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Default number of tries for replication-lag retries (5 tries, about 30 s in all).
pub const DEFAULT_REPLICATION_ATTEMPTS: u32 = 5;
/// Default first replication-lag delay (doubled each retry: 2, 4, 8, 16 s).
pub const DEFAULT_REPLICATION_DELAY: Duration = Duration::from_secs(2);

/// Knobs of a [`GraphClient`]. Every field's default is the constant of the same name.
#[derive(Debug, Clone)]
pub struct GraphClientOptions {
    /// Requests in flight at once (default [`DEFAULT_MAX_CONCURRENCY`]).
    pub max_concurrency: usize,
    /// Time allowed for one request (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// Sends per request before a transient failure is returned (default
    /// [`DEFAULT_MAX_ATTEMPTS`]).
    pub max_attempts: u32,
    /// First backoff delay (default [`DEFAULT_BACKOFF_BASE`]).
    pub backoff_base: Duration,
    /// Longest backoff delay (default [`DEFAULT_BACKOFF_MAX`]).
    pub backoff_max: Duration,
    /// Tries for replication-lag retries (default [`DEFAULT_REPLICATION_ATTEMPTS`]).
    pub replication_attempts: u32,
    /// First replication-lag delay, doubled each try (default [`DEFAULT_REPLICATION_DELAY`]).
    pub replication_delay: Duration,
    /// The clock throttling windows, `Retry-After` dates, token lifetimes and every wait
    /// between tries are read from (default: the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for GraphClientOptions {
    fn default() -> Self {
        GraphClientOptions {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            replication_attempts: DEFAULT_REPLICATION_ATTEMPTS,
            replication_delay: DEFAULT_REPLICATION_DELAY,
            clock: crate::clock::system(),
        }
    }
}

/// One request to Graph. `url` is a path under the version root (`/users?$select=id`) or an
/// absolute link that Graph returned (`@odata.nextLink`), which must be on the client's host.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    /// HTTP method.
    pub method: Method,
    /// Path under `/v1.0` or an absolute Graph link.
    pub url: String,
    /// JSON body.
    pub body: Option<Value>,
    /// Extra headers (`Prefer`, `ConsistencyLevel`).
    pub headers: Vec<(String, String)>,
    /// Whether resending after the request may have reached Graph is safe. Default: true
    /// for GET, PATCH, PUT, DELETE; false for POST.
    pub idempotent: bool,
    /// Whether "does not exist" answers are retried as replication lag. Default: false.
    pub replication_lag_retry: bool,
}

impl GraphRequest {
    /// A request with the default flags for its method.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let idempotent = method != Method::POST;
        GraphRequest {
            method,
            url: url.into(),
            body: None,
            headers: Vec::new(),
            idempotent,
            replication_lag_retry: false,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// `POST url` with a JSON body.
    pub fn post(url: impl Into<String>, body: Value) -> Self {
        Self::new(Method::POST, url).json(body)
    }

    /// `PATCH url` with a JSON body.
    pub fn patch(url: impl Into<String>, body: Value) -> Self {
        Self::new(Method::PATCH, url).json(body)
    }

    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Sets the JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Retries "does not exist" answers as replication lag.
    pub fn retry_on_replication_lag(mut self) -> Self {
        self.replication_lag_retry = true;
        self
    }

    /// Declares whether the request is safe to resend after it may have reached Graph.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// JSON body, when there was one (204 has none).
    pub body: Option<Value>,
    /// Graph's `request-id`.
    pub request_id: Option<String>,
}

/// Counters of one client since it was built (shared by its clones), for run summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientStats {
    /// HTTP requests sent (every try counts).
    pub sent: u64,
    /// Answers 429 (throttled), including items of batches.
    pub throttled: u64,
    /// Tries repeated after a 5xx, a timeout or a connection failure.
    pub transient_retries: u64,
    /// Tries repeated because the object was not replicated yet.
    pub replication_retries: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    throttled: AtomicU64,
    transient_retries: AtomicU64,
    replication_retries: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

struct Inner {
    http: reqwest::Client,
    graph_base: String,
    api_root: String,
    tokens: Arc<dyn TokenProvider>,
    options: GraphClientOptions,
    permits: Semaphore,
    throttled_until: Mutex<Option<Instant>>,
    counters: Counters,
}

/// The Microsoft Graph client for one tenant. Cheap to clone; clones share the concurrency
/// limit, the token cache and the throttling state.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("api_root", &self.inner.api_root)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// A client for `cloud`'s Graph v1.0, signing in through `tokens`.
    pub fn new(
        cloud: &Cloud,
        tokens: Arc<dyn TokenProvider>,
        options: GraphClientOptions,
    ) -> Result<Self, TransportError> {
        let http = http_client(cloud)?;
        let graph_base = cloud.graph_base();
        let permits = Semaphore::new(options.max_concurrency.max(1));
        Ok(GraphClient {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{graph_base}/v1.0"),
                graph_base,
                tokens,
                options,
                permits,
                throttled_until: Mutex::new(None),
                counters: Counters::default(),
            }),
        })
    }

    /// A client that signs in with `credential` (tokens cached and refreshed by a
    /// [`CredentialTokenProvider`](super::auth::CredentialTokenProvider)).
    pub fn for_credential(
        cloud: &Cloud,
        credential: super::auth::Credential,
        options: GraphClientOptions,
    ) -> Result<Self, super::auth::AuthError> {
        cloud
            .validate()
            .map_err(|e| super::auth::AuthError::Transport(TransportError::Build(e.to_string())))?;
        let tokens = super::auth::CredentialTokenProvider::new(credential, cloud.clone())?
            .with_clock(options.clock.clone());
        Ok(Self::new(cloud, Arc::new(tokens), options)?)
    }

    /// The Graph root without version (`https://graph.microsoft.com`).
    pub fn graph_base(&self) -> &str {
        &self.inner.graph_base
    }

    /// The access token this client sends (cached; signs in when there is none yet). For
    /// checks that read the token's claims, such as its app roles.
    pub async fn access_token(&self) -> Result<super::auth::AccessToken, super::auth::AuthError> {
        self.inner.tokens.token().await
    }

    /// The counters so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            sent: c.sent.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            transient_retries: c.transient_retries.load(Ordering::Relaxed),
            replication_retries: c.replication_retries.load(Ordering::Relaxed),
        }
    }

    /// Counts one answer 429 (also for items of a batch).
    pub(crate) fn count_throttled(&self) {
        bump(&self.inner.counters.throttled);
    }

    /// The options in force.
    pub fn options(&self) -> &GraphClientOptions {
        &self.inner.options
    }

    /// The `@odata.id` / `@odata.bind` URL of a directory object.
    pub fn directory_object_url(&self, id: &str) -> String {
        format!(
            "{}/directoryObjects/{}",
            self.inner.api_root,
            encode_path_segment(id)
        )
    }

    /// When requests may be sent again, if the tenant is throttled now.
    pub fn throttled_until(&self) -> Option<Instant> {
        let until = *self
            .inner
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        until.filter(|u| *u > self.inner.options.clock.instant())
    }

    /// Holds back every request of this client until `until` (never shortens a wait).
    pub fn throttle_until(&self, until: Instant) {
        let mut slot = self
            .inner
            .throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if slot.is_none_or(|current| current < until) {
            *slot = Some(until);
        }
    }

    /// `GET url` and its JSON body.
    pub async fn get_json(&self, url: &str) -> Result<Value, GraphError> {
        let response = self.send(GraphRequest::get(url)).await?;
        response.body.ok_or_else(|| GraphError::Decode {
            method: "GET".into(),
            path: path_of(url),
            reason: "the answer has no JSON body".into(),
            request_id: response.request_id,
        })
    }

    /// The backoff delay before try `attempt + 1` (attempt counts from 1): base × 2^(n−1),
    /// capped, with "equal jitter" (half fixed, half random).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let opts = &self.inner.options;
        let exp = opts
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(opts.backoff_max);
        let half = exp / 2;
        let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }

    fn resolve(&self, url: &str) -> Result<String, GraphError> {
        resolve_url(&self.inner.graph_base, &self.inner.api_root, url)
    }

    async fn wait_for_throttle(&self) {
        while let Some(until) = self.throttled_until() {
            self.inner.options.clock.sleep_until(until).await;
        }
    }

    async fn permit(&self) -> SemaphorePermit<'_> {
        loop {
            self.wait_for_throttle().await;
            let permit = match self.inner.permits.acquire().await {
                Ok(p) => p,
                Err(_) => unreachable_closed(),
            };
            // Another request may have been throttled while this one queued.
            if self.throttled_until().is_none() {
                return permit;
            }
        }
    }

    /// The clock this client reads and waits by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.options.clock
    }

    /// A `Retry-After` header read at this client's time.
    pub(crate) fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        retry_after_at(headers, &*self.inner.options.clock)
    }

    /// Sends a request with retries as described in the module documentation.
    pub async fn send(&self, request: GraphRequest) -> Result<GraphResponse, GraphError> {
        let url = self.resolve(&request.url)?;
        let path = path_of(&url);
        let method = request.method.as_str().to_owned();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let opts = &self.inner.options;
        let mut attempt = 0u32;
        let mut sends = 0u32;
        let mut lag_tries = 0u32;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            sends += 1;
            // Sign in (or take the cached token) before taking a slot, so a slow sign-in
            // does not hold slots other requests could use.
            let token = self.inner.tokens.token().await?;
            let permit = self.permit().await;
            let mut builder = self
                .inner
                .http
                .request(request.method.clone(), &url)
                .bearer_auth(token.token.expose())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true")
                .header("accept", "application/json")
                .timeout(opts.request_timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            bump(&self.inner.counters.sent);
            let outcome = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let received = opts.clock.instant();
                    match response.text().await {
                        Ok(text) => Ok((status, headers, received, text)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let (status, headers, received, text) = match outcome {
                Ok(parts) => parts,
                Err(e) => {
                    // A connection that never opened means Graph never saw the request.
                    let resend = e.is_connect() || request.idempotent;
                    if resend && attempt < opts.max_attempts {
                        bump(&self.inner.counters.transient_retries);
                        opts.clock.sleep(self.backoff(attempt)).await;
                        continue;
                    }
                    let timed_out = e.is_timeout();
                    return Err(GraphError::Transport {
                        method,
                        path,
                        reason: e.without_url().to_string(),
                        timed_out,
                        client_request_id,
                        attempts: sends,
                    });
                }
            };
            let request_id = header_text(&headers, "request-id");
            if (200..300).contains(&status) {
                let body = if text.trim().is_empty() {
                    None
                } else {
                    Some(serde_json::from_str(&text).map_err(|e| GraphError::Decode {
                        method: method.clone(),
                        path: path.clone(),
                        reason: format!("the body is not JSON ({e})"),
                        request_id: request_id.clone(),
                    })?)
                };
                return Ok(GraphResponse {
                    status,
                    headers,
                    body,
                    request_id,
                });
            }
            let mut error = GraphApiError::from_response(
                status,
                request_id,
                client_request_id.clone(),
                &method,
                &path,
                &text,
            );
            error.attempts = sends;
            match status {
                429 => {
                    self.count_throttled();
                    let wait = self
                        .retry_after(&headers)
                        .unwrap_or_else(|| self.backoff(attempt));
                    self.throttle_until(received + wait);
                    if attempt < opts.max_attempts {
                        continue;
                    }
                }
                500 | 502 | 503 | 504 if request.idempotent && attempt < opts.max_attempts => {
                    bump(&self.inner.counters.transient_retries);
                    let wait = self
                        .retry_after(&headers)
                        .unwrap_or_else(|| self.backoff(attempt));
                    opts.clock.sleep_until(received + wait).await;
                    continue;
                }
                401 if !reauthenticated => {
                    reauthenticated = true;
                    self.inner.tokens.invalidate();
                    attempt -= 1;
                    continue;
                }
                _ if request.replication_lag_retry
                    && error.is_not_found()
                    && lag_tries + 1 < opts.replication_attempts =>
                {
                    let delay = opts
                        .replication_delay
                        .saturating_mul(1u32 << lag_tries.min(16));
                    lag_tries += 1;
                    bump(&self.inner.counters.replication_retries);
                    attempt -= 1;
                    opts.clock.sleep(delay).await;
                    continue;
                }
                _ => {}
            }
            return Err(error.into());
        }
    }
}

#[cold]
fn unreachable_closed() -> ! {
    // The semaphore lives in `Inner` and is never closed.
    panic!("graph client semaphore closed")
}

/// The URL a request for `url` goes to: a path is taken relative to `api_root` (the Graph
/// root with its version), an absolute URL (an `@odata.nextLink`) is kept as it is when it lies
/// under `graph_base`, and refused as [`GraphError::ForeignLink`] otherwise.
pub fn resolve_url(graph_base: &str, api_root: &str, url: &str) -> Result<String, GraphError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        if url.len() > graph_base.len()
            && url.starts_with(graph_base)
            && url[graph_base.len()..].starts_with('/')
        {
            Ok(url.to_owned())
        } else {
            Err(GraphError::ForeignLink(url.to_owned()))
        }
    } else if url.starts_with('/') {
        Ok(format!("{api_root}{url}"))
    } else {
        Ok(format!("{api_root}/{url}"))
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past
/// means no wait.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, &crate::clock::SystemClock)
}

/// [`retry_after`] with an HTTP date measured from `clock`'s time.
pub(crate) fn retry_after_at(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    retry_after_value(value, SystemTime::from(clock.now()))
}

/// The longest `Retry-After` honoured: one day. A longer one (Graph sends seconds, not days) is
/// read as this, so that no answer can make the client wait beyond what a clock can hold.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a `Retry-After` value relative to `now`, at most [`RETRY_AFTER_MAX`].
pub fn retry_after_value(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(RETRY_AFTER_MAX));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Some(Duration::from_secs_f64(
            seconds.min(RETRY_AFTER_MAX.as_secs_f64()),
        ));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(RETRY_AFTER_MAX),
    )
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The path of a URL or path, without scheme, host and query.
pub fn path_of(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    match without_query.find("://") {
        Some(i) => {
            let rest = &without_query[i + 3..];
            rest.find('/')
                .map(|j| rest[j..].to_owned())
                .unwrap_or_else(|| "/".to_owned())
        }
        None => without_query.to_owned(),
    }
}

/// Percent-encodes a value for a URL path segment (object ids are GUIDs, but names of
/// extension properties and user-supplied ids are not trusted to be).
pub fn encode_path_segment(value: &str) -> String {
    encode(value, |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Percent-encodes a value for an OData query option (`$filter`, `$select`): keeps the
/// characters OData syntax needs and encodes the rest, so `+`, `&`, `#` and spaces in
/// literals survive.
pub(crate) fn encode_query_value(value: &str) -> String {
    encode(value, |b| {
        b.is_ascii_alphanumeric() || b"-._~$'(),:/@".contains(&b)
    })
}

fn encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::graph::auth::StaticToken;
    use crate::graph::secret::Secret;
    use crate::graph::test_server::{Reply, TestServer};

    /// Options for tests: short backoff and replication delays.
    pub(crate) fn fast_options() -> GraphClientOptions {
        GraphClientOptions {
            max_concurrency: 4,
            request_timeout: Duration::from_secs(5),
            max_attempts: 4,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            replication_attempts: 5,
            replication_delay: Duration::from_millis(20),
            clock: crate::clock::system(),
        }
    }

    /// [`fast_options`] on a manual clock: waits return at once and are recorded.
    pub(crate) fn manual_options() -> (GraphClientOptions, Arc<crate::clock::ManualClock>) {
        use chrono::TimeZone;
        let clock = crate::clock::ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        );
        let options = GraphClientOptions {
            clock: clock.clone(),
            ..fast_options()
        };
        (options, clock)
    }

    /// A client for a test server with a fixed token.
    pub(crate) fn client_for(server: &TestServer, options: GraphClientOptions) -> GraphClient {
        let cloud = Cloud::Custom {
            login_host: server.base(),
            graph_host: server.base(),
            ca_file: None,
            token_exchange_audience: None,
            graph_resource: None,
        };
        GraphClient::new(
            &cloud,
            Arc::new(StaticToken(Secret::new("test-token"))),
            options,
        )
        .expect("client")
    }

    fn too_many(seconds: &str) -> Reply {
        Reply::json(
            429,
            serde_json::json!({"error": {"code": "TooManyRequests", "message": "Too many requests", "innerError": {"request-id": "r429"}}}),
        )
        .header("retry-after", seconds)
    }

    #[tokio::test]
    async fn retry_after_429_is_never_sent_early() {
        let (options, clock) = manual_options();
        // The server notes the client's time at each request.
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (seen, server_clock) = (arrivals.clone(), clock.clone());
        let server = TestServer::start(move |_req, n| {
            seen.lock().unwrap().push(server_clock.instant());
            if n == 0 {
                too_many("1")
            } else {
                Reply::json(200, serde_json::json!({"id": "u1"}))
            }
        })
        .await;
        let client = client_for(&server, options);
        let body = client
            .get_json("/users/u1?$select=id")
            .await
            .expect("success");
        assert_eq!(body["id"], "u1");
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        // One wait, exactly the Retry-After, and the retry left after it.
        assert_eq!(clock.waits(), vec![Duration::from_secs(1)]);
        let arrivals = arrivals.lock().unwrap().clone();
        let gap = arrivals[1].duration_since(arrivals[0]);
        assert!(gap >= Duration::from_secs(1), "retry sent after {gap:?}");
        assert_eq!(reqs[0].header("authorization"), Some("Bearer test-token"));
        let crid = reqs[0]
            .header("client-request-id")
            .expect("client-request-id");
        assert!(uuid::Uuid::parse_str(crid).is_ok());
        assert_eq!(reqs[1].header("client-request-id"), Some(crid));
        assert_eq!(client.stats().throttled, 1);
    }

    #[tokio::test]
    async fn retry_after_http_date_holds_back_every_request_of_the_client() {
        let (mut options, clock) = manual_options();
        // One try: the throttled request returns its 429, the wait stays with the client.
        options.max_attempts = 1;
        // A server whose first answer throttles for 2 s with an HTTP date, on the clock the
        // client reads; it notes that time at each request.
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let (seen, server_clock) = (arrivals.clone(), clock.clone());
        let server = TestServer::start(move |_req, n| {
            let now = server_clock.now();
            seen.lock().unwrap().push(now);
            if n == 0 {
                let at = SystemTime::from(now) + Duration::from_secs(2);
                too_many(&httpdate::fmt_http_date(at))
            } else {
                Reply::json(200, serde_json::json!({"ok": true}))
            }
        })
        .await;
        let client = client_for(&server, options);
        let first = client.get_json("/users/a?$select=id").await;
        assert_eq!(
            first.expect_err("throttled").api().map(|e| e.status),
            Some(429)
        );
        assert!(client.throttled_until().is_some());
        // Another request of the same client holds back until the date has passed.
        client
            .get_json("/users/b?$select=id")
            .await
            .expect("after the wait");
        let arrivals = arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 2);
        // HTTP dates have 1 s resolution: at least one second, at most two.
        let gap = (arrivals[1] - arrivals[0]).to_std().expect("later");
        assert!(gap >= Duration::from_secs(1), "sent after {gap:?}");
        let waited: Duration = clock.waits().iter().sum();
        assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
        assert!(client.throttled_until().is_none());
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_succeed() {
        let server = TestServer::start(|_req, n| match n {
            0 => Reply::json(503, serde_json::json!({"error": {"code": "serviceNotAvailable", "message": "try later"}})),
            1 => Reply::json(500, serde_json::json!({"error": {"code": "generalException", "message": "oops"}})),
            _ => Reply::json(200, serde_json::json!({"value": []})),
        })
        .await;
        let client = client_for(&server, fast_options());
        client
            .get_json("/users?$select=id")
            .await
            .expect("third try succeeds");
        assert_eq!(server.requests().len(), 3);
        let stats = client.stats();
        assert_eq!(
            (stats.sent, stats.transient_retries, stats.throttled),
            (3, 2, 0)
        );
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_succeed() {
        let server = TestServer::start(|_req, n| {
            let reply = Reply::json(200, serde_json::json!({"id": n}));
            if n == 0 {
                reply.delayed(Duration::from_secs(2))
            } else {
                reply
            }
        })
        .await;
        let mut options = fast_options();
        options.request_timeout = Duration::from_millis(300);
        let client = client_for(&server, options);
        let body = client
            .get_json("/users/x?$select=id")
            .await
            .expect("second try");
        assert_eq!(body["id"], 1);
    }

    #[tokio::test]
    async fn a_create_is_not_resent_after_a_timeout() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(201, serde_json::json!({"id": "g"})).delayed(Duration::from_secs(2))
        })
        .await;
        let mut options = fast_options();
        options.request_timeout = Duration::from_millis(300);
        let client = client_for(&server, options);
        let err = client
            .send(GraphRequest::post("/groups", serde_json::json!({})))
            .await
            .expect_err("timeout");
        assert!(
            matches!(
                err,
                GraphError::Transport {
                    timed_out: true,
                    ..
                }
            ),
            "{err}"
        );
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].json(), serde_json::json!({}));
    }

    #[tokio::test]
    async fn errors_carry_graph_code_and_request_id() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(403, serde_json::json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.", "innerError": {"request-id": "body-rid", "date": "2026-11-22T00:00:00"}}}))
                .header("request-id", "header-rid")
        })
        .await;
        let client = client_for(&server, fast_options());
        let err = client
            .get_json("/users?$select=id")
            .await
            .expect_err("denied");
        let api = err.api().expect("api error");
        assert_eq!(api.status, 403);
        assert_eq!(api.code, "Authorization_RequestDenied");
        assert_eq!(api.request_id.as_deref(), Some("header-rid"));
        assert_eq!(server.requests().len(), 1, "403 is not retried");
    }

    #[tokio::test]
    async fn replication_lag_is_retried_a_bounded_number_of_times() {
        let server = TestServer::start(|_req, n| {
            if n < 2 {
                Reply::json(404, serde_json::json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist or one of its queried reference-property objects are not present."}}))
            } else {
                Reply::empty(204)
            }
        })
        .await;
        let (options, clock) = manual_options();
        let client = client_for(&server, options);
        client
            .send(
                GraphRequest::patch("/users/x", serde_json::json!({"city": "Oslo"}))
                    .retry_on_replication_lag(),
            )
            .await
            .expect("third try");
        assert_eq!(server.requests().len(), 3);
        // The replication delay, doubled each try, on the client's clock.
        let ms = |n: &[u64]| {
            n.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        assert_eq!(clock.waits(), ms(&[20, 40]));

        let server = TestServer::start(|_req, _n| {
            Reply::json(404, serde_json::json!({"error": {"code": "Request_ResourceNotFound", "message": "gone"}}))
        })
        .await;
        let (options, clock) = manual_options();
        let client = client_for(&server, options);
        let err = client
            .send(GraphRequest::get("/users/x").retry_on_replication_lag())
            .await
            .expect_err("never appears");
        assert!(err.is_not_found());
        assert_eq!(server.requests().len(), 5);
        assert_eq!(clock.waits(), ms(&[20, 40, 80, 160]));
        // Without the flag, a 404 is returned at once.
        client
            .send(GraphRequest::get("/users/y"))
            .await
            .expect_err("404");
        assert_eq!(server.requests().len(), 6);
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(200, serde_json::json!({"value": []})).delayed(Duration::from_millis(100))
        })
        .await;
        let mut options = fast_options();
        options.max_concurrency = 2;
        let client = client_for(&server, options);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..6 {
            let c = client.clone();
            tasks.spawn(async move { c.get_json(&format!("/users?$select=id&n={i}")).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("join").expect("ok");
        }
        let mut arrivals: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
        arrivals.sort();
        assert_eq!(arrivals.len(), 6);
        // Two at a time: the third request starts only after one of the first two answered.
        for wave in 1..3 {
            let gap = arrivals[wave * 2].duration_since(arrivals[0]);
            assert!(
                gap >= Duration::from_millis(90) * wave as u32,
                "wave {wave} after {gap:?}"
            );
        }
    }

    #[derive(Debug, Default)]
    struct CountingToken {
        issued: std::sync::atomic::AtomicU32,
    }

    impl TokenProvider for CountingToken {
        fn token(
            &self,
        ) -> crate::graph::auth::BoxFuture<
            '_,
            Result<crate::graph::auth::AccessToken, crate::graph::auth::AuthError>,
        > {
            let n = self.issued.load(std::sync::atomic::Ordering::SeqCst);
            let now = Instant::now();
            Box::pin(async move {
                Ok(crate::graph::auth::AccessToken {
                    token: Secret::new(format!("t{n}")),
                    obtained_at: now,
                    expires_at: now + Duration::from_secs(3600),
                })
            })
        }

        fn invalidate(&self) {
            self.issued
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_401_renews_the_token_once() {
        let server = TestServer::start(|req, _n| {
            if req.header("authorization") == Some("Bearer t0") {
                Reply::json(401, serde_json::json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}))
            } else {
                Reply::json(200, serde_json::json!({"id": "x"}))
            }
        })
        .await;
        let cloud = Cloud::Custom {
            login_host: server.base(),
            graph_host: server.base(),
            ca_file: None,
            token_exchange_audience: None,
            graph_resource: None,
        };
        let tokens = Arc::new(CountingToken::default());
        let client = GraphClient::new(&cloud, tokens.clone(), fast_options()).expect("client");
        client
            .get_json("/users/x?$select=id")
            .await
            .expect("renewed");
        assert_eq!(server.requests().len(), 2);
        // A second 401 in a row is returned, not retried forever.
        let server = TestServer::start(|_req, _n| {
            Reply::json(401, serde_json::json!({"error": {"code": "InvalidAuthenticationToken", "message": "no"}}))
        })
        .await;
        let client = client_for(&server, fast_options());
        let err = client
            .get_json("/users/x?$select=id")
            .await
            .expect_err("401");
        assert_eq!(err.status(), Some(401));
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn a_client_for_a_credential_signs_in_then_calls_graph() {
        let server = TestServer::start_tls(|req, _n| {
            if req.path == "/tenant-a/oauth2/v2.0/token" {
                Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "real-token"}))
            } else if req.header("authorization") == Some("Bearer real-token") {
                Reply::json(200, serde_json::json!({"value": [{"id": "u1"}]}))
            } else {
                Reply::json(401, serde_json::json!({"error": {"code": "InvalidAuthenticationToken", "message": "bad token"}}))
            }
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret").expect("write");
        let cloud = Cloud::Custom {
            login_host: server.base(),
            graph_host: server.base(),
            ca_file: Some(crate::graph::test_server::test_ca()),
            token_exchange_audience: None,
            graph_resource: None,
        };
        let credential = crate::graph::auth::Credential::ClientSecret {
            tenant_id: "tenant-a".into(),
            client_id: "app".into(),
            secret: crate::graph::secret::SecretSource::File(secret),
        };
        let client =
            GraphClient::for_credential(&cloud, credential, fast_options()).expect("client");
        for _ in 0..3 {
            let users = client
                .list_users(&["displayName"], None)
                .await
                .expect("users");
            assert_eq!(users.len(), 1);
        }
        let token_calls = server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/token"))
            .count();
        assert_eq!(token_calls, 1, "the token is cached across calls");
    }

    #[tokio::test]
    async fn foreign_links_are_not_followed() {
        let server = TestServer::start(|_req, _n| Reply::empty(204)).await;
        let client = client_for(&server, fast_options());
        let err = client
            .get_json("https://evil.example/v1.0/users")
            .await
            .expect_err("foreign");
        assert!(matches!(err, GraphError::ForeignLink(_)));
        assert!(server.requests().is_empty());
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after_value("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            retry_after_value(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after_value(&earlier, now), Some(Duration::ZERO));
        assert_eq!(retry_after_value("soon", now), None);
    }

    /// Regression: `Retry-After: 1e300` panicked in `Duration::from_secs_f64`, and
    /// `Retry-After: 18446744073709551615` overflowed the `Instant` the client waits until
    /// (fuzz/regressions/graph_response/retry-after-*).
    #[test]
    fn huge_retry_after_is_capped_at_a_day() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        for value in [
            "1e300",
            "18446744073709551615",
            "9223372036854775807.5",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let wait = retry_after_value(value, now).expect(value);
            assert_eq!(wait, RETRY_AFTER_MAX, "{value}");
            assert!(Instant::now().checked_add(wait).is_some());
        }
        assert_eq!(
            retry_after_value("86399.5", now),
            Some(Duration::from_secs_f64(86399.5))
        );
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode_query_value("startswith(mail,'a+b c')"),
            "startswith(mail,'a%2Bb%20c')"
        );
        assert_eq!(encode_path_segment("a/b c"), "a%2Fb%20c");
    }
}

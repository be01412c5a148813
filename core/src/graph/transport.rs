//! The HTTP client shared by sign-in and Graph calls: rustls with the platform's and Mozilla's
//! roots, plus the extra CA of a custom cloud. [`IdentityTransport`] hands the same client to
//! `azure_identity` (as `azure_core`'s [`HttpClient`]), so sign-in has no TLS stack of its own.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use azure_core::error::{Error as CoreError, ErrorKind as CoreErrorKind};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::{AsyncRawResponse, Body, HttpClient, Method, RawResponse, Request};

use super::cloud::Cloud;

/// Time allowed to open a TCP+TLS connection (default for every client built here).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    /// The extra CA file could not be read.
    #[error(
        "cannot read the cloud's CA file `{path}`: {reason}; check `ca_file` in the cloud configuration"
    )]
    CaFile {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The extra CA file holds no usable PEM certificate.
    #[error(
        "the cloud's CA file `{path}` holds no PEM certificate ({reason}); give a PEM file with `BEGIN CERTIFICATE` blocks"
    )]
    CaParse {
        /// The file.
        path: String,
        /// The parser's reason.
        reason: String,
    },
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Builds the HTTP client for `cloud`: TLS through rustls, the cloud's extra CA trusted in
/// addition to the usual roots, no redirects followed (Graph answers carry their own links and
/// a bearer token must never follow a redirect to another host).
pub(crate) fn http_client(cloud: &Cloud) -> Result<reqwest::Client, TransportError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tenantsync/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = cloud.ca_file() {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| TransportError::CaFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TransportError::CaParse {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TransportError::CaParse {
                path: shown,
                reason: "no certificate found".to_owned(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| TransportError::Build(e.to_string()))
}

/// The status and body of an answer with an error status.
type Failure = (u16, Vec<u8>);

/// How the last request through an [`IdentityTransport`] ended: what sign-in needs to decide
/// on another try (status, `Retry-After`) and to date a token (`expires_in`).
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    /// The answer's status; `None` when there was no answer (no connection, time ran out).
    pub status: Option<u16>,
    /// The answer's headers.
    pub headers: reqwest::header::HeaderMap,
    /// Whether the request went to a managed identity endpoint (a `GET`; the identity
    /// platform's token endpoint takes `POST`).
    pub managed_identity: bool,
    /// The `expires_in` (seconds, number or string) of a successful token answer.
    pub expires_in: Option<u64>,
}

/// `azure_core`'s [`HttpClient`] over the engine's own reqwest client: the requests the
/// `azure_identity` credentials build are sent unchanged (method, URL, headers, body) through
/// the client of [`http_client`], with its rustls roots, the cloud's extra CA and no redirects.
///
/// One rewrite is possible: requests to the instance metadata service's token endpoint (which
/// `azure_identity` fixes at `http://169.254.169.254/metadata/identity/oauth2/token`) go to
/// another endpoint when one is given, for emulators and tests off Azure. Path and query of the
/// request are kept; only scheme, host, port and the endpoint's path change.
///
/// The last answer with an error status is kept ([`IdentityTransport::take_failure`]):
/// `azure_identity` 1.0 cannot read an identity platform error whose `error_description` holds
/// a JSON escape (Entra's always do: `\r\n` before `Trace ID`), as it deserializes it into a
/// borrowed `&str`; it then reports a JSON error and drops the response. How the last request
/// ended is kept too ([`IdentityTransport::take_last`]), for sign-in's own tries.
///
/// Sign-in tries token requests again itself, waiting on the engine's clock. `azure_identity`
/// fixes its own retries (with waits on the machine's clock) for the instance metadata
/// service; so the metadata service's answers it would retry (404, 410, 429, 5xx) and failures
/// to reach it come back as errors that its pipeline does not retry.
#[derive(Clone)]
pub(crate) struct IdentityTransport {
    http: reqwest::Client,
    imds: Option<(url::Url, url::Url)>,
    timeout: Duration,
    failure: std::sync::Arc<std::sync::Mutex<Option<Failure>>>,
    last: std::sync::Arc<std::sync::Mutex<Option<Exchange>>>,
}

impl fmt::Debug for IdentityTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityTransport")
            .field("imds", &self.imds.as_ref().map(|(_, to)| to.as_str()))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IdentityTransport {
    /// A transport over `http` that gives each request `timeout` to complete.
    pub(crate) fn new(http: reqwest::Client, timeout: Duration) -> Self {
        IdentityTransport {
            http,
            imds: None,
            timeout,
            failure: Default::default(),
            last: Default::default(),
        }
    }

    /// How the last request since the last call ended, if one was sent.
    pub(crate) fn take_last(&self) -> Option<Exchange> {
        self.last.lock().map(|mut l| l.take()).unwrap_or(None)
    }

    fn record(&self, exchange: Exchange) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(exchange);
        }
    }

    /// The status and body of the last answer with an error status (4xx, 5xx) since the last
    /// call, if any.
    pub(crate) fn take_failure(&self) -> Option<(u16, Vec<u8>)> {
        self.failure.lock().map(|mut f| f.take()).unwrap_or(None)
    }

    /// Sends requests meant for the metadata service endpoint `from` to `to` instead.
    pub(crate) fn with_imds_endpoint(mut self, from: url::Url, to: url::Url) -> Self {
        self.imds = Some((from, to));
        self
    }

    fn target(&self, url: &url::Url) -> url::Url {
        if let Some((from, to)) = &self.imds
            && url.scheme() == from.scheme()
            && url.host_str() == from.host_str()
            && url.port_or_known_default() == from.port_or_known_default()
            && url.path() == from.path()
        {
            let mut target = to.clone();
            target.set_query(url.query());
            return target;
        }
        url.clone()
    }
}

#[async_trait::async_trait]
impl HttpClient for IdentityTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let managed_identity = request.method() == Method::Get;
        let metadata_service = is_metadata_service(request.url());
        let builder = to_reqwest(
            &self.http,
            request,
            self.target(request.url()),
            self.timeout,
            "sign-in",
        )?;
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                self.record(Exchange {
                    status: None,
                    headers: Default::default(),
                    managed_identity,
                    expires_in: None,
                });
                let error = transport_error(e);
                return Err(if metadata_service {
                    CoreError::new(CoreErrorKind::Other, error)
                } else {
                    error
                });
            }
        };
        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        let headers = core_headers(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                self.record(Exchange {
                    status: None,
                    headers: response_headers,
                    managed_identity,
                    expires_in: None,
                });
                return Err(transport_error(e));
            }
        };
        if status >= 400
            && let Ok(mut failure) = self.failure.lock()
        {
            *failure = Some((status, body.to_vec()));
        }
        let expires_in = (200..300)
            .contains(&status)
            .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
            .flatten()
            .and_then(|json| super::auth::expires_in_of(&json));
        self.record(Exchange {
            status: Some(status),
            headers: response_headers,
            managed_identity,
            expires_in,
        });
        if metadata_service && METADATA_SERVICE_RETRIED.contains(&status) {
            return Err(CoreError::with_message(
                CoreErrorKind::HttpResponse {
                    status: status.into(),
                    error_code: None,
                    raw_response: Some(Box::new(RawResponse::from_bytes(
                        status.into(),
                        headers,
                        body.to_vec(),
                    ))),
                },
                format!("the instance metadata service answered {status}"),
            ));
        }
        Ok(AsyncRawResponse::from_bytes(
            status.into(),
            headers,
            body.to_vec(),
        ))
    }
}

/// `request` (azure_core's) as a reqwest request to `url`, with its method, headers and body;
/// `what` names the caller in the refusal of what it never sends (another method, a streamed
/// body). The bridge under the Azure SDK's clients: sign-in and the state blob.
pub(crate) fn to_reqwest(
    http: &reqwest::Client,
    request: &Request,
    url: url::Url,
    timeout: Duration,
    what: &str,
) -> azure_core::Result<reqwest::RequestBuilder> {
    let method = match request.method() {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Head => reqwest::Method::HEAD,
        other => {
            return Err(CoreError::with_message(
                CoreErrorKind::Other,
                format!("HTTP method {other:?} is not used by {what}"),
            ));
        }
    };
    let mut builder = http.request(method, url).timeout(timeout);
    for (name, value) in request.headers().iter() {
        builder = builder.header(name.as_str(), value.as_str());
    }
    match request.body() {
        Body::Bytes(bytes) => Ok(builder.body(bytes.to_vec())),
        Body::SeekableStream(_) => Err(CoreError::with_message(
            CoreErrorKind::Other,
            format!("streamed request bodies are not used by {what}"),
        )),
    }
}

/// A reqwest response's headers as azure_core's (values that are not text are left out).
pub(crate) fn core_headers(headers: &reqwest::header::HeaderMap) -> Headers {
    let map: HashMap<HeaderName, HeaderValue> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                HeaderName::from(k.as_str().to_owned()),
                HeaderValue::from(v.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    Headers::from(map)
}

/// The statuses `azure_identity` retries for the instance metadata service, after
/// https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling
const METADATA_SERVICE_RETRIED: &[u16] = &[
    404, 410, 429, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// Whether `url` is the instance metadata service's token endpoint, as `azure_identity` calls it
/// (before any rewrite to another endpoint).
fn is_metadata_service(url: &url::Url) -> bool {
    url::Url::parse(super::auth::IMDS_TOKEN_ENDPOINT).is_ok_and(|imds| {
        url.scheme() == imds.scheme()
            && url.host_str() == imds.host_str()
            && url.port_or_known_default() == imds.port_or_known_default()
            && url.path() == imds.path()
    })
}

/// A reqwest failure as `azure_core` error: `Connection` when no connection was made (retried
/// by the pipeline), `Io` otherwise. The URL (and its query) is left out of the message.
pub(crate) fn transport_error(error: reqwest::Error) -> CoreError {
    let kind = if error.is_connect() {
        CoreErrorKind::Connection
    } else {
        CoreErrorKind::Io
    };
    CoreError::with_message(kind, error_text(error))
}

/// A reqwest error's text and its causes, without the URL (the caller names what it reached).
fn error_text(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_reported_with_its_path() {
        let cloud = Cloud::Custom {
            login_host: "http://127.0.0.1:1".into(),
            graph_host: "http://127.0.0.1:1".into(),
            ca_file: Some("/nonexistent/ca.pem".into()),
            token_exchange_audience: None,
            graph_resource: None,
        };
        let err = http_client(&cloud).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_file_with_certificates_is_accepted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        let pem = include_str!("testdata/cert-and-key.pem");
        std::fs::write(&path, pem).expect("write");
        let cloud = Cloud::Custom {
            login_host: "https://127.0.0.1:1".into(),
            graph_host: "https://127.0.0.1:1".into(),
            ca_file: Some(path),
            token_exchange_audience: None,
            graph_resource: None,
        };
        http_client(&cloud).expect("client with extra CA");
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    use crate::graph::test_server::{test_ca, tls_acceptor};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTPS server on 127.0.0.1 whose certificate is issued by `testdata/test-ca.pem`;
    /// it answers every request with `{"ok":true}`. Stops when the handle is dropped.
    async fn tls_server() -> (u16, tokio::task::JoinHandle<()>) {
        let acceptor = tls_acceptor();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = b"{\"ok\":true}";
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (port, task)
    }

    fn cloud(port: u16, ca_file: Option<PathBuf>) -> Cloud {
        Cloud::Custom {
            login_host: format!("https://127.0.0.1:{port}"),
            graph_host: format!("https://127.0.0.1:{port}"),
            ca_file,
            token_exchange_audience: None,
            graph_resource: None,
        }
    }

    #[tokio::test]
    async fn the_extra_ca_is_trusted_and_nothing_else_is() {
        let (port, task) = tls_server().await;
        let url = format!("https://127.0.0.1:{port}/v1.0/users");

        let trusting = http_client(&cloud(port, Some(test_ca()))).expect("client");
        let response = trusting
            .get(&url)
            .send()
            .await
            .expect("TLS with the extra CA");
        assert_eq!(response.status().as_u16(), 200);

        let plain = http_client(&cloud(port, None)).expect("client");
        let err = plain.get(&url).send().await.expect_err("unknown issuer");
        assert!(err.is_connect() || err.is_request(), "{err}");

        // The Graph client uses the same transport.
        let graph = crate::graph::GraphClient::new(
            &cloud(port, Some(test_ca())),
            Arc::new(crate::graph::auth::StaticToken(crate::graph::Secret::new(
                "t",
            ))),
            crate::graph::GraphClientOptions::default(),
        )
        .expect("graph client");
        let body = graph
            .get_json("/users?$select=id")
            .await
            .expect("graph over TLS");
        assert_eq!(body["ok"], true);
        task.abort();
    }
}

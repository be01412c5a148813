//! A scripted HTTP server on 127.0.0.1 for the tests of this module: every request is recorded
//! with its arrival instant, and a closure decides each answer. [`TestServer::start_tls`] serves
//! HTTPS with `testdata/localhost-cert.pem`, issued by `testdata/test-ca.pem` ([`test_ca`]), as
//! sign-in needs (`azure_identity` refuses an authority that is not HTTPS).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct RecordedRequest {
    /// When it arrived (after the body was read).
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Raw query string (may be empty).
    pub query: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header of this (lower-case) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Time to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            delay: Duration::ZERO,
        }
    }

    /// An answer without body.
    pub(crate) fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Delays the answer.
    pub(crate) fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&RecordedRequest, usize) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// The CA that issued the HTTPS test server's certificate.
pub(crate) fn test_ca() -> std::path::PathBuf {
    testdata("test-ca.pem")
}

fn testdata(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/graph/testdata")
        .join(name)
}

/// A TCP listener that completes a TLS handshake before handing a connection to axum;
/// connections whose handshake fails are dropped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A TLS acceptor serving `testdata/localhost-cert.pem` (for 127.0.0.1, issued by
/// [`test_ca`]).
pub(crate) fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(testdata("localhost-cert.pem"))
            .expect("cert file")
            .collect::<Result<_, _>>()
            .expect("certs");
    let key = PrivateKeyDer::from_pem_file(testdata("localhost-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A running test server; it stops when dropped.
pub(crate) struct TestServer {
    addr: std::net::SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server whose answers come from `script(request, index_of_request)`.
    pub(crate) async fn start(
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        Self::serve(listener, addr, false, script)
    }

    /// Starts an HTTPS server (certificate for 127.0.0.1 issued by [`test_ca`]) whose answers
    /// come from `script(request, index_of_request)`.
    pub(crate) async fn start_tls(
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = tcp.local_addr().expect("local addr");
        let listener = TlsListener {
            tcp,
            acceptor: tls_acceptor(),
        };
        Self::serve(listener, addr, true, script)
    }

    /// Serves `script`'s answers on `listener`, bound at `addr`.
    fn serve<L: axum::serve::Listener>(
        listener: L,
        addr: std::net::SocketAddr,
        tls: bool,
        script: impl Fn(&RecordedRequest, usize) -> Reply + Send + Sync + 'static,
    ) -> Self
    where
        L::Addr: std::fmt::Debug,
    {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            addr,
            tls,
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` (or `https://` for a TLS server).
    pub(crate) fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The requests received so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let recorded = RecordedRequest {
        at: Instant::now(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
    };
    let index = {
        let mut requests = shared.requests.lock().expect("lock");
        requests.push(recorded.clone());
        requests.len() - 1
    };
    let reply = (shared.script)(&recorded, index);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        response = response.header(k, v);
    }
    response
        .body(Body::from(reply.body))
        .expect("valid scripted response")
}

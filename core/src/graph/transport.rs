//! The HTTP client shared by sign-in and Graph calls: rustls with the platform's and Mozilla's
//! roots, plus the extra CA of a custom cloud.

use std::time::Duration;

use super::cloud::Cloud;

/// Time allowed to open a TCP+TLS connection (default for every client built here).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

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
pub fn http_client(cloud: &Cloud) -> Result<reqwest::Client, TransportError> {
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
        };
        http_client(&cloud).expect("client with extra CA");
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn testdata(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/graph/testdata")
            .join(name)
    }

    /// An HTTPS server on 127.0.0.1 whose certificate is issued by `testdata/test-ca.pem`;
    /// it answers every request with `{"ok":true}`. Stops when the handle is dropped.
    async fn tls_server() -> (u16, tokio::task::JoinHandle<()>) {
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
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
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
        }
    }

    #[tokio::test]
    async fn the_extra_ca_is_trusted_and_nothing_else_is() {
        let (port, task) = tls_server().await;
        let url = format!("https://127.0.0.1:{port}/v1.0/users");

        let trusting = http_client(&cloud(port, Some(testdata("test-ca.pem")))).expect("client");
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
            &cloud(port, Some(testdata("test-ca.pem"))),
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

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

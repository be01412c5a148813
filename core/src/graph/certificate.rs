//! Client certificates and the signed client assertion built from them.
//!
//! Microsoft's identity platform accepts a JWT signed with the application's certificate in
//! place of a client secret ("certificate credentials"). The assertion's header names the
//! certificate by the base64url SHA-256 thumbprint of its DER encoding (`x5t#S256`) and is
//! signed with RSASSA-PSS SHA-256 (`PS256`), the algorithm Microsoft documents for that header.
//! Claims: `aud` = the token endpoint, `iss` = `sub` = the client id, a fresh `jti`, and
//! `nbf`/`iat`/`exp` with a ten-minute lifetime.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// How long a client assertion is valid, in seconds.
pub const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A certificate and its RSA private key, loaded from PEM (certificate and key in one text,
/// PKCS#8 or PKCS#1 key) or from PKCS#12 (`.pfx`). `Debug` shows only the thumbprint.
pub struct ClientCertificate {
    key: RsaKeyPair,
    thumbprint_s256: String,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint_s256)
            .finish_non_exhaustive()
    }
}

/// A certificate could not be loaded or used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// The PEM text has no certificate.
    #[error(
        "the certificate text has no `BEGIN CERTIFICATE` block; give the certificate and its private key in one PEM file, or a PKCS#12 file"
    )]
    NoCertificate,
    /// The PEM text has no private key.
    #[error(
        "the certificate text has no private key block; append the private key (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`) to the certificate"
    )]
    NoPrivateKey,
    /// The key is not an RSA key ring accepts.
    #[error(
        "the private key is not a usable RSA key ({0}); Entra certificate credentials need an RSA key of 2048 bits or more"
    )]
    BadKey(String),
    /// The PKCS#12 data could not be opened.
    #[error("cannot open the PKCS#12 certificate ({0}); check the file and its password")]
    Pkcs12(String),
    /// Signing failed.
    #[error("cannot sign the client assertion with the certificate's key")]
    Signing,
}

impl ClientCertificate {
    /// Loads a certificate from PEM or PKCS#12 bytes. PEM is recognised by its `-----BEGIN`
    /// marker; anything else is read as PKCS#12 with `password` (empty when `None`). The first
    /// certificate is the one whose thumbprint names the key.
    pub fn from_bytes(bytes: &[u8], password: Option<&str>) -> Result<Self, CertificateError> {
        if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            Self::from_pem(bytes)
        } else {
            Self::from_pkcs12(bytes, password.unwrap_or(""))
        }
    }

    /// Loads a certificate and key from PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        let cert = CertificateDer::pem_slice_iter(pem)
            .find_map(Result::ok)
            .ok_or(CertificateError::NoCertificate)?;
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|_| CertificateError::NoPrivateKey)?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(CertificateError::BadKey("not an RSA key".to_owned())),
        }
        .map_err(|e| CertificateError::BadKey(e.to_string()))?;
        Ok(Self::new(key, cert.as_ref()))
    }

    /// Loads a certificate and key from PKCS#12 bytes.
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self, CertificateError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            der,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| CertificateError::Pkcs12(e.to_string()))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or_else(|| CertificateError::Pkcs12("it holds no private key".to_owned()))?;
        let cert = chain
            .certs()
            .first()
            .ok_or(CertificateError::NoCertificate)?;
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der())
            .map_err(|e| CertificateError::BadKey(e.to_string()))?;
        Ok(Self::new(key, cert.as_der()))
    }

    fn new(key: RsaKeyPair, cert_der: &[u8]) -> Self {
        let thumbprint_s256 = URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der));
        ClientCertificate {
            key,
            thumbprint_s256,
        }
    }

    /// The base64url SHA-256 thumbprint of the certificate (`x5t#S256`).
    pub fn thumbprint_s256(&self) -> &str {
        &self.thumbprint_s256
    }

    /// A signed client assertion for `client_id` at `token_endpoint`, valid from `now_unix`
    /// for [`ASSERTION_LIFETIME_SECS`].
    pub fn client_assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now_unix: u64,
    ) -> Result<String, CertificateError> {
        let header = serde_json::json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": self.thumbprint_s256,
        });
        let claims = serde_json::json!({
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now_unix,
            "iat": now_unix,
            "exp": now_unix + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CertificateError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};

    const PEM: &[u8] = include_bytes!("testdata/cert-and-key.pem");
    const PEM_PKCS1: &[u8] = include_bytes!("testdata/cert-and-pkcs1-key.pem");
    const PFX: &[u8] = include_bytes!("testdata/cert.pfx");
    /// `openssl x509 -outform DER | openssl dgst -sha256 -binary | base64url` of the fixture.
    const THUMBPRINT: &str = "K7noj3upwoECqmQZxtcHzAbhwmYNJ36nMjK3DgVxTnM";

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
    }

    #[test]
    fn pem_pkcs1_and_pkcs12_give_the_same_thumbprint() {
        for cert in [
            ClientCertificate::from_bytes(PEM, None).expect("pem"),
            ClientCertificate::from_bytes(PEM_PKCS1, None).expect("pkcs1"),
            ClientCertificate::from_bytes(PFX, Some("test-pass")).expect("pfx"),
        ] {
            assert_eq!(cert.thumbprint_s256(), THUMBPRINT);
        }
    }

    #[test]
    fn wrong_pkcs12_password_is_reported() {
        let err = ClientCertificate::from_bytes(PFX, Some("nope")).expect_err("bad password");
        assert!(matches!(err, CertificateError::Pkcs12(_)), "{err}");
    }

    #[test]
    fn pem_without_key_is_reported() {
        let text = std::str::from_utf8(PEM).expect("utf8");
        let cert_only = &text[..text.find("-----BEGIN PRIVATE KEY").expect("key block")];
        let err = ClientCertificate::from_pem(cert_only.as_bytes()).expect_err("no key");
        assert_eq!(err, CertificateError::NoPrivateKey);
    }

    #[test]
    fn assertion_has_documented_header_and_claims_and_verifies() {
        let cert = ClientCertificate::from_pem(PEM).expect("pem");
        let endpoint = "https://login.microsoftonline.com/t1/oauth2/v2.0/token";
        let jwt = cert
            .client_assertion("app-1", endpoint, 1_700_000_000)
            .expect("sign");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t#S256"], THUMBPRINT);
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], endpoint);
        assert_eq!(claims["iss"], "app-1");
        assert_eq!(claims["sub"], "app-1");
        assert_eq!(claims["exp"], 1_700_000_000u64 + ASSERTION_LIFETIME_SECS);
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
        let public = UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, cert.key.public().as_ref());
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("signature verifies with the certificate's public key");
    }
}

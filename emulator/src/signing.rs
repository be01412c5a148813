//! The key that signs the emulator's tokens.
//!
//! The Microsoft identity platform signs its tokens with RSA and SHA-256 (`RS256`), names the
//! key in the token header (`kid`, and `x5t`, the certificate thumbprint, which has the same
//! value), and publishes the public keys as a JSON Web Key Set at the `jwks_uri` of its OpenID
//! Connect discovery document
//! (<https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-signature>,
//! <https://learn.microsoft.com/en-us/entra/identity-platform/signing-key-rollover>).
//! The emulator does the same with an RSA 2048 key generated once per process (every emulator
//! started in one process shares it) and a self-signed certificate over it for `x5c`.

use crate::EmulatorError;
use crate::jwt::{self, JwtError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{self, RsaKeyPair};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

/// Bits of the generated RSA modulus (Entra's keys are 2048-bit).
const RSA_BITS: usize = 2048;

/// The emulator's token-signing key with its certificate.
pub(crate) struct SigningKey {
    pair: RsaKeyPair,
    /// `kid` and `x5t`: base64url SHA-1 thumbprint of the certificate.
    kid: String,
    /// DER of the self-signed certificate over the public key.
    cert_der: Vec<u8>,
    /// Big-endian modulus.
    n: Vec<u8>,
    /// Big-endian public exponent.
    e: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn key_err(e: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::Certificate(format!("token signing key: {e}"))
}

impl SigningKey {
    /// The process's signing key, generated on first use.
    pub(crate) fn shared() -> Result<Arc<SigningKey>, EmulatorError> {
        static KEY: OnceLock<Arc<SigningKey>> = OnceLock::new();
        if let Some(k) = KEY.get() {
            return Ok(k.clone());
        }
        let made = Arc::new(SigningKey::generate()?);
        Ok(KEY.get_or_init(|| made).clone())
    }

    /// Generates a fresh RSA key and a self-signed certificate over it.
    pub(crate) fn generate() -> Result<SigningKey, EmulatorError> {
        use rsa::pkcs8::EncodePrivateKey;
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS).map_err(key_err)?;
        let pkcs8 = private.to_pkcs8_der().map_err(key_err)?;
        SigningKey::from_pkcs8(pkcs8.as_bytes())
    }

    /// A signing key from a PKCS#8 RSA private key.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, EmulatorError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(key_err)?;
        let components: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(pkcs8);
        let cert_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
            .map_err(key_err)?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(key_err)?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "tenantsync emulator token signing",
        );
        let cert = params.self_signed(&cert_key).map_err(key_err)?;
        let cert_der = cert.der().to_vec();
        Ok(SigningKey {
            pair,
            kid: jwt::thumbprint_sha1(&cert_der),
            cert_der,
            n: components.n,
            e: components.e,
        })
    }

    /// The key id (`kid`, equal to `x5t`).
    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT whose header names this key.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        // Signing with a valid key into a buffer of the modulus' length cannot fail.
        let signed = self.pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        );
        debug_assert!(signed.is_ok());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Verifies a token this key signed and returns its claims: `alg` must be `RS256` and a
    /// `kid` or `x5t`, when present, must name this key.
    pub(crate) fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let p = jwt::split(token)?;
        if p.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(JwtError::Signature);
        }
        for name in ["kid", "x5t"] {
            if let Some(k) = p.header.get(name)
                && k.as_str() != Some(self.kid.as_str())
            {
                return Err(JwtError::Signature);
            }
        }
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.pair.public().as_ref(),
        )
        .verify(p.input.as_bytes(), &p.sig)
        .map_err(|_| JwtError::Signature)?;
        Ok(p.claims)
    }

    /// The public key as a JSON Web Key, in the shape of Entra's key sets
    /// (`kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`, and `issuer` where given).
    pub(crate) fn jwk(&self, issuer: Option<&str>) -> Value {
        let mut k = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        if let Some(i) = issuer {
            k["issuer"] = json!(i);
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed key keeps these tests fast; `shared()` is exercised by every emulator test.
    const KEY: &[u8] = include_bytes!("../tests/data/test-app-rsa-key.pk8");

    #[test]
    fn tokens_verify_with_the_published_key_and_name_it() {
        let key = SigningKey::from_pkcs8(KEY).expect("key");
        let token = key.sign(&json!({"aud": "x"}));
        assert_eq!(key.verify(&token), Ok(json!({"aud": "x"})));
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap_or_default())
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], key.kid());
        assert_eq!(header["x5t"], key.kid());

        // The JWK's n and e verify the signature on their own.
        let jwk = key.jwk(None);
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().unwrap_or_default())
            .expect("n");
        let e = URL_SAFE_NO_PAD
            .decode(jwk["e"].as_str().unwrap_or_default())
            .expect("e");
        let (input, sig) = token.rsplit_once('.').expect("three parts");
        signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(sig).expect("sig"),
            )
            .expect("the published key verifies the token");
        // x5t is the certificate's thumbprint.
        let x5c = STANDARD
            .decode(jwk["x5c"][0].as_str().unwrap_or_default())
            .expect("x5c");
        assert_eq!(jwt::thumbprint_sha1(&x5c), key.kid());
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let key = SigningKey::from_pkcs8(KEY).expect("key");
        let token = key.sign(&json!({"aud": "x"}));
        let (head, rest) = token.split_once('.').expect("parts");
        let (_, sig) = rest.split_once('.').expect("parts");
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(json!({"aud": "y"}).to_string())
        );
        assert_eq!(key.verify(&forged), Err(JwtError::Signature));
        let other_kid = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "kid": "other"}).to_string())
        );
        assert_eq!(key.verify(&other_kid), Err(JwtError::Signature));
        let hs = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "HS256"}).to_string())
        );
        assert_eq!(key.verify(&hs), Err(JwtError::Signature));
        assert_eq!(key.verify("a.b"), Err(JwtError::Malformed));
    }
}

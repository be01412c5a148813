//! JSON Web Tokens: parsing, and verification of client assertions signed with an app's
//! certificate. The emulator's own tokens are signed in `signing`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::{digest, signature};
use serde_json::Value;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("the token is not a well-formed JWT")]
    Malformed,
    /// The signature does not verify.
    #[error("the token signature is invalid")]
    Signature,
    /// The certificate or algorithm is not usable.
    #[error("{0}")]
    Unsupported(String),
}

/// The parts of a JWT.
pub(crate) struct Parts {
    /// The decoded header.
    pub header: Value,
    /// The decoded claims.
    pub claims: Value,
    /// `header.claims` as sent: the signed input.
    pub input: String,
    /// The decoded signature.
    pub sig: Vec<u8>,
}

/// Splits and decodes a compact JWT.
pub(crate) fn split(token: &str) -> Result<Parts, JwtError> {
    let mut it = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(JwtError::Malformed);
    };
    let dec = |p: &str| {
        URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .map_err(|_| JwtError::Malformed)
    };
    let header: Value = serde_json::from_slice(&dec(h)?).map_err(|_| JwtError::Malformed)?;
    let claims: Value = serde_json::from_slice(&dec(c)?).map_err(|_| JwtError::Malformed)?;
    if !header.is_object() || !claims.is_object() {
        return Err(JwtError::Malformed);
    }
    Ok(Parts {
        header,
        claims,
        input: format!("{h}.{c}"),
        sig: dec(s)?,
    })
}

/// Decodes the DER certificate from a PEM text.
pub(crate) fn pem_to_der(pem: &str) -> Result<Vec<u8>, JwtError> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = pem.find(begin).ok_or_else(|| {
        JwtError::Unsupported("the registered certificate is not a PEM certificate".into())
    })? + begin.len();
    let end = pem[start..]
        .find("-----END CERTIFICATE-----")
        .ok_or_else(|| {
            JwtError::Unsupported("the registered certificate PEM is truncated".into())
        })?;
    let b64: String = pem[start..start + end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).map_err(|_| {
        JwtError::Unsupported("the registered certificate PEM is not valid base64".into())
    })
}

/// Splits one DER TLV: (tag, content, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *d.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = d.get(hdr..hdr + len)?;
    Some((tag, content, &d[hdr + len..]))
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The public key of a certificate: (is RSA, key bytes as ring expects them).
fn public_key(der: &[u8]) -> Option<(bool, Vec<u8>)> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r;
    }
    // serial, signature algorithm, issuer, validity, subject
    for _ in 0..5 {
        rest = tlv(rest)?.2;
    }
    let (_, spki, _) = tlv(rest)?;
    let (_, alg, after) = tlv(spki)?;
    let (_, oid, _) = tlv(alg)?;
    let (tag, bits, _) = tlv(after)?;
    if tag != 0x03 || bits.first() != Some(&0) {
        return None;
    }
    let key = bits[1..].to_vec();
    if oid == OID_RSA {
        Some((true, key))
    } else if oid == OID_EC {
        Some((false, key))
    } else {
        None
    }
}

/// base64url SHA-1 thumbprint of a DER certificate (the `x5t` JWT header).
pub(crate) fn thumbprint_sha1(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der))
}

/// base64url SHA-256 thumbprint of a DER certificate (the `x5t#S256` JWT header).
pub(crate) fn thumbprint_sha256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, der))
}

/// Verifies a client assertion signed with the key of `cert_pem` (RS256, PS256 or ES256) and
/// returns its claims. When the assertion names a thumbprint (`x5t` or `x5t#S256`), it must
/// be the certificate's.
pub(crate) fn verify_with_certificate(token: &str, cert_pem: &str) -> Result<Value, JwtError> {
    let p = split(token)?;
    let der = pem_to_der(cert_pem)?;
    if let Some(x5t) = p.header.get("x5t").and_then(Value::as_str)
        && x5t.trim_end_matches('=') != thumbprint_sha1(&der)
    {
        return Err(JwtError::Signature);
    }
    if let Some(x5t) = p.header.get("x5t#S256").and_then(Value::as_str)
        && x5t.trim_end_matches('=') != thumbprint_sha256(&der)
    {
        return Err(JwtError::Signature);
    }
    let (is_rsa, key) = public_key(&der).ok_or_else(|| {
        JwtError::Unsupported("the registered certificate has no RSA or P-256 public key".into())
    })?;
    let alg = p
        .header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let algorithm: &dyn signature::VerificationAlgorithm = match (alg, is_rsa) {
        ("RS256", true) => &signature::RSA_PKCS1_2048_8192_SHA256,
        ("PS256", true) => &signature::RSA_PSS_2048_8192_SHA256,
        ("ES256", false) => &signature::ECDSA_P256_SHA256_FIXED,
        _ => {
            return Err(JwtError::Unsupported(format!(
                "algorithm '{alg}' does not match the registered certificate"
            )));
        }
    };
    signature::UnparsedPublicKey::new(algorithm, key)
        .verify(p.input.as_bytes(), &p.sig)
        .map_err(|_| JwtError::Signature)?;
    Ok(p.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn es256_assertion_verifies_against_certificate() {
        let kp = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["app".to_string()])
            .expect("params")
            .self_signed(&kp)
            .expect("cert");
        let pem = cert.pem();
        let der = pem_to_der(&pem).expect("der");
        let header = json!({"alg": "ES256", "typ": "JWT", "x5t": thumbprint_sha1(&der)});
        let claims = json!({"sub": "x"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signer = signature::EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &kp.serialize_der(),
            &rng,
        )
        .expect("signer");
        let sig = signer.sign(&rng, input.as_bytes()).expect("sign");
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        assert_eq!(verify_with_certificate(&token, &pem), Ok(claims));
        let bad = format!("{input}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]));
        assert_eq!(
            verify_with_certificate(&bad, &pem),
            Err(JwtError::Signature)
        );
    }
}

#[cfg(test)]
mod rsa_tests {
    use super::*;
    use serde_json::json;

    const CERT: &str = include_str!("../tests/data/test-app-rsa-cert.pem");
    const KEY: &[u8] = include_bytes!("../tests/data/test-app-rsa-key.pk8");

    fn sign(alg: &str, padding: &'static dyn signature::RsaEncoding) -> String {
        let der = pem_to_der(CERT).expect("der");
        let header = json!({"alg": alg, "typ": "JWT", "x5t": thumbprint_sha1(&der)});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(json!({"sub": "x"}).to_string())
        );
        let key = signature::RsaKeyPair::from_pkcs8(KEY).expect("key");
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(
            padding,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn rs256_and_ps256_assertions_verify() {
        let rs = sign("RS256", &signature::RSA_PKCS1_SHA256);
        assert_eq!(verify_with_certificate(&rs, CERT), Ok(json!({"sub": "x"})));
        let ps = sign("PS256", &signature::RSA_PSS_SHA256);
        assert_eq!(verify_with_certificate(&ps, CERT), Ok(json!({"sub": "x"})));
        // The algorithm named must match the signature.
        let rest = rs.split_once('.').map(|x| x.1).unwrap_or_default();
        let wrong = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "PS256", "typ": "JWT"}).to_string())
        );
        assert_eq!(
            verify_with_certificate(&wrong, CERT),
            Err(JwtError::Signature)
        );
        let es = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "ES256"}).to_string())
        );
        assert!(matches!(
            verify_with_certificate(&es, CERT),
            Err(JwtError::Unsupported(_))
        ));
    }
}

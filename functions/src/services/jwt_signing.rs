//! jsonwebtoken's HS256 on ring, the crypto library rustls already brings (ADR 0022).
//!
//! jsonwebtoken ships two providers: aws-lc, a C library that weighs megabytes in the artifact and a
//! minute in every clean build, or RustCrypto's crates for every algorithm it knows (RSA among them, with
//! an advisory that has no fix). Access tokens are HS256 and only HS256 (`tokens::verify_access` refuses
//! the rest), so this provider signs and verifies that one algorithm and refuses every other.

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use ring::hmac;

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes this provider the process's own; every token function calls it first, so no path can reach
/// jsonwebtoken without it.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, and nothing in Orderly installs one.
        let _ = PROVIDER.install_default();
    });
}

struct Hs256(hmac::Key);

fn hs256_only(algorithm: &Algorithm, family: AlgorithmFamily) -> Result<()> {
    match (algorithm, family) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => Ok(()),
        (Algorithm::HS256, _) => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    hs256_only(algorithm, key.family())?;
    Ok(Box::new(Hs256(hmac::Key::new(
        hmac::HMAC_SHA256,
        key.as_bytes(),
    ))))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    hs256_only(algorithm, key.family())?;
    Ok(Box::new(Hs256(hmac::Key::new(
        hmac::HMAC_SHA256,
        key.try_get_as_bytes()?,
    ))))
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.0, message).as_ref().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// ring compares the tags in constant time.
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        hmac::verify(&self.0, message, tag).map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde_json::{Value, json};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn hs256_matches_the_rfc_7515_example() {
        // RFC 7515 appendix A.1: the HS256 signature of its example header and payload.
        let secret = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let key = DecodingKey::from_secret(&secret);
        install();
        let header = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
        let payload = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let tag = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let message = format!("{header}.{payload}");
        assert!(
            jsonwebtoken::crypto::verify(tag, message.as_bytes(), &key, Algorithm::HS256).unwrap()
        );
        let wrong = "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(
            !jsonwebtoken::crypto::verify(wrong, message.as_bytes(), &key, Algorithm::HS256)
                .unwrap()
        );
    }

    #[test]
    fn every_other_algorithm_is_refused() {
        install();
        let claims = json!({"sub": "x", "exp": 4_000_000_000u64});
        for algorithm in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256] {
            assert!(
                encode(
                    &Header::new(algorithm),
                    &claims,
                    &EncodingKey::from_secret(KEY)
                )
                .is_err(),
                "{algorithm:?}"
            );
        }
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        assert!(decode::<Value>(&token, &DecodingKey::from_secret(KEY), &validation).is_ok());
        validation.algorithms = vec![Algorithm::HS512];
        assert!(decode::<Value>(&token, &DecodingKey::from_secret(KEY), &validation).is_err());
    }
}

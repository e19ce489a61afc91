//! Access tokens (short-lived HS256 JWTs) and refresh tokens / API keys (opaque, random, stored hashed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use orderly_domain::users::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// A refresh token lives this long unless used (each use rotates it)…
pub const REFRESH_TTL: Duration = Duration::days(30);
/// …and no session outlives this, however often it is refreshed.
pub const SESSION_TTL: Duration = Duration::days(90);
const ISSUER: &str = "orderly";
const AUDIENCE: &str = "orderly-api";

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: Role,
    /// The session (sign-in) the token belongs to: a logout ends it, and its access tokens with it.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
}

pub fn issue_access(
    key: &[u8],
    user_id: Uuid,
    role: Role,
    session_id: Uuid,
) -> Result<String, jsonwebtoken::errors::Error> {
    super::jwt_signing::install();
    let now = Utc::now();
    let claims = AccessClaims {
        sub: user_id,
        role,
        sid: session_id,
        iat: now.timestamp(),
        exp: (now + ACCESS_TTL).timestamp(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        jti: Uuid::now_v7(),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
}

/// Checks signature, algorithm (HS256 only: `none` and algorithm confusion are refused), expiry, issuer
/// and audience.
pub fn verify_access(key: &[u8], token: &str) -> Option<AccessClaims> {
    super::jwt_signing::install();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.leeway = 0;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    decode::<AccessClaims>(token, &DecodingKey::from_secret(key), &validation)
        .ok()
        .map(|data| data.claims)
}

pub fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub fn same_hash(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn random_text(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::fill(buffer.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A new opaque secret `{prefix}_<256 random bits>` and the hash that is stored for it.
fn new_secret(prefix: &str) -> (String, Vec<u8>) {
    let secret = format!("{prefix}_{}", random_text(32));
    let hash = sha256(&secret);
    (secret, hash)
}

/// A new refresh token and the hash that is stored for it.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    new_secret("rt")
}

/// A new WebSocket connect ticket and the hash that is stored for it.
pub fn new_connect_ticket() -> (String, Vec<u8>) {
    new_secret("wst")
}

/// A new API key `ok_<prefix>_<secret>`: the prefix finds the row, the hash of the whole key proves it.
pub fn new_api_key() -> (String, String, Vec<u8>) {
    let prefix = hex_prefix();
    let key = format!("ok_{prefix}_{}", random_text(32));
    let hash = sha256(&key);
    (key, prefix, hash)
}

fn hex_prefix() -> String {
    rand::random::<[u8; 6]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The prefix of a well-formed API key.
pub fn api_key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("ok_")?;
    let (prefix, secret) = rest.split_once('_')?;
    (prefix.len() == 12 && prefix.chars().all(|c| c.is_ascii_hexdigit()) && secret.len() >= 32)
        .then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn access_tokens_round_trip_and_are_bound_to_their_key() {
        let user = Uuid::now_v7();
        let session = Uuid::now_v7();
        let token = issue_access(KEY, user, Role::Admin, session).unwrap();
        let claims = verify_access(KEY, &token).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.sid),
            (user, Role::Admin, session)
        );
        assert!(verify_access(b"another-key-another-key-another-k", &token).is_none());
    }

    #[test]
    fn tampered_none_and_expired_tokens_are_refused() {
        let token = issue_access(KEY, Uuid::now_v7(), Role::Customer, Uuid::now_v7()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .unwrap()
            .replace("customer", "admin");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload),
            parts[2]
        );
        assert!(verify_access(KEY, &tampered).is_none());

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(verify_access(KEY, &format!("{none_header}.{}.", parts[1])).is_none());

        let now = Utc::now().timestamp();
        let expired = AccessClaims {
            sub: Uuid::now_v7(),
            role: Role::Customer,
            sid: Uuid::now_v7(),
            iat: now - 1000,
            exp: now - 1,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Uuid::now_v7(),
        };
        let token = encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert!(verify_access(KEY, &token).is_none());
    }

    #[test]
    fn api_keys_have_a_findable_prefix_and_a_stored_hash() {
        let (key, prefix, hash) = new_api_key();
        assert_eq!(api_key_prefix(&key), Some(prefix.as_str()));
        assert!(same_hash(&sha256(&key), &hash));
        assert!(!same_hash(&sha256("ok_000000000000_guess"), &hash));
        assert_eq!(api_key_prefix("ok_short_x"), None);
        assert_eq!(api_key_prefix("Bearer something"), None);
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_hashes() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(sha256(&a), hash_a);
    }
}

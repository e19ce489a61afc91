//! argon2id password hashes (OWASP's default parameters), computed off the async workers.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::ServiceError;

/// A hash of a random password nobody knows: verifying against it makes a login for an unknown email
/// cost the same as one for a known email with a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_now(&base64_random()).expect("hashing a random password cannot fail"));

fn base64_random() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

fn hash_now(password: &str) -> Result<String, ServiceError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(ServiceError::internal)
}

pub async fn hash(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(ServiceError::internal)?
}

/// Verifies `password` against `stored`, or against the dummy hash when there is no user, so both take
/// one argon2 computation. Returns whether it matched (never for the dummy).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let matched = PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && matched
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await);
        assert!(!verify("wrong".into(), Some(stored)).await);
        assert!(!verify("anything".into(), None).await);
    }
}

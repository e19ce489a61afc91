use chrono::Utc;
use orderly_domain::access::Principal;
use orderly_domain::rate_limit::{
    Decision, LOGIN_PER_EMAIL, LOGIN_PER_IP, PER_API_KEY, PER_USER, Quota, decide,
};
use orderly_http::ApiError;
use orderly_store::rate_limits;

use super::db;
use crate::State;

async fn take(state: &State, key: &str, quota: Quota) -> Result<Decision, ApiError> {
    let outcome = rate_limits::acquire(&state.db.get().await.map_err(db)?, key, quota)
        .await
        .map_err(db)?;
    Ok(decide(quota, outcome, Utc::now()))
}

/// The per-principal limit every authenticated request passes.
pub async fn for_principal(state: &State, principal: &Principal) -> Result<Decision, ApiError> {
    match principal {
        Principal::User { id, .. } => take(state, &format!("user:{id}"), PER_USER).await,
        Principal::ApiKey { id } => take(state, &format!("api-key:{id}"), PER_API_KEY).await,
    }
}

/// Login attempts, per source IP, then per email. An attempt refused by the first limit does not count
/// against the second, so an attacker hammering from one address cannot lock the victim's email out.
pub async fn for_login(state: &State, source_ip: &str, email: &str) -> Result<(), ApiError> {
    for (key, quota) in [
        (format!("login-ip:{source_ip}"), LOGIN_PER_IP),
        (
            format!("login-email:{}", email.trim().to_lowercase()),
            LOGIN_PER_EMAIL,
        ),
    ] {
        let decision = take(state, &key, quota).await?;
        if !decision.allowed {
            return Err(ApiError::RateLimited {
                retry_after_seconds: decision.retry_after_seconds,
            });
        }
    }
    Ok(())
}

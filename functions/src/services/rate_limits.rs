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

/// Login attempts, per source IP and per email; refused when either is exhausted.
pub async fn for_login(state: &State, source_ip: &str, email: &str) -> Result<(), ApiError> {
    let by_ip = take(state, &format!("login-ip:{source_ip}"), LOGIN_PER_IP).await?;
    let by_email = take(
        state,
        &format!("login-email:{}", email.trim().to_lowercase()),
        LOGIN_PER_EMAIL,
    )
    .await?;
    let retry_after_seconds = by_ip.retry_after_seconds.max(by_email.retry_after_seconds);
    if by_ip.allowed && by_email.allowed {
        Ok(())
    } else {
        Err(ApiError::RateLimited {
            retry_after_seconds,
        })
    }
}

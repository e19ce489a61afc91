//! The request quotas (GCRA, one statement in Postgres per request): per principal on every authenticated
//! request, per address and per email where a request proves or creates a credential.

use chrono::Utc;
use orderly_domain::access::Principal;
use orderly_domain::rate_limit::{
    Decision, HEALTH_PER_IP, LOGIN_PER_EMAIL, LOGIN_PER_IP, PER_API_KEY, PER_USER, Quota,
    REFRESH_PER_IP, REGISTER_PER_IP, WS_MESSAGES_PER_CONNECTION, decide,
};

use orderly_store::rate_limits::{self, Credential, Standing};

use super::ServiceError;
use crate::State;

async fn take(state: &State, key: &str, quota: Quota) -> Result<Decision, ServiceError> {
    let outcome = rate_limits::acquire(&state.db.get().await?, key, quota).await?;
    Ok(decide(quota, outcome, Utc::now()))
}

fn refuse_over(decision: Decision) -> Result<(), ServiceError> {
    if decision.allowed {
        Ok(())
    } else {
        Err(ServiceError::RateLimited {
            retry_after_seconds: decision.retry_after_seconds,
        })
    }
}

/// The per-principal limit every authenticated request passes, and the credential's standing now (the
/// authorizer's cached policy may be minutes old).
pub async fn for_principal(
    state: &State,
    principal: &Principal,
) -> Result<(Decision, Standing), ServiceError> {
    let (key, quota, credential) = match *principal {
        Principal::User { id, session, .. } => (
            format!("user:{id}"),
            PER_USER,
            Credential::Session {
                user_id: id,
                session_id: session,
            },
        ),
        Principal::ApiKey { id } => (
            format!("api-key:{id}"),
            PER_API_KEY,
            Credential::ApiKey { id },
        ),
    };
    let (outcome, standing) =
        rate_limits::admit(&state.db.get().await?, &key, quota, credential).await?;
    Ok((decide(quota, outcome, Utc::now()), standing))
}

/// A message a WebSocket client sent, per connection: `Err(RateLimited)` past
/// `WS_MESSAGES_PER_CONNECTION`.
pub async fn for_client_message(state: &State, connection_id: &str) -> Result<(), ServiceError> {
    let key = format!("ws:{connection_id}");
    refuse_over(take(state, &key, WS_MESSAGES_PER_CONNECTION).await?)
}

/// The key of the per-email budget that every password check spends from (login and a password-protected
/// profile change alike), so no endpoint offers more guesses than login does.
fn email_key(email: &str) -> String {
    format!("login-email:{}", email.trim().to_lowercase())
}

/// Login attempts, per source IP, then per email. An attempt refused by the first limit does not count
/// against the second, so an attacker hammering from one address cannot lock the victim's email out.
pub async fn for_login(state: &State, source_ip: &str, email: &str) -> Result<(), ServiceError> {
    refuse_over(take(state, &format!("login-ip:{source_ip}"), LOGIN_PER_IP).await?)?;
    for_password_check(state, email).await
}

/// A check of an account's password outside login (`current_password`): the same per-email budget.
pub async fn for_password_check(state: &State, email: &str) -> Result<(), ServiceError> {
    refuse_over(take(state, &email_key(email), LOGIN_PER_EMAIL).await?)
}

/// Anonymous endpoints that cost us something (an argon2 hash, a token rotation, a health probe): per
/// source address.
#[derive(Debug, Clone, Copy)]
pub enum Anonymous {
    Register,
    Refresh,
    Health,
}

pub async fn for_address(
    state: &State,
    kind: Anonymous,
    source_ip: &str,
) -> Result<(), ServiceError> {
    let (name, quota) = match kind {
        Anonymous::Register => ("register", REGISTER_PER_IP),
        Anonymous::Refresh => ("refresh", REFRESH_PER_IP),
        Anonymous::Health => ("health", HEALTH_PER_IP),
    };
    refuse_over(take(state, &format!("{name}-ip:{source_ip}"), quota).await?)
}

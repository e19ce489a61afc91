//! Registration, login, refresh-token rotation with reuse detection, logout, and the first admin.

use chrono::Utc;
use orderly_domain::users::{Role, check_name, check_password, normalise_email};
use orderly_domain::validation::Problems;

use orderly_domain::users::User;
use orderly_store::sessions::{self, NewRefreshToken, NewSession, Rotation};
use orderly_store::users::{self, NewUser};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::rate_limits::{self, Anonymous};
use super::{ServiceError, passwords, tokens};
use crate::State;
use crate::redact::redacting_debug;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
}

redacting_debug!(Registration { email, name } secret { password });
redacting_debug!(Credentials { email } secret { password });
redacting_debug!(TokenPair { token_type, expires_in } secret { access_token, refresh_token });

fn signing_key(state: &State) -> Result<&[u8], ServiceError> {
    state
        .signing_key()
        .ok_or_else(|| ServiceError::internal("this function was given no token signing key"))
}

const INVALID_CREDENTIALS: &str = "email or password is wrong";
const INVALID_REFRESH: &str = "the refresh token is not valid; sign in again";

/// Anyone may register (a few times a minute per address); the role is always customer.
pub async fn register(
    state: &State,
    source_ip: &str,
    input: Registration,
) -> Result<User, ServiceError> {
    rate_limits::for_address(state, Anonymous::Register, source_ip).await?;
    let mut problems = Problems::default();
    let email = problems.check(normalise_email(&input.email));
    problems.check(check_password(&input.password));
    let name = problems.check(check_name(&input.name));
    let (email, name) = problems
        .into_result(|| (email.unwrap_or_default(), name.unwrap_or_default()))
        .map_err(ServiceError::Invalid)?;
    let password_hash = passwords::hash(input.password)
        .await
        .map_err(ServiceError::internal)?;
    let new = NewUser {
        id: orderly_domain::new_id(),
        email: &email,
        password_hash: &password_hash,
        name: &name,
        role: Role::Customer,
    };
    users::insert(&state.db.get().await?, &new)
        .await?
        .ok_or_else(|| ServiceError::conflict("EMAIL_TAKEN", "an account with this email exists"))
}

/// A new access token for the user in `session_id`, and a refresh token (its secret, and its row).
fn new_pair(
    state: &State,
    user: &User,
    session_id: Uuid,
) -> Result<(TokenPair, Uuid, Vec<u8>), ServiceError> {
    let access_token = tokens::issue_access(signing_key(state)?, user.id, user.role, session_id)
        .map_err(ServiceError::internal)?;
    let (refresh_token, token_hash) = tokens::new_refresh_token();
    let pair = TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TTL.num_seconds(),
        refresh_token,
    };
    Ok((pair, orderly_domain::new_id(), token_hash))
}

fn std_duration(d: chrono::Duration) -> std::time::Duration {
    d.to_std().expect("a positive duration")
}

pub async fn login(
    state: &State,
    actor: &Actor,
    input: Credentials,
) -> Result<TokenPair, ServiceError> {
    rate_limits::for_login(state, &actor.source_ip, &input.email).await?;
    let email = normalise_email(&input.email).unwrap_or_default();
    let mut client = state.db.get().await?;
    let found = users::find_credentials(&client, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // One argon2 verification either way, so an unknown email is not answered faster.
    let verified = passwords::verify(input.password, hash).await;
    let Some(user) = user.filter(|_| verified) else {
        let change = Change {
            action: "auth.login_failed",
            target_type: "user",
            target_id: Some(email),
            before: None,
            after: None,
        };
        audit::record(&client, actor, change).await?;
        return Err(ServiceError::Unauthorized(INVALID_CREDENTIALS));
    };
    let session = NewSession {
        id: orderly_domain::new_id(),
        user_id: user.id,
        expires_at: Utc::now() + tokens::SESSION_TTL,
    };
    let (pair, token_id, token_hash) = new_pair(state, &user, session.id)?;
    let tx = client.transaction().await?;
    let token = NewRefreshToken {
        id: token_id,
        token_hash: &token_hash,
    };
    sessions::start(&tx, &session, &token, std_duration(tokens::REFRESH_TTL)).await?;
    let change = Change {
        action: "auth.login",
        target_type: "user",
        target_id: Some(user.id.to_string()),
        before: None,
        after: Some(json!({"session_id": session.id})),
    };
    audit::record(&tx, &actor.clone().with_user(user.id), change).await?;
    tx.commit().await?;
    Ok(pair)
}

/// Rotates a refresh token. Presenting one that was already rotated means it was copied: the whole
/// session is revoked (the newest token too) and the event is audited.
pub async fn refresh(
    state: &State,
    actor: &Actor,
    presented: &str,
) -> Result<TokenPair, ServiceError> {
    rate_limits::for_address(state, Anonymous::Refresh, &actor.source_ip).await?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let (next_secret, next_hash) = tokens::new_refresh_token();
    let next = NewRefreshToken {
        id: orderly_domain::new_id(),
        token_hash: &next_hash,
    };
    let rotation = sessions::rotate(
        &tx,
        &tokens::sha256(presented),
        &next,
        std_duration(tokens::REFRESH_TTL),
    )
    .await?;
    let (user_id, session_id) = match rotation {
        Rotation::Rotated {
            user_id,
            session_id,
        } => (user_id, session_id),
        Rotation::Reused {
            user_id,
            session_id,
            revoked_tokens,
        } => {
            let change = Change {
                action: "auth.refresh_reuse",
                target_type: "session",
                target_id: Some(session_id.to_string()),
                before: None,
                after: Some(json!({"revoked_tokens": revoked_tokens})),
            };
            audit::record(&tx, &actor.clone().with_user(user_id), change).await?;
            tx.commit().await?;
            return Err(ServiceError::Unauthorized(INVALID_REFRESH));
        }
        Rotation::Unknown | Rotation::Refused { .. } => {
            return Err(ServiceError::Unauthorized(INVALID_REFRESH));
        }
    };
    // The role may have changed since login; the new access token carries the current one.
    let user = users::find(&tx, user_id)
        .await?
        .ok_or(ServiceError::Unauthorized(INVALID_REFRESH))?;
    let access_token = tokens::issue_access(signing_key(state)?, user.id, user.role, session_id)
        .map_err(ServiceError::internal)?;
    tx.commit().await?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TTL.num_seconds(),
        refresh_token: next_secret,
    })
}

/// Ends the session of the given refresh token (it must be the caller's): its refresh tokens stop working
/// and so do its access tokens (the front door checks the session on every request).
pub async fn logout(
    state: &State,
    actor: &Actor,
    user_id: Uuid,
    presented: &str,
) -> Result<(), ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let session_id = match sessions::of_token(&tx, &tokens::sha256(presented)).await? {
        Some((session_id, owner)) if owner == user_id => session_id,
        _ => return Err(ServiceError::Unauthorized(INVALID_REFRESH)),
    };
    end_session(&tx, actor, session_id, "auth.logout").await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes a session and audits why.
async fn end_session(
    tx: &orderly_store::Transaction<'_>,
    actor: &Actor,
    session_id: Uuid,
    action: &str,
) -> Result<(), ServiceError> {
    let revoked = sessions::revoke(tx, session_id, action).await?.unwrap_or(0);
    let change = Change {
        action,
        target_type: "session",
        target_id: Some(session_id.to_string()),
        before: None,
        after: Some(json!({"revoked_tokens": revoked})),
    };
    audit::record(tx, actor, change).await
}

/// Creates the first admin when no user has the email; never changes an existing user.
pub async fn ensure_admin(
    state: &State,
    email: &str,
    password: &str,
) -> Result<bool, ServiceError> {
    let email = normalise_email(email)
        .map_err(|e| ServiceError::Internal(format!("the first admin's email {}", e.message)))?;
    check_password(password)
        .map_err(|e| ServiceError::Internal(format!("the first admin's password {}", e.message)))?;
    let client = state.db.get().await?;
    if users::find_credentials(&client, &email).await?.is_some() {
        return Ok(false);
    }
    let password_hash = passwords::hash(password.to_owned())
        .await
        .map_err(ServiceError::internal)?;
    let new = NewUser {
        id: orderly_domain::new_id(),
        email: &email,
        password_hash: &password_hash,
        name: "Administrator",
        role: Role::Admin,
    };
    Ok(users::insert(&client, &new).await?.is_some())
}

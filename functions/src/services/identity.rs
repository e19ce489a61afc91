//! Registration, login, refresh-token rotation with reuse detection, logout, and the first admin.

use chrono::Utc;
use orderly_domain::users::{Role, check_name, check_password, normalise_email};
use orderly_domain::validation::Problems;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::users::{self, NewUser, User};
use orderly_store::{GenericClient, refresh_tokens};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{db, passwords, rate_limits, tokens};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
}

fn signing_key(state: &State) -> Result<&[u8], ApiError> {
    state
        .config
        .jwt_signing_key
        .as_deref()
        .ok_or_else(|| ApiError::internal("JWT_SIGNING_KEY is not configured"))
}

const INVALID_CREDENTIALS: &str = "email or password is wrong";
const INVALID_REFRESH: &str = "the refresh token is not valid; sign in again";

/// Anyone may register; the role is always customer.
pub async fn register(state: &State, input: Registration) -> Result<User, ApiError> {
    let mut problems = Problems::default();
    let email = problems.check(normalise_email(&input.email));
    problems.check(check_password(&input.password));
    let name = problems.check(check_name(&input.name));
    let (email, name) = problems
        .into_result(|| (email.unwrap_or_default(), name.unwrap_or_default()))
        .map_err(ApiError::Validation)?;
    let password_hash = passwords::hash(input.password)
        .await
        .map_err(ApiError::internal)?;
    let new = NewUser {
        id: orderly_domain::new_id(),
        email: &email,
        password_hash: &password_hash,
        name: &name,
        role: Role::Customer,
    };
    users::insert(&state.db.get().await.map_err(db)?, &new)
        .await
        .map_err(db)?
        .ok_or_else(|| ApiError::conflict("EMAIL_TAKEN", "an account with this email exists"))
}

async fn issue_pair(
    client: &impl GenericClient,
    state: &State,
    user: &User,
    family_id: Uuid,
) -> Result<(TokenPair, Uuid), ApiError> {
    let access_token = tokens::issue_access(signing_key(state)?, user.id, user.role)
        .map_err(ApiError::internal)?;
    let (refresh_token, token_hash) = tokens::new_refresh_token();
    let id = orderly_domain::new_id();
    let stored = refresh_tokens::NewRefreshToken {
        id,
        user_id: user.id,
        family_id,
        token_hash: &token_hash,
        expires_at: Utc::now() + tokens::REFRESH_TTL,
    };
    refresh_tokens::insert(client, &stored).await.map_err(db)?;
    let pair = TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TTL.num_seconds(),
        refresh_token,
    };
    Ok((pair, id))
}

pub async fn login(
    state: &State,
    request: &HttpRequest,
    input: Credentials,
) -> Result<TokenPair, ApiError> {
    rate_limits::for_login(state, &request.source_ip, &input.email).await?;
    let email = normalise_email(&input.email).unwrap_or_default();
    let mut client = state.db.get().await.map_err(db)?;
    let found = users::find_credentials(&client, &email).await.map_err(db)?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // One argon2 verification either way, so an unknown email is not answered faster.
    let verified = passwords::verify(input.password, hash).await;
    let actor = Actor::of(request);
    let Some(user) = user.filter(|_| verified) else {
        let change = Change {
            action: "auth.login_failed",
            target_type: "user",
            target_id: Some(email),
            before: None,
            after: None,
        };
        audit::record(&client, &actor, change).await?;
        return Err(ApiError::Unauthorized(INVALID_CREDENTIALS));
    };
    let tx = client.transaction().await.map_err(db)?;
    let (pair, _) = issue_pair(&tx, state, &user, orderly_domain::new_id()).await?;
    let change = Change {
        action: "auth.login",
        target_type: "user",
        target_id: Some(user.id.to_string()),
        before: None,
        after: None,
    };
    audit::record(&tx, &actor.with_user(user.id), change).await?;
    tx.commit().await.map_err(db)?;
    Ok(pair)
}

/// Rotates a refresh token. Presenting one that was already rotated means it was copied: the whole
/// family is revoked (the newest token too) and the event is audited.
pub async fn refresh(
    state: &State,
    request: &HttpRequest,
    presented: &str,
) -> Result<TokenPair, ApiError> {
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let stored = refresh_tokens::find_for_update(&tx, &tokens::sha256(presented))
        .await
        .map_err(db)?;
    let Some(stored) = stored else {
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    };
    let actor = Actor::of(request).with_user(stored.user_id);
    if stored.rotated && !stored.revoked {
        revoke_family(&tx, &actor, stored.family_id, "auth.refresh_reuse").await?;
        tx.commit().await.map_err(db)?;
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    }
    if stored.revoked || stored.rotated || stored.expires_at <= Utc::now() {
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    }
    // The role may have changed since login; the new access token carries the current one.
    let user = users::find(&tx, stored.user_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::Unauthorized(INVALID_REFRESH))?;
    let (pair, new_id) = issue_pair(&tx, state, &user, stored.family_id).await?;
    refresh_tokens::mark_rotated(&tx, stored.id, new_id)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(pair)
}

/// Revokes the family of the given refresh token (it must be the caller's).
pub async fn logout(
    state: &State,
    request: &HttpRequest,
    user_id: Uuid,
    presented: &str,
) -> Result<(), ApiError> {
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let stored = refresh_tokens::find_for_update(&tx, &tokens::sha256(presented))
        .await
        .map_err(db)?;
    let Some(stored) = stored.filter(|s| s.user_id == user_id) else {
        return Err(ApiError::Unauthorized(INVALID_REFRESH));
    };
    revoke_family(&tx, &Actor::of(request), stored.family_id, "auth.logout").await?;
    tx.commit().await.map_err(db)
}

/// Revokes every token of a refresh family (a login) and audits why.
async fn revoke_family(
    tx: &impl GenericClient,
    actor: &Actor,
    family_id: Uuid,
    action: &str,
) -> Result<(), ApiError> {
    let revoked = refresh_tokens::revoke_family(tx, family_id)
        .await
        .map_err(db)?;
    let change = Change {
        action,
        target_type: "refresh_token_family",
        target_id: Some(family_id.to_string()),
        before: None,
        after: Some(json!({"revoked_tokens": revoked})),
    };
    audit::record(tx, actor, change).await
}

/// Creates the first admin when no user has the email; never changes an existing user.
pub async fn ensure_admin(state: &State, email: &str, password: &str) -> Result<bool, ApiError> {
    let email = normalise_email(email)
        .map_err(|e| ApiError::BadRequest(format!("ORDERLY_ADMIN_EMAIL {}", e.message)))?;
    check_password(password)
        .map_err(|e| ApiError::BadRequest(format!("ORDERLY_ADMIN_PASSWORD {}", e.message)))?;
    let client = state.db.get().await.map_err(db)?;
    if users::find_credentials(&client, &email)
        .await
        .map_err(db)?
        .is_some()
    {
        return Ok(false);
    }
    let password_hash = passwords::hash(password.to_owned())
        .await
        .map_err(ApiError::internal)?;
    let new = NewUser {
        id: orderly_domain::new_id(),
        email: &email,
        password_hash: &password_hash,
        name: "Administrator",
        role: Role::Admin,
    };
    Ok(users::insert(&client, &new).await.map_err(db)?.is_some())
}

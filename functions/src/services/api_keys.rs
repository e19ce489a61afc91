//! API keys for service clients: created by admins, shown once, stored hashed, revocable.

use orderly_domain::pagination::next_cursor;
use orderly_domain::validation::text;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::api_keys::{self, ApiKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Paged, db, tokens};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret itself, shown this once.
    pub api_key: String,
}

crate::redact::redacting_debug!(CreatedKey { key } secret { api_key });

pub async fn create(
    state: &State,
    request: &HttpRequest,
    input: NewKey,
) -> Result<CreatedKey, ApiError> {
    let admin = request.admin()?;
    let name = text("name", &input.name, 1, 100).map_err(|e| ApiError::Validation(vec![e]))?;
    let (secret, prefix, hash) = tokens::new_api_key();
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let key = api_keys::insert(&tx, orderly_domain::new_id(), &name, &prefix, &hash, admin)
        .await
        .map_err(db)?;
    let change = Change {
        action: "api_key.created",
        target_type: "api_key",
        target_id: Some(key.id.to_string()),
        before: None,
        after: Some(json!({"name": key.name, "prefix": key.prefix})),
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)?;
    Ok(CreatedKey {
        key,
        api_key: secret,
    })
}

pub async fn list(state: &State, request: &HttpRequest) -> Result<Paged<ApiKey>, ApiError> {
    request.admin()?;
    let page = request.page()?;
    let items = api_keys::list(&state.db.get().await.map_err(db)?, page.limit, page.after)
        .await
        .map_err(db)?;
    let next_cursor = next_cursor(&items, page, |k| k.id);
    Ok(Paged { items, next_cursor })
}

pub async fn revoke(state: &State, request: &HttpRequest, id: Uuid) -> Result<(), ApiError> {
    request.admin()?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let key = api_keys::revoke(&tx, id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    let change = Change {
        action: "api_key.revoked",
        target_type: "api_key",
        target_id: Some(id.to_string()),
        before: Some(json!({"name": key.name, "prefix": key.prefix})),
        after: None,
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)
}

/// The live key's id, when `presented` is one; the comparison is constant-time.
pub async fn authenticate(state: &State, presented: &str) -> Result<Option<Uuid>, ApiError> {
    let Some(prefix) = tokens::api_key_prefix(presented) else {
        return Ok(None);
    };
    let found = api_keys::find_live_by_prefix(&state.db.get().await.map_err(db)?, prefix)
        .await
        .map_err(db)?;
    Ok(found
        .filter(|(_, hash)| tokens::same_hash(&tokens::sha256(presented), hash))
        .map(|(id, _)| id))
}

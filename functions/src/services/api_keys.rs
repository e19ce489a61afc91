//! API keys for service clients: created by admins, shown once, stored hashed, revocable.

use orderly_domain::api_keys::ApiKey;
use orderly_domain::pagination::Page;
use orderly_domain::validation::text;

use orderly_store::api_keys;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Caller, Paged, ServiceError, tokens};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// The merchant whose shop the key is for: it then sends that merchant's events only. Leave it out
    /// for a platform key.
    pub merchant_id: Option<Uuid>,
}

/// A new key and its secret, which exists only here: the store keeps its hash.
pub struct CreatedKey {
    pub key: ApiKey,
    pub api_key: String,
}

crate::redact::redacting_debug!(CreatedKey { key } secret { api_key });

pub async fn create(
    state: &State,
    caller: &Caller,
    input: NewKey,
) -> Result<CreatedKey, ServiceError> {
    let admin = caller.admin()?;
    let name = text("name", &input.name, 1, 100).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let (secret, prefix, hash) = tokens::new_api_key();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(merchant) = input.merchant_id
        && orderly_store::merchants::existing(&tx, &[merchant])
            .await?
            .is_empty()
    {
        return Err(ServiceError::invalid("merchant_id", "no such merchant"));
    }
    let key = api_keys::insert(
        &tx,
        orderly_domain::new_id(),
        &name,
        &prefix,
        &hash,
        admin,
        input.merchant_id,
    )
    .await?;
    let change = Change {
        action: "api_key.created",
        target_type: "api_key",
        target_id: Some(key.id.to_string()),
        before: None,
        after: Some(
            json!({"name": key.name, "prefix": key.prefix, "merchant_id": key.merchant_id}),
        ),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(CreatedKey {
        key,
        api_key: secret,
    })
}

pub async fn list(
    state: &State,
    caller: &Caller,
    page: Page,
) -> Result<Paged<ApiKey>, ServiceError> {
    caller.admin()?;
    let items = api_keys::list(&state.db.get().await?, page.limit, page.after).await?;
    Ok(Paged::of(items, page, |k| k.id))
}

pub async fn revoke(state: &State, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
    caller.admin()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let key = api_keys::revoke(&tx, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let change = Change {
        action: "api_key.revoked",
        target_type: "api_key",
        target_id: Some(id.to_string()),
        before: Some(json!({"name": key.name, "prefix": key.prefix})),
        after: None,
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(())
}

/// The live key's id, when `presented` is one; the comparison is constant-time.
pub async fn authenticate(state: &State, presented: &str) -> Result<Option<Uuid>, ServiceError> {
    let Some(prefix) = tokens::api_key_prefix(presented) else {
        return Ok(None);
    };
    let found = api_keys::find_live_by_prefix(&state.db.get().await?, prefix).await?;
    Ok(found
        .filter(|(_, hash)| tokens::same_hash(&tokens::sha256(presented), hash))
        .map(|(id, _)| id))
}

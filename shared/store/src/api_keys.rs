//! API keys of service clients: the public prefix finds the row, the hash of the whole key proves it.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::api_keys::ApiKey;

const COLUMNS: &str = "id, name, prefix, created_by, created_at, last_used_at, merchant_id";

fn api_key(row: &Row) -> ApiKey {
    ApiKey {
        id: row.get("id"),
        name: row.get("name"),
        prefix: row.get("prefix"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        merchant_id: row.get("merchant_id"),
    }
}

pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    name: &str,
    prefix: &str,
    key_hash: &[u8],
    created_by: Uuid,
    merchant_id: Option<Uuid>,
) -> Result<ApiKey, StoreError> {
    let row = db
        .query_one(
            &format!("INSERT INTO api_keys (id, name, prefix, key_hash, created_by, merchant_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"),
            &[&id, &name, &prefix, &key_hash, &created_by, &merchant_id],
        )
        .await?;
    Ok(api_key(&row))
}

/// Live keys, newest first.
pub async fn list(
    db: &impl GenericClient,
    limit: i64,
    before: Option<Uuid>,
) -> Result<Vec<ApiKey>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM api_keys WHERE revoked_at IS NULL AND ($2::uuid IS NULL OR id < $2)
                 ORDER BY id DESC LIMIT $1"
            ),
            &[&limit, &before],
        )
        .await?;
    Ok(rows.iter().map(api_key).collect())
}

/// The live key with this prefix and its hash, recording the use.
pub async fn find_live_by_prefix(
    db: &impl GenericClient,
    prefix: &str,
) -> Result<Option<(Uuid, Vec<u8>)>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE api_keys SET last_used_at = now() WHERE prefix = $1 AND revoked_at IS NULL RETURNING id, key_hash",
            &[&prefix],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Revokes a live key; `None` when there is none with that id.
pub async fn revoke(db: &impl GenericClient, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
    let row = db
        .query_opt(
            &format!("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING {COLUMNS}"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(api_key))
}

/// Whose events a live key sends: `Some(None)` for a platform key bound to no merchant, `None` when the
/// key is revoked or gone.
pub async fn merchant_of(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Option<Uuid>>, StoreError> {
    let row = db
        .query_opt(
            "SELECT merchant_id FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

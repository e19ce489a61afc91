//! Refresh tokens: opaque, stored as SHA-256 hashes, rotated on every use. A family is one login.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::StoreError;

pub struct NewRefreshToken<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(
    db: &impl GenericClient,
    token: &NewRefreshToken<'_>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&token.id, &token.user_id, &token.family_id, &token.token_hash, &token.expires_at],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub rotated: bool,
    pub revoked: bool,
}

/// Finds a token by hash and locks it, so two concurrent refreshes with one token cannot both rotate it.
pub async fn find_for_update(
    db: &impl GenericClient,
    token_hash: &[u8],
) -> Result<Option<StoredToken>, StoreError> {
    let row = db
        .query_opt(
            "SELECT id, user_id, family_id, expires_at, rotated_at IS NOT NULL, revoked_at IS NOT NULL
               FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
            &[&token_hash],
        )
        .await?;
    Ok(row.map(|r| StoredToken {
        id: r.get(0),
        user_id: r.get(1),
        family_id: r.get(2),
        expires_at: r.get(3),
        rotated: r.get(4),
        revoked: r.get(5),
    }))
}

pub async fn mark_rotated(
    db: &impl GenericClient,
    id: Uuid,
    replaced_by: Uuid,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE refresh_tokens SET rotated_at = now(), replaced_by = $2 WHERE id = $1",
        &[&id, &replaced_by],
    )
    .await?;
    Ok(())
}

/// Revokes every token of the family still live; returns how many.
pub async fn revoke_family(db: &impl GenericClient, family_id: Uuid) -> Result<u64, StoreError> {
    Ok(db
        .execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL", &[&family_id])
        .await?)
}

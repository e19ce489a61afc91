use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::merchants::Merchant;

/// `None` when the name is taken.
pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    name: &str,
) -> Result<Option<Merchant>, StoreError> {
    match db
        .query_one(
            "INSERT INTO merchants (id, name) VALUES ($1, $2) RETURNING id, name, created_at",
            &[&id, &name],
        )
        .await
    {
        Ok(r) => Ok(Some(Merchant {
            id: r.get(0),
            name: r.get(1),
            created_at: r.get(2),
        })),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    db: &impl GenericClient,
    limit: i64,
    after: Option<Uuid>,
) -> Result<Vec<Merchant>, StoreError> {
    let rows = db
        .query(
            "SELECT id, name, created_at FROM merchants WHERE ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $1",
            &[&limit, &after],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Merchant {
            id: r.get(0),
            name: r.get(1),
            created_at: r.get(2),
        })
        .collect())
}

pub async fn find_by_name(
    db: &impl GenericClient,
    name: &str,
) -> Result<Option<Merchant>, StoreError> {
    let row = db
        .query_opt(
            "SELECT id, name, created_at FROM merchants WHERE name = $1",
            &[&name],
        )
        .await?;
    Ok(row.map(|r| Merchant {
        id: r.get(0),
        name: r.get(1),
        created_at: r.get(2),
    }))
}

use deadpool_postgres::GenericClient;
use orderly_domain::merchants::{Merchant, Plan};
use orderly_domain::settlement::FeeSchedule;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;

const COLUMNS: &str = "id, name, fee_rate_bps, fee_fixed_cents, created_at, plan";

fn merchant(r: &tokio_postgres::Row) -> Merchant {
    Merchant {
        id: r.get(0),
        name: r.get(1),
        fees: FeeSchedule {
            rate_bps: r.get(2),
            fixed_cents: r.get(3),
        },
        created_at: r.get(4),
        // The column's CHECK allows only the plans there are.
        plan: Plan::parse(r.get(5)).unwrap_or(Plan::Standard),
    }
}

/// `None` when the name is taken.
pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    name: &str,
    fees: FeeSchedule,
    plan: Plan,
) -> Result<Option<Merchant>, StoreError> {
    match db
        .query_one(
            &format!(
                "INSERT INTO merchants (id, name, fee_rate_bps, fee_fixed_cents, plan) VALUES ($1, $2, $3, $4, $5)
                 RETURNING {COLUMNS}"
            ),
            &[&id, &name, &fees.rate_bps, &fees.fixed_cents, &plan.as_str()],
        )
        .await
    {
        Ok(r) => Ok(Some(merchant(&r))),
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
            &format!(
                "SELECT {COLUMNS} FROM merchants WHERE ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $1"
            ),
            &[&limit, &after],
        )
        .await?;
    Ok(rows.iter().map(merchant).collect())
}

pub async fn find_by_name(
    db: &impl GenericClient,
    name: &str,
) -> Result<Option<Merchant>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM merchants WHERE name = $1"),
            &[&name],
        )
        .await?;
    Ok(row.as_ref().map(merchant))
}

/// The merchant, locked until the transaction ends (to record an update's before and after).
pub async fn find_for_update(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Merchant>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM merchants WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(merchant))
}

/// Renames the merchant or changes its plan or fee schedule (captures from now on use the new one). `None`
/// when the name is another merchant's.
pub async fn update(
    db: &impl GenericClient,
    id: Uuid,
    name: &str,
    fees: FeeSchedule,
    plan: Plan,
) -> Result<Option<Merchant>, StoreError> {
    match db
        .query_one(
            &format!(
                "UPDATE merchants SET name = $2, fee_rate_bps = $3, fee_fixed_cents = $4, plan = $5 WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[&id, &name, &fees.rate_bps, &fees.fixed_cents, &plan.as_str()],
        )
        .await
    {
        Ok(r) => Ok(Some(merchant(&r))),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The ids among `ids` that are merchants.
pub async fn existing(db: &impl GenericClient, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
    let rows = db
        .query("SELECT id FROM merchants WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

use deadpool_postgres::GenericClient;
use orderly_domain::inventory::Stock;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::inventory::LowStock;

fn stock(row: &tokio_postgres::Row) -> Stock {
    Stock {
        available: row.get("available"),
        reserved: row.get("reserved"),
        sold: row.get("sold"),
        low_stock_threshold: row.get("low_stock_threshold"),
        flash_sale: row.get("flash_sale"),
        buyer_limit: row.get("buyer_limit"),
    }
}

/// Stock of a live product.
pub async fn find(db: &impl GenericClient, product_id: Uuid) -> Result<Option<Stock>, StoreError> {
    let row = db
        .query_opt(
            "SELECT i.available, i.reserved, i.sold, i.low_stock_threshold, i.flash_sale, i.buyer_limit
               FROM inventory i JOIN products p ON p.id = i.product_id
              WHERE i.product_id = $1 AND p.deleted_at IS NULL",
            &[&product_id],
        )
        .await?;
    Ok(row.as_ref().map(stock))
}

/// Locks a live product's stock for a change; run it in a transaction.
pub async fn lock(db: &impl GenericClient, product_id: Uuid) -> Result<Option<Stock>, StoreError> {
    let row = db
        .query_opt(
            "SELECT i.available, i.reserved, i.sold, i.low_stock_threshold, i.flash_sale, i.buyer_limit
               FROM inventory i JOIN products p ON p.id = i.product_id
              WHERE i.product_id = $1 AND p.deleted_at IS NULL
                FOR UPDATE OF i",
            &[&product_id],
        )
        .await?;
    Ok(row.as_ref().map(stock))
}

/// Whether a product's stock update may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushTurn {
    /// Push it now.
    Now,
    /// One went out less than the gap ago: hold this one back. `schedule` is true for the first
    /// held back since that push (whoever gets it sends the update later); later ones ride along.
    Later { schedule: bool },
}

/// Takes the product's turn to push its stock: at most once per `gap`, and the first update held
/// back is to be sent once the gap has passed.
pub async fn push_turn(
    db: &impl GenericClient,
    product_id: Uuid,
    gap: std::time::Duration,
) -> Result<PushTurn, StoreError> {
    let now = db
        .query_opt(
            "INSERT INTO inventory_pushes AS p (product_id, pushed_at) VALUES ($1, now())
             ON CONFLICT (product_id) DO UPDATE SET pushed_at = now(), flush_pending = false
              WHERE p.pushed_at <= now() - make_interval(secs => $2)
             RETURNING true",
            &[&product_id, &gap.as_secs_f64()],
        )
        .await?;
    if now.is_some() {
        return Ok(PushTurn::Now);
    }
    let first = db
        .execute(
            "UPDATE inventory_pushes SET flush_pending = true WHERE product_id = $1 AND NOT flush_pending",
            &[&product_id],
        )
        .await?;
    Ok(PushTurn::Later {
        schedule: first == 1,
    })
}

/// Forgets that updates of these products were held back (their send failed: the next event that
/// finds the gap closed schedules one again).
pub async fn unschedule(db: &impl GenericClient, product_ids: &[Uuid]) -> Result<(), StoreError> {
    db.execute(
        "UPDATE inventory_pushes SET flush_pending = false WHERE product_id = ANY ($1)",
        &[&product_ids],
    )
    .await?;
    Ok(())
}

/// Writes counted stock, threshold and the flash sale's settings (reserved and sold belong to orders and
/// are left alone).
pub async fn save_count(
    db: &impl GenericClient,
    product_id: Uuid,
    stock: &Stock,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE inventory SET available = $2, low_stock_threshold = $3, flash_sale = $4, buyer_limit = $5,
                updated_at = now()
          WHERE product_id = $1",
        &[
            &product_id,
            &stock.available,
            &stock.low_stock_threshold,
            &stock.flash_sale,
            &stock.buyer_limit,
        ],
    )
    .await?;
    Ok(())
}

/// Live products at or under their threshold, in product order.
pub async fn low_stock(
    db: &impl GenericClient,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<LowStock>, StoreError> {
    let rows = db
        .query(
            "SELECT p.id, p.sku, p.name, i.available, i.reserved, i.low_stock_threshold
               FROM inventory i JOIN products p ON p.id = i.product_id
              WHERE i.available <= i.low_stock_threshold AND p.deleted_at IS NULL AND ($1::uuid IS NULL OR p.id > $1)
              ORDER BY p.id LIMIT $2",
            &[&after, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LowStock {
            product_id: r.get(0),
            sku: r.get(1),
            name: r.get(2),
            available: r.get(3),
            reserved: r.get(4),
            low_stock_threshold: r.get(5),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{fresh_database, product};

    #[tokio::test]
    async fn a_product_pushes_once_per_gap_and_schedules_one_held_back_update() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let id = product(&db.pool, 5, 100).await;
        let hour = Duration::from_secs(3_600);
        assert_eq!(push_turn(&client, id, hour).await.unwrap(), PushTurn::Now);
        assert_eq!(
            push_turn(&client, id, hour).await.unwrap(),
            PushTurn::Later { schedule: true },
            "the first held back is scheduled"
        );
        assert_eq!(
            push_turn(&client, id, hour).await.unwrap(),
            PushTurn::Later { schedule: false },
            "the next ones ride along"
        );
        assert_eq!(
            push_turn(&client, id, Duration::ZERO).await.unwrap(),
            PushTurn::Now,
            "once the gap has passed (the scheduled one arriving)"
        );
        assert_eq!(
            push_turn(&client, id, hour).await.unwrap(),
            PushTurn::Later { schedule: true },
            "a push clears what was held back"
        );
    }
}

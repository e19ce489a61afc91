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
    }
}

/// Stock of a live product.
pub async fn find(db: &impl GenericClient, product_id: Uuid) -> Result<Option<Stock>, StoreError> {
    let row = db
        .query_opt(
            "SELECT i.available, i.reserved, i.sold, i.low_stock_threshold
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
            "SELECT i.available, i.reserved, i.sold, i.low_stock_threshold
               FROM inventory i JOIN products p ON p.id = i.product_id
              WHERE i.product_id = $1 AND p.deleted_at IS NULL
                FOR UPDATE OF i",
            &[&product_id],
        )
        .await?;
    Ok(row.as_ref().map(stock))
}

/// Writes counted stock and threshold (reserved and sold belong to orders and are left alone).
pub async fn save_count(
    db: &impl GenericClient,
    product_id: Uuid,
    stock: &Stock,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE inventory SET available = $2, low_stock_threshold = $3, updated_at = now() WHERE product_id = $1",
        &[&product_id, &stock.available, &stock.low_stock_threshold],
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

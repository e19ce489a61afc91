//! Daily sales rollups.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::StoreError;
use crate::prepared;
use orderly_domain::reports::ProductDay;
use orderly_domain::reports::SalesDay;

/// Adds a completed order's lines to the rollups of `day`.
pub async fn add_completed_order(
    db: &impl GenericClient,
    order_id: Uuid,
    day: NaiveDate,
) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "WITH lines AS (
             SELECT product_id, quantity, quantity * unit_price_cents AS gross FROM order_items WHERE order_id = $1
         ),
         per_product AS (
             INSERT INTO daily_product_sales AS d (day, product_id, orders, units, gross_cents)
             SELECT $2, product_id, 1, quantity, gross FROM lines
             ON CONFLICT (day, product_id) DO UPDATE
                SET orders = d.orders + 1, units = d.units + EXCLUDED.units, gross_cents = d.gross_cents + EXCLUDED.gross_cents
         )
         INSERT INTO daily_sales AS d (day, orders, units, gross_cents)
         SELECT $2, 1, coalesce(sum(quantity), 0), coalesce(sum(gross), 0) FROM lines
         ON CONFLICT (day) DO UPDATE
            SET orders = d.orders + 1, units = d.units + EXCLUDED.units, gross_cents = d.gross_cents + EXCLUDED.gross_cents",
        &[&order_id, &day],
    )
    .await?;
    Ok(())
}

pub async fn add_cancelled_order(
    db: &impl GenericClient,
    day: NaiveDate,
) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "INSERT INTO daily_sales AS d (day, cancelled_orders) VALUES ($1, 1)
         ON CONFLICT (day) DO UPDATE SET cancelled_orders = d.cancelled_orders + 1",
        &[&day],
    )
    .await?;
    Ok(())
}

/// Days from `from` to `to` inclusive that had any activity, oldest first, each with its products.
pub async fn daily(
    db: &impl GenericClient,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<SalesDay>, StoreError> {
    let days = db
        .query(
            "SELECT day, orders, units, gross_cents, cancelled_orders FROM daily_sales WHERE day BETWEEN $1 AND $2 ORDER BY day",
            &[&from, &to],
        )
        .await?;
    let products = db
        .query(
            "SELECT day, product_id, orders, units, gross_cents FROM daily_product_sales
              WHERE day BETWEEN $1 AND $2 ORDER BY day, gross_cents DESC, product_id",
            &[&from, &to],
        )
        .await?;
    Ok(days
        .iter()
        .map(|d| {
            let date: NaiveDate = d.get(0);
            SalesDay {
                date,
                orders: d.get(1),
                units: d.get(2),
                gross_cents: d.get(3),
                cancelled_orders: d.get(4),
                products: products
                    .iter()
                    .filter(|p| p.get::<_, NaiveDate>(0) == date)
                    .map(|p| ProductDay {
                        product_id: p.get(1),
                        orders: p.get(2),
                        units: p.get(3),
                        gross_cents: p.get(4),
                    })
                    .collect(),
            }
        })
        .collect())
}

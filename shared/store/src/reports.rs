//! Daily sales rollups.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::StoreError;
use crate::prepared;
use orderly_domain::reports::ProductDay;
use orderly_domain::reports::SalesDay;

/// Adds completed orders (each with the day it completed) and cancellations (the day of each) to the
/// rollups. Two statements however many events: a batch takes each rollup row's lock once, where one
/// transaction per event queued every event of the day on the day's row. Rows are written in
/// (day, product) order, so concurrent batches lock them in the same order.
pub async fn add_orders(
    db: &impl GenericClient,
    completed: &[(Uuid, NaiveDate)],
    cancelled: &[NaiveDate],
) -> Result<(), StoreError> {
    if !completed.is_empty() {
        let (orders, days): (Vec<Uuid>, Vec<NaiveDate>) = completed.iter().copied().unzip();
        prepared::execute(
            db,
            "WITH completed AS (
                 SELECT * FROM unnest($1::uuid[], $2::date[]) AS c(order_id, day)
             ),
             lines AS (
                 SELECT c.order_id, c.day, i.product_id, i.quantity, i.quantity * i.unit_price_cents AS gross
                   FROM completed c JOIN order_items i ON i.order_id = c.order_id
             ),
             per_product AS (
                 INSERT INTO daily_product_sales AS d (day, product_id, orders, units, gross_cents)
                 SELECT day, product_id, count(*), sum(quantity), sum(gross) FROM lines
                  GROUP BY day, product_id ORDER BY day, product_id
                 ON CONFLICT (day, product_id) DO UPDATE
                    SET orders = d.orders + EXCLUDED.orders, units = d.units + EXCLUDED.units,
                        gross_cents = d.gross_cents + EXCLUDED.gross_cents
             )
             INSERT INTO daily_sales AS d (day, orders, units, gross_cents)
             SELECT c.day, count(*), coalesce(sum(l.units), 0), coalesce(sum(l.gross), 0)
               FROM completed c
               LEFT JOIN (SELECT order_id, sum(quantity) AS units, sum(gross) AS gross FROM lines GROUP BY order_id) l
                      ON l.order_id = c.order_id
              GROUP BY c.day ORDER BY c.day
             ON CONFLICT (day) DO UPDATE
                SET orders = d.orders + EXCLUDED.orders, units = d.units + EXCLUDED.units,
                    gross_cents = d.gross_cents + EXCLUDED.gross_cents",
            &[&orders, &days],
        )
        .await?;
    }
    if !cancelled.is_empty() {
        prepared::execute(
            db,
            "INSERT INTO daily_sales AS d (day, cancelled_orders)
             SELECT day, count(*) FROM unnest($1::date[]) AS c(day) GROUP BY day ORDER BY day
             ON CONFLICT (day) DO UPDATE SET cancelled_orders = d.cancelled_orders + EXCLUDED.cancelled_orders",
            &[&cancelled],
        )
        .await?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{completed_order, fresh_database, product, user};

    #[tokio::test]
    async fn a_batch_adds_each_order_to_its_day_and_products_once() {
        let db = fresh_database().await;
        let (a, b) = (
            product(&db.pool, 10, 500).await,
            product(&db.pool, 10, 250).await,
        );
        let buyer = user(&db.pool).await;
        let client = db.pool.get().await.unwrap();
        let mut orders = Vec::new();
        for lines in [vec![(a, 2)], vec![(a, 1), (b, 4)], vec![]] {
            orders.push(completed_order(&db.pool, buyer, &lines).await);
        }
        let (monday, tuesday) = (
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
        );
        let completed = [
            (orders[0], monday),
            (orders[1], monday),
            (orders[2], tuesday),
        ];
        add_orders(&client, &completed, &[monday, tuesday, tuesday])
            .await
            .unwrap();
        add_orders(&client, &[(orders[0], tuesday)], &[])
            .await
            .unwrap();
        add_orders(&client, &[], &[]).await.unwrap();

        let days = daily(&client, monday, tuesday).await.unwrap();
        let summary: Vec<_> = days
            .iter()
            .map(|d| (d.date, d.orders, d.units, d.gross_cents, d.cancelled_orders))
            .collect();
        assert_eq!(
            summary,
            vec![
                (monday, 2, 7, 2 * 500 + 500 + 4 * 250, 1),
                (tuesday, 2, 2, 1000, 2),
            ]
        );
        let mut products: Vec<_> = days[0]
            .products
            .iter()
            .map(|p| (p.product_id, p.orders, p.units, p.gross_cents))
            .collect();
        products.sort();
        let mut expected = vec![(a, 2, 3, 1500), (b, 1, 4, 1000)];
        expected.sort();
        assert_eq!(products, expected);
    }
}

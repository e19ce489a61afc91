//! Flash sales (docs/adr/0018-flash-sales.md): an order for a product in flash-sale mode is queued
//! without touching the product's stock row, and the reservation function decides the product's queue
//! in batches, each in one transaction under one lock of that row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::flash_sales::{BuyerLimit, QueuedOrder};
use orderly_domain::orders::Order;
use uuid::Uuid;

use crate::StoreError;
use crate::orders::{COLUMNS, LineStock, OutboxEvent, order};

/// A product in flash-sale mode as a request reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnSale {
    pub stock: LineStock,
    pub buyer_limit: Option<i32>,
}

/// Which of a basket's products are in flash-sale mode, read inside a placement's transaction, whose
/// statements run with generic plans: one lookup by key per product, whatever the catalogue's size
/// (`orders::READ_STOCK` says why it is written this way). `$1`: distinct product ids.
pub const PRODUCTS_ON_SALE: &str =
    "SELECT s.product_id, s.available, s.price_cents, s.currency, s.buyer_limit, s.name, s.sku, now()
       FROM unnest($1::uuid[]) AS l(product_id)
      CROSS JOIN LATERAL (
            SELECT i.product_id, i.available, p.price_cents, p.currency, i.buyer_limit, p.name, p.sku
              FROM inventory i JOIN products p ON p.id = i.product_id
             WHERE i.product_id = l.product_id AND p.deleted_at IS NULL AND i.flash_sale
            OFFSET 0) s";

/// Live products in flash-sale mode among `product_ids`, with their price and limit per buyer, read
/// without a lock: a request never waits on a flash-sale product's row.
pub async fn products_on_sale(
    db: &impl GenericClient,
    product_ids: &[Uuid],
) -> Result<Vec<OnSale>, StoreError> {
    let statement = db.prepare_cached(PRODUCTS_ON_SALE).await?;
    let rows = db.query(&statement, &[&product_ids]).await?;
    Ok(rows
        .iter()
        .map(|r| OnSale {
            stock: LineStock {
                product_id: r.get(0),
                available: r.get(1),
                price_cents: r.get(2),
                currency: r.get::<_, String>(3),
                name: r.get(5),
                sku: r.get(6),
                read_at: r.get(7),
            },
            buyer_limit: r.get(4),
        })
        .collect())
}

/// An order to queue: one line of one flash-sale product.
pub struct Queueing<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub currency: &'a str,
    /// Replaced by the payment deadline when the order is accepted.
    pub expires_at: DateTime<Utc>,
    pub event: &'a OutboxEvent,
}

/// Writes the order `QUEUED` with its line, history, place in the queue and `order.queued` event, in one
/// statement.
pub async fn queue(db: &impl GenericClient, q: &Queueing<'_>) -> Result<Order, StoreError> {
    let statement = db
        .prepare_cached(&format!(
            "WITH queued AS (
                 INSERT INTO orders (id, user_id, status, total_cents, currency, expires_at)
                 VALUES ($1, $2, 'QUEUED', $4::bigint * $5::int, $6, $7)
                 RETURNING {COLUMNS}
             ),
             items AS (
                 INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $3, $5, $4)
             ),
             history AS (
                 INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor_user_id)
                 VALUES ($1, NULL, 'QUEUED', 'queued for the flash sale', $2)
             ),
             waiting AS (
                 INSERT INTO flash_sale_queue (order_id, product_id, quantity) SELECT id, $3, $5 FROM queued
             ),
             event AS (
                 INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, correlation_id)
                 VALUES ($8, 'order', $1, $9, $10, $11)
             )
             SELECT * FROM queued"
        ))
        .await?;
    let row = db
        .query_one(
            &statement,
            &[
                &q.id,
                &q.user_id,
                &q.product_id,
                &q.unit_price_cents,
                &q.quantity,
                &q.currency,
                &q.expires_at,
                &q.event.id,
                &q.event.event_type,
                &q.event.payload,
                &q.event.correlation_id,
            ],
        )
        .await?;
    Ok(order(&row))
}

/// A queued order with what its `order.placed` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub order: QueuedOrder,
    pub total_cents: i64,
    pub currency: String,
}

/// The head of a product's queue, read under the lock of its stock row.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueHead {
    pub available: i32,
    /// The sale's limit per buyer with what the head's buyers hold, when it has one.
    pub limit: Option<BuyerLimit>,
    pub waiting: Vec<Waiting>,
}

/// Locks the product's stock row (every decider of this product queues here, so a queue is decided
/// by one transaction at a time) and reads the first `limit` orders of its queue in arrival order, with
/// what is available and, when the sale limits units per buyer, what the head's buyers hold (read under
/// the same lock, so no other pass can change it meanwhile). `None` when the product has no stock row.
pub async fn lock_queue(
    db: &impl GenericClient,
    product_id: Uuid,
    limit: i64,
) -> Result<Option<QueueHead>, StoreError> {
    let lock = db
        .prepare_cached(
            "SELECT available, buyer_limit FROM inventory WHERE product_id = $1 FOR UPDATE",
        )
        .await?;
    let Some(stock) = db.query_opt(&lock, &[&product_id]).await? else {
        return Ok(None);
    };
    // A new statement after the lock: its snapshot sees every queue row a previous decider removed.
    let head = db
        .prepare_cached(
            "SELECT q.order_id, o.user_id, q.quantity, o.total_cents, o.currency
               FROM flash_sale_queue q JOIN orders o ON o.id = q.order_id
              WHERE q.product_id = $1
              ORDER BY q.position
              LIMIT $2",
        )
        .await?;
    let rows = db.query(&head, &[&product_id, &limit]).await?;
    let waiting: Vec<Waiting> = rows
        .iter()
        .map(|r| Waiting {
            order: QueuedOrder {
                order_id: r.get(0),
                user_id: r.get(1),
                quantity: r.get(2),
            },
            total_cents: r.get(3),
            currency: r.get::<_, String>(4),
        })
        .collect();
    let limit = match stock.get::<_, Option<i32>>(1) {
        Some(units) => {
            let buyers: Vec<Uuid> = waiting.iter().map(|w| w.order.user_id).collect();
            let held = held_by_buyers(db, product_id, &buyers).await?;
            Some(BuyerLimit { units, held })
        }
        None => None,
    };
    Ok(Some(QueueHead {
        available: stock.get(0),
        limit,
        waiting,
    }))
}

/// Units of the product that each of `buyers` holds or took: their orders from `PENDING_PAYMENT` to
/// `COMPLETED`. Exact only under the product's row lock (`lock_queue`), which every reservation of the
/// product takes.
pub async fn held_by_buyers(
    db: &impl GenericClient,
    product_id: Uuid,
    buyers: &[Uuid],
) -> Result<HashMap<Uuid, i32>, StoreError> {
    let statement = db
        .prepare_cached(
            "SELECT o.user_id, sum(i.quantity)::int
               FROM orders o JOIN order_items i ON i.order_id = o.id
              WHERE o.user_id = ANY($2) AND i.product_id = $1
                AND o.status IN ('PENDING_PAYMENT', 'PAID', 'FULFILLED', 'COMPLETED')
              GROUP BY o.user_id",
        )
        .await?;
    let rows = db.query(&statement, &[&product_id, &buyers]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// One pass's decisions, to record.
pub struct Decided<'a> {
    pub product_id: Uuid,
    /// Accepted orders, each with the id of its payment intent.
    pub accepted: &'a [(Uuid, Uuid)],
    /// Out of stock.
    pub rejected: &'a [Uuid],
    /// Over the buyer's limit.
    pub over_limit: &'a [Uuid],
    /// Units the accepted orders take.
    pub reserved: i32,
    pub payment_deadline: DateTime<Utc>,
    /// `order.placed` for each accepted order, one `orders.rejected` for the rest.
    pub events: &'a [OutboxEvent],
}

/// Records a pass in one statement, in the transaction that locked the queue: reserves the accepted
/// units, moves every order out of `QUEUED` with its history, writes the accepted orders' payment
/// intents and the events, and takes the orders out of the queue. Returns how many orders moved.
pub async fn record(db: &impl GenericClient, d: &Decided<'_>) -> Result<u64, StoreError> {
    let accepted: Vec<Uuid> = d.accepted.iter().map(|a| a.0).collect();
    let payments: Vec<Uuid> = d.accepted.iter().map(|a| a.1).collect();
    let everyone: Vec<Uuid> = accepted
        .iter()
        .chain(d.rejected)
        .chain(d.over_limit)
        .copied()
        .collect();
    let ids: Vec<Uuid> = d.events.iter().map(|e| e.id).collect();
    let aggregate_types: Vec<&str> = d.events.iter().map(|e| e.aggregate_type).collect();
    let aggregate_ids: Vec<Uuid> = d.events.iter().map(|e| e.aggregate_id).collect();
    let types: Vec<&str> = d.events.iter().map(|e| e.event_type).collect();
    let payloads: Vec<&serde_json::Value> = d.events.iter().map(|e| &e.payload).collect();
    let correlations: Vec<Option<&str>> = d
        .events
        .iter()
        .map(|e| e.correlation_id.as_deref())
        .collect();
    let statement = db
        .prepare_cached(
            "WITH stock AS (
                 UPDATE inventory SET available = available - $4, reserved = reserved + $4, updated_at = now()
                  WHERE product_id = $1
             ),
             decided AS (
                 UPDATE orders o
                    SET status = CASE WHEN o.id = ANY($2) THEN 'PENDING_PAYMENT'
                                      WHEN o.id = ANY($13) THEN 'REJECTED_BUYER_LIMIT'
                                      ELSE 'REJECTED_OUT_OF_STOCK' END,
                        expires_at = CASE WHEN o.id = ANY($2) THEN $6 ELSE o.expires_at END,
                        version = o.version + 1, updated_at = now()
                  WHERE o.id = ANY($5) AND o.status = 'QUEUED'
              RETURNING o.id, o.status, o.total_cents, o.currency
             ),
             history AS (
                 INSERT INTO order_status_history (order_id, from_status, to_status, reason)
                 SELECT id, 'QUEUED', status,
                        CASE WHEN status = 'PENDING_PAYMENT' THEN 'stock reserved in the flash sale'
                             WHEN status = 'REJECTED_BUYER_LIMIT' THEN 'over the flash sale''s limit per buyer'
                             ELSE 'sold out before this order''s turn' END
                   FROM decided
             ),
             payment AS (
                 INSERT INTO payments (id, order_id, amount_cents, currency, status)
                 SELECT p.payment_id, d.id, d.total_cents, d.currency, 'PENDING'
                   FROM decided d JOIN unnest($2::uuid[], $3::uuid[]) AS p(order_id, payment_id) ON p.order_id = d.id
             ),
             event AS (
                 INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, correlation_id)
                 SELECT * FROM unnest($7::uuid[], $8::text[], $9::uuid[], $10::text[], $11::jsonb[], $12::text[])
             ),
             dequeued AS (
                 DELETE FROM flash_sale_queue WHERE order_id = ANY($5)
             )
             SELECT count(*) FROM decided",
        )
        .await?;
    let row = db
        .query_one(
            &statement,
            &[
                &d.product_id,
                &accepted,
                &payments,
                &d.reserved,
                &everyone,
                &d.payment_deadline,
                &ids,
                &aggregate_types,
                &aggregate_ids,
                &types,
                &payloads,
                &correlations,
                &d.over_limit,
            ],
        )
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Which of `order_ids` still wait in a queue.
pub async fn still_queued(
    db: &impl GenericClient,
    order_ids: &[Uuid],
) -> Result<Vec<Uuid>, StoreError> {
    let rows = db
        .query(
            "SELECT order_id FROM flash_sale_queue WHERE order_id = ANY($1)",
            &[&order_ids],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_database, product, stock, user};
    use chrono::Duration;
    use orderly_domain::flash_sales::allocate;
    use serde_json::json;

    fn event(aggregate_id: Uuid, event_type: &'static str) -> OutboxEvent {
        OutboxEvent {
            id: Uuid::now_v7(),
            event_type,
            aggregate_type: "order",
            aggregate_id,
            payload: json!({"order_id": aggregate_id}),
            correlation_id: None,
        }
    }

    async fn queue_one(
        client: &impl GenericClient,
        buyer: Uuid,
        lamp: Uuid,
        quantity: i32,
    ) -> Uuid {
        let id = Uuid::now_v7();
        let order = queue(
            client,
            &Queueing {
                id,
                user_id: buyer,
                product_id: lamp,
                quantity,
                unit_price_cents: 2500,
                currency: "EUR",
                expires_at: Utc::now(),
                event: &event(id, "order.queued"),
            },
        )
        .await
        .unwrap();
        assert_eq!(order.status, orderly_domain::orders::OrderStatus::Queued);
        assert_eq!(order.total_cents, 2500 * i64::from(quantity));
        id
    }

    /// One pass as the reservation function makes it; what the lock read and how many orders moved.
    async fn pass(db: &crate::Pool, lamp: Uuid) -> (QueueHead, u64) {
        let mut tx_client = db.get().await.unwrap();
        let tx = tx_client.transaction().await.unwrap();
        let head = lock_queue(&tx, lamp, 100).await.unwrap().unwrap();
        let orders: Vec<QueuedOrder> = head.waiting.iter().map(|w| w.order).collect();
        let decision = allocate(head.available, head.limit.as_ref(), &orders);
        let accepted: Vec<(Uuid, Uuid)> = decision
            .accepted
            .iter()
            .map(|o| (o.order_id, Uuid::now_v7()))
            .collect();
        let ids = |orders: &[QueuedOrder]| orders.iter().map(|o| o.order_id).collect::<Vec<_>>();
        let mut events: Vec<OutboxEvent> = accepted
            .iter()
            .map(|(id, _)| event(*id, "order.placed"))
            .collect();
        events.push(event(lamp, "orders.rejected"));
        let moved = record(
            &tx,
            &Decided {
                product_id: lamp,
                accepted: &accepted,
                rejected: &ids(&decision.rejected),
                over_limit: &ids(&decision.over_limit),
                reserved: decision.reserved(),
                payment_deadline: Utc::now() + Duration::minutes(15),
                events: &events,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        (head, moved)
    }

    async fn statuses(client: &impl GenericClient, orders: &[Uuid]) -> Vec<String> {
        client
            .query(
                "SELECT status FROM orders WHERE id = ANY($1) ORDER BY id",
                &[&orders],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn on_sale(client: &impl GenericClient, lamp: Uuid, buyer_limit: Option<i32>) {
        client
            .execute(
                "UPDATE inventory SET flash_sale = true, buyer_limit = $2 WHERE product_id = $1",
                &[&lamp, &buyer_limit],
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_pass_reserves_for_the_first_comers_and_rejects_the_rest_at_once() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let lamp = product(&db.pool, 3, 2500).await;
        let client = db.pool.get().await.unwrap();
        on_sale(&client, lamp, None).await;
        assert!(
            crate::orders::read_stock(&client, &[lamp])
                .await
                .unwrap()
                .is_empty(),
            "placement never reads a flash-sale product as its own to lock"
        );
        assert_eq!(products_on_sale(&client, &[lamp]).await.unwrap().len(), 1);

        let mut queued = Vec::new();
        for quantity in [1, 2, 1, 1] {
            queued.push(queue_one(&client, buyer, lamp, quantity).await);
        }
        assert_eq!(
            stock(&db.pool, lamp).await,
            (3, 0, 0),
            "queueing holds nothing"
        );

        let (head, moved) = pass(&db.pool, lamp).await;
        assert_eq!((head.available, head.limit), (3, None));
        let order_ids: Vec<Uuid> = head.waiting.iter().map(|w| w.order.order_id).collect();
        assert_eq!(order_ids, queued, "arrival order");

        assert_eq!(moved, 4);
        assert_eq!(stock(&db.pool, lamp).await, (0, 3, 0));
        assert_eq!(
            statuses(&client, &queued).await,
            [
                "PENDING_PAYMENT",
                "PENDING_PAYMENT",
                "REJECTED_OUT_OF_STOCK",
                "REJECTED_OUT_OF_STOCK"
            ]
        );
        for (what, sql, expected) in [
            ("payments", "SELECT count(*) FROM payments", 2),
            (
                "events",
                "SELECT count(*) FROM outbox WHERE event_type <> 'order.queued'",
                3,
            ),
            (
                "history",
                "SELECT count(*) FROM order_status_history WHERE from_status = 'QUEUED'",
                4,
            ),
            ("queue", "SELECT count(*) FROM flash_sale_queue", 0),
        ] {
            let count: i64 = client.query_one(sql, &[]).await.unwrap().get(0);
            assert_eq!(count, expected, "{what}");
        }
        assert!(still_queued(&client, &queued).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_buyer_limit_counts_units_held_from_earlier_passes_and_only_live_orders() {
        let db = fresh_database().await;
        let (ann, bob) = (user(&db.pool).await, user(&db.pool).await);
        let lamp = product(&db.pool, 10, 2500).await;
        let client = db.pool.get().await.unwrap();
        on_sale(&client, lamp, Some(2)).await;
        assert_eq!(
            products_on_sale(&client, &[lamp]).await.unwrap()[0].buyer_limit,
            Some(2)
        );

        let first = [
            queue_one(&client, ann, lamp, 1).await,
            queue_one(&client, ann, lamp, 2).await,
            queue_one(&client, bob, lamp, 2).await,
        ];
        let (head, moved) = pass(&db.pool, lamp).await;
        assert_eq!((head.limit.map(|l| l.units), moved), (Some(2), 3));
        assert_eq!(
            statuses(&client, &first).await,
            ["PENDING_PAYMENT", "REJECTED_BUYER_LIMIT", "PENDING_PAYMENT"]
        );
        assert_eq!(
            held_by_buyers(&client, lamp, &[ann, bob]).await.unwrap(),
            HashMap::from([(ann, 1), (bob, 2)])
        );

        // Bob's order is cancelled: what it held no longer counts.
        client
            .execute(
                "UPDATE orders SET status = 'CANCELLED' WHERE id = $1",
                &[&first[2]],
            )
            .await
            .unwrap();
        let second = [
            queue_one(&client, ann, lamp, 2).await,
            queue_one(&client, ann, lamp, 1).await,
            queue_one(&client, bob, lamp, 2).await,
        ];
        pass(&db.pool, lamp).await;
        assert_eq!(
            statuses(&client, &second).await,
            ["REJECTED_BUYER_LIMIT", "PENDING_PAYMENT", "PENDING_PAYMENT"]
        );
        let reason: String = client
            .query_one(
                "SELECT reason FROM order_status_history WHERE order_id = $1 AND to_status = 'REJECTED_BUYER_LIMIT'",
                &[&second[0]],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(reason, "over the flash sale's limit per buyer");
        // Six units accepted over the two passes (the cancel above changed the status only).
        assert_eq!(stock(&db.pool, lamp).await, (4, 6, 0));
    }
}

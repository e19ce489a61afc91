//! Orders: placement (stock reserved in the same transaction), status transitions that release or sell
//! reserved units exactly once, and the reads.

use chrono::{DateTime, SubsecRound, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::orders::{OrderStatus, StockEffect};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StoreError;
use crate::idempotency::{self, Completion};
use crate::prepared;
use crate::transaction::Transaction;
use orderly_domain::orders::Order;
use orderly_domain::orders::OrderLine;
use orderly_domain::orders::StatusChange;

pub(crate) const COLUMNS: &str =
    "id, user_id, status, total_cents, currency, expires_at, version, created_at, updated_at";

/// The first statement of a placement, without a lock: what the service needs to check the basket and
/// build the order, its answer and its event (price, currency, name, SKU; the stock as it was a moment
/// ago; the transaction's time). Public so that `make bench` runs exactly this in its pgbench baseline.
/// `$1`: distinct product ids. A product in flash-sale mode is left out: its orders are queued
/// (`flash_sales`).
///
/// A placement's statements run with generic plans (`placement_not_begun`), planned once per connection
/// without knowing how many products `$1` holds; the planner then assumes ten, and over a catalogue of
/// a thousand products a join of ten looked cheaper as a scan of every product than as ten lookups.
/// So each product is looked up by key in a subquery of its own (`LATERAL … OFFSET 0`, which the
/// planner cannot turn into a join over whole tables), and the plan is the same for any catalogue.
pub const READ_STOCK: &str = "SELECT s.product_id, s.available, s.price_cents, s.currency, s.name, s.sku, now()
               FROM (SELECT product_id FROM unnest($1::uuid[]) AS u(product_id) ORDER BY product_id) l
              CROSS JOIN LATERAL (
                    SELECT i.product_id, i.available, p.price_cents, p.currency, p.name, p.sku
                      FROM inventory i JOIN products p ON p.id = i.product_id
                     WHERE i.product_id = l.product_id AND p.deleted_at IS NULL AND NOT i.flash_sale
                    OFFSET 0) s
              ORDER BY s.product_id";

/// The lines' stock rows locked in one order (no deadlocks between baskets), sent in one flight with
/// `PLACE` and the `COMMIT` (docs/adr/0024): no client turnaround while other orders wait on the rows.
/// Its answer is the stock under the lock, which explains a refusal. Public for the same reason as
/// `READ_STOCK`, which also says why it is written this way; rows are locked in the order the products
/// come out of `l`, the product-id order. `$1`: distinct product ids.
pub const LOCK_STOCK: &str = "SELECT s.product_id, s.available
               FROM (SELECT product_id FROM unnest($1::uuid[]) AS u(product_id) ORDER BY product_id) l
              CROSS JOIN LATERAL (
                    SELECT i.product_id, i.available
                      FROM inventory i JOIN products p ON p.id = i.product_id
                     WHERE i.product_id = l.product_id AND p.deleted_at IS NULL AND NOT i.flash_sale
                       FOR UPDATE OF i) s
              ORDER BY s.product_id";

/// Sent right behind `LOCK_STOCK`: reserve every line, write the order, its items, its history, its
/// payment intent and its outbox event, in one statement, which fails (SQLSTATE `OR409`) unless every
/// line was reserved, so that the `COMMIT` sent behind it can only keep a whole order. A line is reserved
/// only where `LOCK_STOCK` would lock it: the product was read before the lock, and may have been deleted
/// or put on a flash sale since. That check is a subquery by key, not `EXISTS`: as a generic plan
/// (`READ_STOCK`) an `EXISTS` became a hash join over every product. Public for the same reason as
/// `READ_STOCK`.
/// `$1` order id, `$2` product ids, `$3` quantities, `$4` unit prices, `$5` user id, `$6` total,
/// `$7` currency, `$8` expiry, `$9` payment id, `$10` event id, `$11` event type, `$12` payload,
/// `$13` correlation id.
pub static PLACE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    String::from(
        "WITH lines AS (
             SELECT * FROM unnest($2::uuid[], $3::int[], $4::bigint[]) AS l(product_id, quantity, unit_price_cents)
         ),
         reserved AS (
             UPDATE inventory i
                SET available = i.available - l.quantity, reserved = i.reserved + l.quantity, updated_at = now()
               FROM lines l
              WHERE i.product_id = l.product_id AND i.available >= l.quantity AND NOT i.flash_sale
                AND (SELECT p.deleted_at IS NULL FROM products p WHERE p.id = i.product_id)
          RETURNING i.product_id
         ),
         placed AS (
             INSERT INTO orders (id, user_id, status, total_cents, currency, expires_at)
             VALUES ($1, $5, 'PENDING_PAYMENT', $6, $7, $8)
         ),
         items AS (
             INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
             SELECT $1, product_id, quantity, unit_price_cents FROM lines
         ),
         history AS (
             INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor_user_id)
             VALUES ($1, NULL, 'PENDING_PAYMENT', 'placed', $5)
         ),
         payment AS (
             INSERT INTO payments (id, order_id, amount_cents, currency, status) VALUES ($9, $1, $6, $7, 'PENDING')
         ),
         event AS (
             INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, correlation_id)
             VALUES ($10, 'order', $1, $11, $12, $13)
         )
         SELECT placement_reserved(cardinality($2::uuid[]), (SELECT count(*) FROM reserved))"
    )
});

/// The SQLSTATE of `PLACE` when a line could not be reserved (migration V22).
const NOT_RESERVED: &str = "OR409";

pub(crate) fn order(row: &Row) -> Order {
    Order {
        id: row.get("id"),
        user_id: row.get("user_id"),
        status: OrderStatus::parse(row.get("status"))
            .expect("the CHECK constraint allows known statuses only"),
        total_cents: row.get("total_cents"),
        currency: row.get::<_, String>("currency"),
        expires_at: row.get("expires_at"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The stock of one basket line as read for placement.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStock {
    pub product_id: Uuid,
    pub available: i32,
    pub price_cents: i64,
    pub currency: String,
    /// The product as an order line shows it: read before the lock, so a placement needs no query after
    /// its `PLACE` to answer with its lines.
    pub name: String,
    pub sku: String,
    /// The transaction's time (`now()`), which `PLACE` writes as the order's creation time.
    pub read_at: DateTime<Utc>,
}

/// A placement's transaction, its `BEGIN_PLACEMENT` to be sent with its first statements
/// (`Transaction::begin_along`, a round trip fewer per order than a `BEGIN` on its own). Its statements
/// run with generic plans: left to choose, Postgres planned them again for every order (custom plans:
/// 0.11–0.16 ms each, three per order, a third of Postgres's time per order), because a plan made for
/// "some products" looks dearer than one made for the one product of the basket at hand. The settings
/// end with the transaction.
pub fn placement_not_begun(client: deadpool_postgres::Object) -> Transaction {
    Transaction::not_begun(client, BEGIN_PLACEMENT)
}

/// How a placement's transaction begins, and so how its statements are planned: once per connection (generic plans), and by key (ADR
/// 0027). Every statement of a placement reaches its rows through a key; over a table its statistics
/// call tiny (a new shop with a handful of products) the planner prefers a scan, and a generic plan keeps
/// that choice while a hot product's row piles up versions that every scan then reads.
pub const BEGIN_PLACEMENT: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off";

/// Reads the stock rows of live products among `product_ids`, in product-id order, without locking
/// them. Missing or deleted products, and products in flash-sale mode, are absent.
pub async fn read_stock(
    db: &impl GenericClient,
    product_ids: &[Uuid],
) -> Result<Vec<LineStock>, StoreError> {
    // Every placement statement is prepared once per connection (docs/adr/0016).
    let read = db.prepare_cached(READ_STOCK).await?;
    let rows = db.query(&read, &[&product_ids]).await?;
    Ok(rows
        .iter()
        .map(|r| LineStock {
            product_id: r.get(0),
            available: r.get(1),
            price_cents: r.get(2),
            currency: r.get::<_, String>(3),
            name: r.get(4),
            sku: r.get(5),
            read_at: r.get(6),
        })
        .collect())
}

/// A domain event written in the business transaction and published by the outbox relay.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub event_type: &'static str,
    /// "order" or "job".
    pub aggregate_type: &'static str,
    pub aggregate_id: Uuid,
    pub payload: Value,
    pub correlation_id: Option<String>,
}

pub struct Placement<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    /// (product, quantity, unit price) in product-id order.
    pub lines: &'a [(Uuid, i32, i64)],
    pub total_cents: i64,
    pub currency: &'a str,
    pub expires_at: DateTime<Utc>,
    pub payment_id: Uuid,
    pub event: &'a OutboxEvent,
}

impl Placement<'_> {
    /// The order as `PLACE` writes it, in a transaction whose time is `at`: known before it runs, so the
    /// answer (and the idempotency key's copy of it) can be sent with it.
    pub fn order(&self, at: DateTime<Utc>) -> Order {
        Order {
            id: self.id,
            user_id: self.user_id,
            status: OrderStatus::PendingPayment,
            total_cents: self.total_cents,
            currency: self.currency.to_owned(),
            // As stored: Postgres keeps microseconds, and the driver drops what is finer.
            expires_at: self.expires_at.trunc_subsecs(6),
            version: 1,
            created_at: at,
            updated_at: at,
        }
    }
}

/// How a placement's flight ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// Committed: every line reserved, the whole order written.
    Committed,
    /// Nothing kept: a line could not be reserved. The stock as `LOCK_STOCK` found it, (product,
    /// available) in product-id order; a product missing from it was deleted or put on a flash sale
    /// after it was read.
    Refused(Vec<(Uuid, i32)>),
}

/// Locks the lines' stock rows, reserves every line and writes the order, its items, status history,
/// payment intent and outbox event, with `key`'s completion, and commits: all in one flight
/// (docs/adr/0024), so the stock rows are held only while Postgres runs the statements, never while the
/// client reads an answer.
pub async fn place_and_commit(
    tx: &Transaction,
    p: &Placement<'_>,
    key: Option<Completion<'_>>,
) -> Result<Placed, StoreError> {
    let db = tx.client();
    let products: Vec<Uuid> = p.lines.iter().map(|l| l.0).collect();
    let quantities: Vec<i32> = p.lines.iter().map(|l| l.1).collect();
    let prices: Vec<i64> = p.lines.iter().map(|l| l.2).collect();
    // Prepared first: a statement still to be prepared would be sent after the `COMMIT`.
    let lock = db.prepare_cached(LOCK_STOCK).await?;
    let place = db.prepare_cached(PLACE.as_str()).await?;
    let complete = match &key {
        Some(_) => Some(db.prepare_cached(idempotency::COMPLETE).await?),
        None => None,
    };
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 13] = [
        &p.id,
        &products,
        &quantities,
        &prices,
        &p.user_id,
        &p.total_cents,
        &p.currency,
        &p.expires_at,
        &p.payment_id,
        &p.event.id,
        &p.event.event_type,
        &p.event.payload,
        &p.event.correlation_id,
    ];
    let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&products];
    let locking = db.query(&lock, &lock_params);
    let placing = db.execute(&place, &params);
    let completing = async {
        if let (Some(statement), Some(key)) = (&complete, &key) {
            db.execute(statement, &key.params()).await?;
        }
        Ok::<_, tokio_postgres::Error>(())
    };
    // `join3` polls in order: the lock, then `PLACE`, then the completion are on the wire before the
    // `COMMIT`. A refused `PLACE` is kept as a value, not returned as the flight's error, because the
    // lock's answer explains it; after a refusal Postgres answers the `COMMIT` with a rollback.
    let last = async {
        let (locked, placed, completed) =
            futures::future::join3(locking, placing, completing).await;
        Ok::<_, StoreError>((locked, placed.and(completed)))
    };
    let (locked, outcome) = tx.commit_after(last).await?;
    let locked = locked?;
    match outcome {
        Ok(_) => Ok(Placed::Committed),
        Err(e) if e.code().is_some_and(|c| c.code() == NOT_RESERVED) => Ok(Placed::Refused(
            locked.iter().map(|r| (r.get(0), r.get(1))).collect(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Locks an order for a status change.
pub async fn lock(db: &impl GenericClient, id: Uuid) -> Result<Option<Order>, StoreError> {
    let row = prepared::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM orders WHERE id = $1 FOR UPDATE"),
        &[&id],
    )
    .await?;
    Ok(row.as_ref().map(order))
}

pub struct Transition<'a> {
    pub order_id: Uuid,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub reason: &'a str,
    pub actor_user_id: Option<Uuid>,
    pub event: &'a OutboxEvent,
}

/// Moves a locked order to its next status: applies the stock effect to every line (inventory rows
/// locked in product-id order first), records the history and the outbox event. The caller checked the
/// transition is legal while holding the order's lock, so the effect happens exactly once.
pub async fn transition(db: &impl GenericClient, t: &Transition<'_>) -> Result<Order, StoreError> {
    let effect = t.from.stock_effect(t.to);
    if effect != StockEffect::None {
        prepared::execute(
        db,
            "SELECT 1 FROM inventory WHERE product_id IN (SELECT product_id FROM order_items WHERE order_id = $1)
              ORDER BY product_id FOR UPDATE",
            &[&t.order_id],
        )
        .await?;
        let statement = match effect {
            StockEffect::Release => {
                "UPDATE inventory i SET available = i.available + oi.quantity, reserved = i.reserved - oi.quantity, updated_at = now()
                   FROM order_items oi WHERE oi.order_id = $1 AND i.product_id = oi.product_id"
            }
            StockEffect::Sell => {
                "UPDATE inventory i SET sold = i.sold + oi.quantity, reserved = i.reserved - oi.quantity, updated_at = now()
                   FROM order_items oi WHERE oi.order_id = $1 AND i.product_id = oi.product_id"
            }
            StockEffect::None => unreachable!(),
        };
        prepared::execute(db, statement, &[&t.order_id]).await?;
    }
    let row = prepared::query_one(
        db,
            &format!(
                "WITH changed AS (
                     UPDATE orders SET status = $2, version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}
                 ),
                 history AS (
                     INSERT INTO order_status_history (order_id, from_status, to_status, reason, actor_user_id)
                     VALUES ($1, $3, $2, $4, $5)
                 ),
                 event AS (
                     INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, correlation_id)
                     VALUES ($6, 'order', $1, $7, $8, $9)
                 )
                 SELECT * FROM changed"
            ),
            &[
                &t.order_id,
                &t.to.as_str(),
                &t.from.as_str(),
                &t.reason,
                &t.actor_user_id,
                &t.event.id,
                &t.event.event_type,
                &t.event.payload,
                &t.event.correlation_id,
            ],
        )
        .await?;
    Ok(order(&row))
}

/// Orders past their payment deadline, locked (skipping ones another worker holds).
pub async fn lock_expired(db: &impl GenericClient, limit: i64) -> Result<Vec<Order>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM orders WHERE status = 'PENDING_PAYMENT' AND expires_at < now()
                  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED"
            ),
            &[&limit],
        )
        .await?;
    Ok(rows.iter().map(order).collect())
}

pub async fn owner(db: &impl GenericClient, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    Ok(db
        .query_opt("SELECT user_id FROM orders WHERE id = $1", &[&id])
        .await?
        .map(|r| r.get(0)))
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<Order>, StoreError> {
    let row = prepared::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM orders WHERE id = $1"),
        &[&id],
    )
    .await?;
    Ok(row.as_ref().map(order))
}

pub async fn lines(db: &impl GenericClient, id: Uuid) -> Result<Vec<OrderLine>, StoreError> {
    let rows = db
        .query(
            "SELECT oi.product_id, p.name, p.sku, oi.quantity, oi.unit_price_cents
               FROM order_items oi JOIN products p ON p.id = oi.product_id
              WHERE oi.order_id = $1 ORDER BY oi.product_id",
            &[&id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let (quantity, unit): (i32, i64) = (r.get(3), r.get(4));
            OrderLine {
                product_id: r.get(0),
                name: r.get(1),
                sku: r.get(2),
                quantity,
                unit_price_cents: unit,
                line_total_cents: unit * i64::from(quantity),
            }
        })
        .collect())
}

pub async fn history(db: &impl GenericClient, id: Uuid) -> Result<Vec<StatusChange>, StoreError> {
    let rows = db
        .query(
            "SELECT from_status, to_status, reason, actor_user_id, changed_at FROM order_status_history
              WHERE order_id = $1 ORDER BY id",
            &[&id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| StatusChange {
            from_status: r
                .get::<_, Option<String>>(0)
                .as_deref()
                .and_then(OrderStatus::parse),
            to_status: OrderStatus::parse(r.get(1)).expect("a known status"),
            reason: r.get(2),
            actor_user_id: r.get(3),
            changed_at: r.get(4),
        })
        .collect())
}

pub struct OrderFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(db: &impl GenericClient, f: &OrderFilter) -> Result<Vec<Order>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM orders
                  WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)
                    AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
                    AND ($5::uuid IS NULL OR id < $5)
                  ORDER BY id DESC LIMIT $6"
            ),
            &[&f.user_id, &f.status.map(OrderStatus::as_str), &f.from, &f.to, &f.before, &f.limit],
        )
        .await?;
    Ok(rows.iter().map(order).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::Pool;
    use crate::testing::{TestDatabase, fresh_database, product, stock, user};

    fn event(order_id: Uuid, event_type: &'static str) -> OutboxEvent {
        OutboxEvent {
            id: Uuid::now_v7(),
            event_type,
            aggregate_type: "order",
            aggregate_id: order_id,
            payload: json!({"order_id": order_id}),
            correlation_id: None,
        }
    }

    /// Places an order for `lines` (product, quantity) the way the service does: read the stock, then
    /// lock, place and commit in one flight; rolls back when a line could not be reserved.
    async fn place_order(pool: &Pool, user_id: Uuid, lines: &[(Uuid, i32)]) -> Option<Order> {
        let tx = Transaction::begin_with(pool.get().await.unwrap(), BEGIN_PLACEMENT)
            .await
            .unwrap();
        let mut ids: Vec<Uuid> = lines.iter().map(|l| l.0).collect();
        ids.sort();
        let stock = read_stock(tx.client(), &ids).await.unwrap();
        if lines.iter().any(|(p, q)| {
            stock
                .iter()
                .find(|s| s.product_id == *p)
                .is_none_or(|s| s.available < *q)
        }) {
            return None;
        }
        let priced: Vec<(Uuid, i32, i64)> = lines
            .iter()
            .map(|(p, q)| {
                (
                    *p,
                    *q,
                    stock
                        .iter()
                        .find(|s| s.product_id == *p)
                        .unwrap()
                        .price_cents,
                )
            })
            .collect();
        // In the caller's order, not sorted: the lock in the same flight takes the rows in product-id
        // order whatever order `PLACE` names them in.
        let id = Uuid::now_v7();
        let placed_event = event(id, "order.placed");
        let placement = Placement {
            id,
            user_id,
            lines: &priced,
            total_cents: priced.iter().map(|(_, q, p)| i64::from(*q) * p).sum(),
            currency: "EUR",
            expires_at: Utc::now() + Duration::minutes(15),
            payment_id: Uuid::now_v7(),
            event: &placed_event,
        };
        let placed = place_and_commit(&tx, &placement, None).await.unwrap();
        (placed == Placed::Committed).then(|| placement.order(stock[0].read_at))
    }

    async fn count(db: &TestDatabase, sql: &str, order_id: Uuid) -> i64 {
        db.pool
            .get()
            .await
            .unwrap()
            .query_one(sql, &[&order_id])
            .await
            .unwrap()
            .get(0)
    }

    async fn move_to(db: &TestDatabase, order: &Order, to: OrderStatus) -> Order {
        let mut client = db.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let locked = lock(&tx, order.id).await.unwrap().unwrap();
        let changed = event(order.id, "order.changed");
        let moved = transition(
            &tx,
            &Transition {
                order_id: order.id,
                from: locked.status,
                to,
                reason: "test",
                actor_user_id: None,
                event: &changed,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        moved
    }

    #[tokio::test]
    async fn placement_reserves_every_line_and_writes_the_whole_order_at_once() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let (lamp, mug) = (
            product(&db.pool, 10, 4999).await,
            product(&db.pool, 5, 1500).await,
        );
        let order = place_order(&db.pool, buyer, &[(lamp, 3), (mug, 2)])
            .await
            .unwrap();
        assert_eq!(
            (order.status, order.total_cents),
            (OrderStatus::PendingPayment, 3 * 4999 + 2 * 1500)
        );
        assert_eq!(
            find(&db.pool.get().await.unwrap(), order.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&order),
            "the order as the service answers with it is the order as stored"
        );
        assert_eq!(stock(&db.pool, lamp).await, (7, 3, 0));
        assert_eq!(stock(&db.pool, mug).await, (3, 2, 0));
        for (what, sql) in [
            (
                "lines",
                "SELECT count(*) FROM order_items WHERE order_id = $1",
            ),
            (
                "history",
                "SELECT count(*) FROM order_status_history WHERE order_id = $1",
            ),
            (
                "payment",
                "SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'PENDING'",
            ),
            (
                "event",
                "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND published_at IS NULL",
            ),
        ] {
            let expected = if what == "lines" { 2 } else { 1 };
            assert_eq!(count(&db, sql, order.id).await, expected, "{what}");
        }
        assert_eq!(
            lines(&db.pool.get().await.unwrap(), order.id)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn a_line_the_statement_cannot_reserve_leaves_nothing_behind() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let (lamp, mug) = (
            product(&db.pool, 10, 4999).await,
            product(&db.pool, 1, 1500).await,
        );
        let tx = Transaction::begin_with(db.pool.get().await.unwrap(), BEGIN_PLACEMENT)
            .await
            .unwrap();
        let id = Uuid::now_v7();
        let placed_event = event(id, "order.placed");
        // The caller checked the stock, but the statement itself refuses the short line, and the
        // `COMMIT` sent behind it keeps nothing.
        let mut priced = vec![(lamp, 1, 4999), (mug, 2, 1500)];
        priced.sort();
        let placement = Placement {
            id,
            user_id: buyer,
            lines: &priced,
            total_cents: 7999,
            currency: "EUR",
            expires_at: Utc::now() + Duration::minutes(15),
            payment_id: Uuid::now_v7(),
            event: &placed_event,
        };
        let mut under_the_lock = vec![(lamp, 10), (mug, 1)];
        under_the_lock.sort();
        assert_eq!(
            place_and_commit(&tx, &placement, None).await.unwrap(),
            Placed::Refused(under_the_lock),
            "refused, with the stock as the lock found it"
        );
        assert_eq!(stock(&db.pool, lamp).await, (10, 0, 0));
        assert_eq!(stock(&db.pool, mug).await, (1, 0, 0));
        assert_eq!(
            count(&db, "SELECT count(*) FROM orders WHERE id = $1", id).await,
            0
        );
    }

    #[tokio::test]
    async fn a_product_deleted_or_put_on_sale_after_it_was_read_is_neither_locked_nor_reserved() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let (lamp, mug, cup) = (
            product(&db.pool, 10, 4999).await,
            product(&db.pool, 10, 1500).await,
            product(&db.pool, 10, 800).await,
        );
        let mut ids = vec![lamp, mug, cup];
        ids.sort();
        let tx = Transaction::begin_with(db.pool.get().await.unwrap(), BEGIN_PLACEMENT)
            .await
            .unwrap();
        let read = read_stock(tx.client(), &ids).await.unwrap();
        assert_eq!(read.len(), 3);
        // Between the read and the flight, an admin deletes the mug and puts the cup on a flash sale.
        let admin = db.pool.get().await.unwrap();
        admin
            .execute(
                "UPDATE products SET deleted_at = now() WHERE id = $1",
                &[&mug],
            )
            .await
            .unwrap();
        admin
            .execute(
                "UPDATE inventory SET flash_sale = true WHERE product_id = $1",
                &[&cup],
            )
            .await
            .unwrap();
        let priced: Vec<(Uuid, i32, i64)> = read
            .iter()
            .map(|s| (s.product_id, 1, s.price_cents))
            .collect();
        let id = Uuid::now_v7();
        let placed_event = event(id, "order.placed");
        let placement = Placement {
            id,
            user_id: buyer,
            lines: &priced,
            total_cents: 4999 + 1500 + 800,
            currency: "EUR",
            expires_at: Utc::now() + Duration::minutes(15),
            payment_id: Uuid::now_v7(),
            event: &placed_event,
        };
        assert_eq!(
            place_and_commit(&tx, &placement, None).await.unwrap(),
            Placed::Refused(vec![(lamp, 10)]),
            "only the lamp is still placeable"
        );
        for product in [lamp, mug, cup] {
            assert_eq!(
                stock(&db.pool, product).await,
                (10, 0, 0),
                "nothing reserved"
            );
        }
        assert_eq!(
            count(&db, "SELECT count(*) FROM orders WHERE id = $1", id).await,
            0
        );
    }

    #[tokio::test]
    async fn baskets_sharing_products_in_any_order_queue_and_never_deadlock() {
        let db = Arc::new(fresh_database().await);
        let buyer = user(&db.pool).await;
        let (lamp, mug) = (
            product(&db.pool, 1000, 4999).await,
            product(&db.pool, 1000, 1500).await,
        );
        let attempts = (0..40).map(|n| {
            let db = db.clone();
            let basket = if n % 2 == 0 {
                vec![(lamp, 1), (mug, 1)]
            } else {
                vec![(mug, 1), (lamp, 1)]
            };
            tokio::spawn(async move { place_order(&db.pool, buyer, &basket).await.is_some() })
        });
        let mut placed = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            placed += usize::from(attempt.await.unwrap());
        }
        assert_eq!(placed, 40, "every basket placed");
        assert_eq!(stock(&db.pool, lamp).await, (960, 40, 0));
        assert_eq!(stock(&db.pool, mug).await, (960, 40, 0));
    }

    #[tokio::test]
    async fn concurrent_placements_for_the_last_units_never_oversell() {
        let db = Arc::new(fresh_database().await);
        let buyer = user(&db.pool).await;
        let lamp = product(&db.pool, 5, 4999).await;
        let attempts = (0..30).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { place_order(&db.pool, buyer, &[(lamp, 1)]).await.is_some() })
        });
        let mut placed = 0;
        for attempt in attempts.collect::<Vec<_>>() {
            placed += usize::from(attempt.await.unwrap());
        }
        assert_eq!(placed, 5, "exactly the units there were");
        assert_eq!(stock(&db.pool, lamp).await, (0, 5, 0));
    }

    #[tokio::test]
    async fn a_sale_and_a_release_move_reserved_units_exactly_once() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let lamp = product(&db.pool, 10, 4999).await;
        let sold = place_order(&db.pool, buyer, &[(lamp, 3)]).await.unwrap();
        let released = place_order(&db.pool, buyer, &[(lamp, 2)]).await.unwrap();
        assert_eq!(stock(&db.pool, lamp).await, (5, 5, 0));

        let paid = move_to(&db, &sold, OrderStatus::Paid).await;
        assert_eq!(
            stock(&db.pool, lamp).await,
            (5, 5, 0),
            "paying moves no stock"
        );
        let fulfilled = move_to(&db, &paid, OrderStatus::Fulfilled).await;
        assert_eq!(fulfilled.version, sold.version + 2);
        assert_eq!(stock(&db.pool, lamp).await, (5, 2, 3), "fulfilment sells");
        move_to(&db, &released, OrderStatus::Cancelled).await;
        assert_eq!(
            stock(&db.pool, lamp).await,
            (7, 0, 3),
            "cancelling releases"
        );
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM order_status_history WHERE order_id = $1",
                sold.id
            )
            .await,
            3
        );
        let history = history(&db.pool.get().await.unwrap(), sold.id)
            .await
            .unwrap();
        let path: Vec<OrderStatus> = history.iter().map(|h| h.to_status).collect();
        assert_eq!(
            path,
            vec![
                OrderStatus::PendingPayment,
                OrderStatus::Paid,
                OrderStatus::Fulfilled
            ]
        );
    }

    #[tokio::test]
    async fn expired_orders_are_claimed_once_even_by_two_runs_at_once() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let lamp = product(&db.pool, 10, 4999).await;
        for _ in 0..2 {
            place_order(&db.pool, buyer, &[(lamp, 1)]).await.unwrap();
        }
        place_order(&db.pool, buyer, &[(lamp, 1)]).await.unwrap();
        db.pool
            .get()
            .await
            .unwrap()
            .execute(
                "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id IN (SELECT id FROM orders ORDER BY id LIMIT 2)",
                &[],
            )
            .await
            .unwrap();
        let mut first = db.pool.get().await.unwrap();
        let first = first.transaction().await.unwrap();
        let mut second = db.pool.get().await.unwrap();
        let second = second.transaction().await.unwrap();
        let a = lock_expired(&first, 1).await.unwrap();
        let b = lock_expired(&second, 10).await.unwrap();
        assert_eq!(
            (a.len(), b.len()),
            (1, 1),
            "each run skips what the other holds"
        );
        assert_ne!(a[0].id, b[0].id);
    }

    /// A catalogue of `products` live products with statistics, and one more (the lamp) to order.
    async fn catalogue(db: &TestDatabase, products: i32) -> Uuid {
        db.pool
            .get()
            .await
            .unwrap()
            .execute(
                "WITH m AS (INSERT INTO merchants (id, name) VALUES (gen_random_uuid(), 'Big shop') RETURNING id),
                      p AS (INSERT INTO products (id, merchant_id, sku, name, price_cents, currency)
                            SELECT gen_random_uuid(), m.id, 'SKU-' || n, 'Item ' || n, 100, 'EUR'
                              FROM m, generate_series(1, $1) AS n RETURNING id)
                 INSERT INTO inventory (product_id, available) SELECT id, 10 FROM p",
                &[&products],
            )
            .await
            .unwrap();
        let lamp = product(&db.pool, 10, 4999).await;
        db.pool
            .get()
            .await
            .unwrap()
            .batch_execute("VACUUM (ANALYZE) products, inventory")
            .await
            .unwrap();
        lamp
    }

    /// A placement's statements are prepared once per connection and run their generic plans: no
    /// planning per order.
    #[tokio::test]
    async fn a_placement_plans_its_statements_once_per_connection() {
        let db = fresh_database().await;
        let buyer = user(&db.pool).await;
        let lamp = catalogue(&db, 1000).await;
        // Three orders on one connection: each runs the statements' generic plans.
        let pool = crate::pool::connect(
            &db.url,
            crate::pool::PoolSettings {
                max_size: 1,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..3 {
            assert!(place_order(&pool, buyer, &[(lamp, 1)]).await.is_some());
        }
        let client = pool.get().await.unwrap();
        for statement in [READ_STOCK, LOCK_STOCK, PLACE.as_str()] {
            let row = client
                .query_one(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
                    &[&statement],
                )
                .await
                .unwrap();
            let (generic, custom): (i64, i64) = (row.get(0), row.get(1));
            assert_eq!(
                (generic, custom),
                (3, 0),
                "every order ran the generic plan, none was planned for itself:\n{statement}"
            );
        }
    }

    /// A generic plan is made without knowing how many products the basket holds, and kept for the
    /// connection's life: it must reach each product's rows by key, in a catalogue large enough for a
    /// scan to cost (written as joins or `EXISTS`, they became hash joins over every product) and in
    /// one so small that the planner prefers a scan, which on a hot product's table reads every dead
    /// version of its row.
    #[tokio::test]
    async fn a_placements_generic_plans_look_each_product_up_by_key_in_any_catalogue() {
        let statements = [
            ("read_stock", "uuid[]", READ_STOCK.to_owned(), "'{}'"),
            ("lock_stock", "uuid[]", LOCK_STOCK.to_owned(), "'{}'"),
            (
                "on_sale",
                "uuid[]",
                crate::flash_sales::PRODUCTS_ON_SALE.to_owned(),
                "'{}'",
            ),
            (
                "place",
                "uuid, uuid[], int[], bigint[], uuid, bigint, text, timestamptz, uuid, uuid, text, jsonb, text",
                PLACE.clone(),
                "gen_random_uuid(), '{}', '{}', '{}', gen_random_uuid(), 0, 'EUR', now(), gen_random_uuid(), \
                 gen_random_uuid(), 'order.placed', '{}', NULL",
            ),
        ];
        for products in [0, 1000] {
            let db = fresh_database().await;
            catalogue(&db, products).await;
            let client = db.pool.get().await.unwrap();
            client.batch_execute(BEGIN_PLACEMENT).await.unwrap();
            for (name, types, text, values) in &statements {
                client
                    .batch_execute(&format!("PREPARE {name} ({types}) AS {text}"))
                    .await
                    .unwrap();
                let plan: Vec<String> = client
                    .query(&format!("EXPLAIN EXECUTE {name} ({values})"), &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let plan = plan.join("\n");
                assert!(
                    !plan.contains("Seq Scan on products")
                        && !plan.contains("Seq Scan on inventory"),
                    "with {products} other products, {name}'s generic plan scans a whole table:\n{plan}"
                );
            }
            client.batch_execute("ROLLBACK").await.unwrap();
        }
    }
}

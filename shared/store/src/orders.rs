//! Orders: placement (stock reserved in the same transaction), status transitions that release or sell
//! reserved units exactly once, and the reads.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::orders::{OrderStatus, StockEffect};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::orders::Order;
use orderly_domain::orders::OrderLine;
use orderly_domain::orders::StatusChange;

const COLUMNS: &str =
    "id, user_id, status, total_cents, currency, expires_at, version, created_at, updated_at";

fn order(row: &Row) -> Order {
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

/// The stock of one basket line as locked for placement.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStock {
    pub product_id: Uuid,
    pub available: i32,
    pub price_cents: i64,
    pub currency: String,
}

/// Locks the stock rows of live products among `product_ids`, in product-id order (every writer locks in
/// that order, so concurrent orders queue instead of deadlocking). Missing or deleted products are absent.
pub async fn lock_stock(
    db: &impl GenericClient,
    product_ids: &[Uuid],
) -> Result<Vec<LineStock>, StoreError> {
    let rows = db
        .query(
            "SELECT i.product_id, i.available, p.price_cents, p.currency
               FROM inventory i JOIN products p ON p.id = i.product_id
              WHERE i.product_id = ANY($1) AND p.deleted_at IS NULL
              ORDER BY i.product_id
                FOR UPDATE OF i",
            &[&product_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LineStock {
            product_id: r.get(0),
            available: r.get(1),
            price_cents: r.get(2),
            currency: r.get::<_, String>(3),
        })
        .collect())
}

/// A domain event written in the business transaction and published after commit.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    pub event_type: &'static str,
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

/// Reserves every line and writes the order, its items, status history, payment intent and outbox
/// event in one statement. Run it in the transaction that locked the stock; `None` when a line could not
/// be reserved after all (the caller rolls back).
pub async fn place(
    db: &impl GenericClient,
    p: &Placement<'_>,
) -> Result<Option<Order>, StoreError> {
    let products: Vec<Uuid> = p.lines.iter().map(|l| l.0).collect();
    let quantities: Vec<i32> = p.lines.iter().map(|l| l.1).collect();
    let prices: Vec<i64> = p.lines.iter().map(|l| l.2).collect();
    let row = db
        .query_one(
            &format!(
                "WITH lines AS (
                     SELECT * FROM unnest($2::uuid[], $3::int[], $4::bigint[]) AS l(product_id, quantity, unit_price_cents)
                 ),
                 reserved AS (
                     UPDATE inventory i
                        SET available = i.available - l.quantity, reserved = i.reserved + l.quantity, updated_at = now()
                       FROM lines l
                      WHERE i.product_id = l.product_id AND i.available >= l.quantity
                  RETURNING i.product_id
                 ),
                 placed AS (
                     INSERT INTO orders (id, user_id, status, total_cents, currency, expires_at)
                     VALUES ($1, $5, 'PENDING_PAYMENT', $6, $7, $8)
                     RETURNING {COLUMNS}
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
                 SELECT placed.*, (SELECT count(*) FROM reserved) AS reserved_lines FROM placed"
            ),
            &[
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
            ],
        )
        .await?;
    let reserved: i64 = row.get("reserved_lines");
    Ok((reserved == p.lines.len() as i64).then(|| order(&row)))
}

/// Locks an order for a status change.
pub async fn lock(db: &impl GenericClient, id: Uuid) -> Result<Option<Order>, StoreError> {
    let row = db
        .query_opt(
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
        db.execute(
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
        db.execute(statement, &[&t.order_id]).await?;
    }
    let row = db
        .query_one(
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
    let row = db
        .query_opt(
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

//! Payments: one row per order; its id is the provider's idempotency key.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use orderly_domain::payments::{Payment, PaymentStatus};
use uuid::Uuid;

use crate::StoreError;

fn payment(r: &tokio_postgres::Row) -> Payment {
    Payment {
        id: r.get(0),
        order_id: r.get(1),
        amount_cents: r.get(2),
        currency: r.get::<_, String>(3),
        status: PaymentStatus::parse(r.get(4))
            .expect("the CHECK constraint admits only known statuses"),
        provider_reference: r.get(5),
        attempts: r.get(6),
    }
}

const COLUMNS: &str = "id, order_id, amount_cents, currency, status, provider_reference, attempts";

/// Locks the order's payment.
pub async fn lock_for_order(
    db: &impl GenericClient,
    order_id: Uuid,
) -> Result<Option<Payment>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1 FOR UPDATE"),
            &[&order_id],
        )
        .await?;
    Ok(row.as_ref().map(payment))
}

pub async fn find_for_order(
    db: &impl GenericClient,
    order_id: Uuid,
) -> Result<Option<Payment>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1"),
            &[&order_id],
        )
        .await?;
    Ok(row.as_ref().map(payment))
}

pub async fn count_attempt(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute(
        "UPDATE payments SET attempts = attempts + 1, updated_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn capture(db: &impl GenericClient, id: Uuid, reference: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE payments SET status = 'CAPTURED', provider_reference = $2, captured_at = now(), updated_at = now() WHERE id = $1",
        &[&id, &reference],
    )
    .await?;
    Ok(())
}

pub async fn decline(db: &impl GenericClient, id: Uuid, reason: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE payments SET status = 'DECLINED', failure_reason = $2, updated_at = now() WHERE id = $1",
        &[&id, &reason],
    )
    .await?;
    Ok(())
}

pub async fn refund(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute("UPDATE payments SET status = 'REFUNDED', updated_at = now() WHERE id = $1 AND status = 'CAPTURED'", &[&id]).await?;
    Ok(())
}

/// Payments charged at least once and still pending, last looked at more than `idle` ago, oldest first:
/// what reconciliation asks the provider about.
pub async fn pending_idle(
    db: &impl GenericClient,
    idle: Duration,
    limit: i64,
) -> Result<Vec<Payment>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM payments
                  WHERE status = 'PENDING' AND attempts > 0 AND updated_at < now() - make_interval(secs => $1)
                  ORDER BY updated_at LIMIT $2"
            ),
            &[&idle.as_secs_f64(), &limit],
        )
        .await?;
    Ok(rows.iter().map(payment).collect())
}

/// Records that a pending payment was looked at, so the next reconciliation asks about others first.
pub async fn touch(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute(
        "UPDATE payments SET updated_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

//! Payments: one row per order; its id is the provider's idempotency key.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use orderly_domain::payments::{Payment, PaymentStatus};
use uuid::Uuid;

use crate::StoreError;
use crate::prepared;

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
    let row = prepared::query_opt(
        db,
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
    let row = prepared::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1"),
        &[&order_id],
    )
    .await?;
    Ok(row.as_ref().map(payment))
}

pub async fn count_attempt(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "UPDATE payments SET attempts = attempts + 1, updated_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

pub async fn capture(db: &impl GenericClient, id: Uuid, reference: &str) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "UPDATE payments SET status = 'CAPTURED', provider_reference = $2, captured_at = now(), updated_at = now() WHERE id = $1",
        &[&id, &reference],
    )
    .await?;
    Ok(())
}

pub async fn decline(db: &impl GenericClient, id: Uuid, reason: &str) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "UPDATE payments SET status = 'DECLINED', failure_reason = $2, updated_at = now() WHERE id = $1",
        &[&id, &reason],
    )
    .await?;
    Ok(())
}

/// Marks a captured payment refunded and, in the same statement, writes the ledger's refund rows: the
/// negative of each capture row, with no fee (a refund returns the money, not the fee).
pub async fn refund(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute(
        "WITH refunded AS (
             UPDATE payments SET status = 'REFUNDED', updated_at = now()
              WHERE id = $1 AND status = 'CAPTURED'
             RETURNING id
         )
         INSERT INTO merchant_transactions
                (merchant_id, payment_id, order_id, kind, gross_cents, fee_cents, currency)
         SELECT t.merchant_id, t.payment_id, t.order_id, 'REFUND', -t.gross_cents, 0, t.currency
           FROM merchant_transactions t JOIN refunded r ON r.id = t.payment_id
          WHERE t.kind = 'CAPTURE'
         ON CONFLICT (payment_id, merchant_id, kind) DO NOTHING",
        &[&id],
    )
    .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fresh_database, product, user};

    /// An order with its pending payment, made directly; returns (order, payment).
    async fn pending(db: &crate::testing::TestDatabase) -> (Uuid, Uuid) {
        let buyer = user(&db.pool).await;
        let _ = product(&db.pool, 1, 100).await;
        let (order, payment) = (Uuid::now_v7(), Uuid::now_v7());
        let client = db.pool.get().await.unwrap();
        client
            .execute(
                "INSERT INTO orders (id, user_id, status, total_cents, currency, expires_at)
                 VALUES ($1, $2, 'PENDING_PAYMENT', 100, 'EUR', now() + interval '15 minutes')",
                &[&order, &buyer],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO payments (id, order_id, amount_cents, currency, status) VALUES ($1, $2, 100, 'EUR', 'PENDING')",
                &[&payment, &order],
            )
            .await
            .unwrap();
        (order, payment)
    }

    #[tokio::test]
    async fn a_payment_is_captured_then_refunded_and_never_refunded_unless_captured() {
        let db = fresh_database().await;
        let (order, payment) = pending(&db).await;
        let client = db.pool.get().await.unwrap();
        refund(&client, payment).await.unwrap();
        let status = |client| async move { find_for_order(client, order).await.unwrap().unwrap() };
        assert_eq!(
            status(&client).await.status,
            PaymentStatus::Pending,
            "nothing to refund"
        );
        count_attempt(&client, payment).await.unwrap();
        capture(&client, payment, "ch_1").await.unwrap();
        let captured = status(&client).await;
        assert_eq!(
            (
                captured.status,
                captured.provider_reference.as_deref(),
                captured.attempts
            ),
            (PaymentStatus::Captured, Some("ch_1"), 1)
        );
        refund(&client, payment).await.unwrap();
        assert_eq!(status(&client).await.status, PaymentStatus::Refunded);
    }

    #[tokio::test]
    async fn reconciliation_asks_about_charged_pending_payments_left_alone_long_enough() {
        let db = fresh_database().await;
        let (_, never_charged) = pending(&db).await;
        let (_, fresh) = pending(&db).await;
        let (_, idle) = pending(&db).await;
        let (_, declined) = pending(&db).await;
        let client = db.pool.get().await.unwrap();
        for id in [fresh, idle, declined] {
            count_attempt(&client, id).await.unwrap();
        }
        decline(&client, declined, "card_declined").await.unwrap();
        client
            .execute(
                "UPDATE payments SET updated_at = now() - interval '10 minutes' WHERE id = ANY($1)",
                &[&vec![never_charged, idle, declined]],
            )
            .await
            .unwrap();
        let due = pending_idle(&client, Duration::from_secs(60), 10)
            .await
            .unwrap();
        assert_eq!(due.iter().map(|p| p.id).collect::<Vec<_>>(), vec![idle]);
        touch(&client, idle).await.unwrap();
        assert!(
            pending_idle(&client, Duration::from_secs(60), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

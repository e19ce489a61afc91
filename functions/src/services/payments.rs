//! Settling an order's payment. The provider is called outside any transaction, with the payment id as
//! its idempotency key, so a redelivered or concurrent message never charges twice; the outcome is then
//! recorded only if the payment is still pending. A capture that arrives after the order was cancelled
//! or expired is refunded (compensation).

use orderly_domain::orders::OrderStatus;
use orderly_domain::payments::PaymentStatus;
use orderly_store::{orders, payments};
use uuid::Uuid;

use super::db;
use super::orders::{apply_transition, publish};
use super::payment_provider::{ChargeOutcome, PaymentProvider};
use crate::State;

#[derive(Debug, PartialEq, Eq)]
pub enum Settlement {
    Paid,
    Declined,
    Pending,
    Refunded,
    /// Nothing to do: already settled, or the order is no longer payable.
    Skipped,
}

fn failed(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn settle(
    state: &State,
    provider: &impl PaymentProvider,
    order_id: Uuid,
    correlation_id: Option<String>,
) -> Result<Settlement, String> {
    let payment = {
        let mut client = state.db.get().await.map_err(failed)?;
        let tx = client.transaction().await.map_err(failed)?;
        let Some(payment) = payments::lock_for_order(&tx, order_id)
            .await
            .map_err(failed)?
        else {
            return Ok(Settlement::Skipped);
        };
        let payable = orders::find(&tx, order_id)
            .await
            .map_err(failed)?
            .is_some_and(|o| o.status == OrderStatus::PendingPayment);
        if payment.status != PaymentStatus::Pending || !payable {
            return Ok(Settlement::Skipped);
        }
        payments::count_attempt(&tx, payment.id)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        payment
    };

    let outcome = provider
        .charge(
            payment.id,
            payment.amount_cents,
            &payment.currency,
            order_id,
        )
        .await
        .map_err(failed)?;
    let mut client = state.db.get().await.map_err(failed)?;
    let tx = client.transaction().await.map_err(failed)?;
    let current = payments::lock_for_order(&tx, order_id)
        .await
        .map_err(failed)?
        .ok_or("the payment vanished")?;
    if current.status != PaymentStatus::Pending {
        return Ok(Settlement::Skipped);
    }
    let order = orders::lock(&tx, order_id)
        .await
        .map_err(failed)?
        .ok_or("the order vanished")?;
    let still_payable = order.status == OrderStatus::PendingPayment;
    let (settlement, event) = match outcome {
        ChargeOutcome::Pending => return Ok(Settlement::Pending),
        ChargeOutcome::Captured { reference } => {
            payments::capture(&tx, payment.id, &reference)
                .await
                .map_err(failed)?;
            if still_payable {
                let (_, event) = apply_transition(
                    &tx,
                    &order,
                    OrderStatus::Paid,
                    "payment captured",
                    None,
                    correlation_id,
                )
                .await
                .map_err(failed)?;
                (Settlement::Paid, Some(event))
            } else {
                tx.commit().await.map_err(failed)?;
                drop(client);
                // Cancelled or expired while the charge was in flight: give the money back.
                provider
                    .refund(payment.id, &reference)
                    .await
                    .map_err(failed)?;
                let client = state.db.get().await.map_err(db).map_err(failed)?;
                payments::refund(&client, payment.id)
                    .await
                    .map_err(failed)?;
                tracing::info!(%order_id, "captured after the order left PENDING_PAYMENT; refunded");
                return Ok(Settlement::Refunded);
            }
        }
        ChargeOutcome::Declined { reason } => {
            payments::decline(&tx, payment.id, &reason)
                .await
                .map_err(failed)?;
            let event = if still_payable {
                let (_, event) = apply_transition(
                    &tx,
                    &order,
                    OrderStatus::PaymentFailed,
                    &reason,
                    None,
                    correlation_id,
                )
                .await
                .map_err(failed)?;
                Some(event)
            } else {
                None
            };
            (Settlement::Declined, event)
        }
    };
    tx.commit().await.map_err(failed)?;
    drop(client);
    publish(state, event.into_iter().collect()).await;
    Ok(settlement)
}

/// Compensation for a cancelled order: refunds its payment if it was captured (idempotent: the refund's
/// key is the payment's, and a refunded payment is left alone).
pub async fn refund_cancelled(
    state: &State,
    provider: &impl PaymentProvider,
    order_id: Uuid,
) -> Result<Settlement, String> {
    let (payment, reference) = {
        let client = state.db.get().await.map_err(failed)?;
        let Some(order) = orders::find(&client, order_id).await.map_err(failed)? else {
            return Ok(Settlement::Skipped);
        };
        let payment = payments::find_for_order(&client, order_id)
            .await
            .map_err(failed)?;
        match payment {
            Some(p)
                if order.status == OrderStatus::Cancelled
                    && p.status == PaymentStatus::Captured =>
            {
                let reference = p.provider_reference.clone().unwrap_or_default();
                (p, reference)
            }
            _ => return Ok(Settlement::Skipped),
        }
    };
    provider
        .refund(payment.id, &reference)
        .await
        .map_err(failed)?;
    let client = state.db.get().await.map_err(failed)?;
    payments::refund(&client, payment.id)
        .await
        .map_err(failed)?;
    tracing::info!(%order_id, "cancelled after payment; refunded");
    Ok(Settlement::Refunded)
}

//! Settling an order's payment. The provider is called outside any transaction, with the payment id as
//! its idempotency key, so a redelivered or concurrent message never charges twice; the outcome is then
//! recorded only if the payment is still pending. A capture that arrives after the order was cancelled
//! or expired is refunded (compensation). Charges the provider leaves pending (asynchronous payment
//! methods) are reconciled on a schedule.

use std::time::Duration;

use orderly_domain::orders::OrderStatus;
use orderly_domain::payments::{Payment, PaymentStatus};
use orderly_store::{orders, payments};
use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
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

/// Charges an order's payment once and records what the provider answered.
pub async fn settle(
    state: &State,
    provider: &impl PaymentProvider,
    order_id: Uuid,
    correlation_id: Option<String>,
) -> Result<Settlement, ServiceError> {
    let payment = {
        let mut client = state.db.get().await?;
        let tx = client.transaction().await?;
        let Some(payment) = payments::lock_for_order(&tx, order_id).await? else {
            return Ok(Settlement::Skipped);
        };
        let payable = orders::find(&tx, order_id)
            .await?
            .is_some_and(|o| o.status == OrderStatus::PendingPayment);
        if payment.status != PaymentStatus::Pending || !payable {
            return Ok(Settlement::Skipped);
        }
        payments::count_attempt(&tx, payment.id).await?;
        tx.commit().await?;
        payment
    };
    let outcome = provider
        .charge(
            payment.id,
            payment.amount_cents,
            &payment.currency,
            order_id,
        )
        .await?;
    record(state, provider, &payment, outcome, correlation_id).await
}

/// Records a charge's outcome if the payment is still pending: a capture pays the order (or, if the
/// order left PENDING_PAYMENT meanwhile, is refunded), a decline fails it.
async fn record(
    state: &State,
    provider: &impl PaymentProvider,
    payment: &Payment,
    outcome: ChargeOutcome,
    correlation_id: Option<String>,
) -> Result<Settlement, ServiceError> {
    let order_id = payment.order_id;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let current = payments::lock_for_order(&tx, order_id)
        .await?
        .ok_or_else(|| ServiceError::internal("the payment vanished"))?;
    if current.status != PaymentStatus::Pending {
        return Ok(Settlement::Skipped);
    }
    let order = orders::lock(&tx, order_id)
        .await?
        .ok_or_else(|| ServiceError::internal("the order vanished"))?;
    let still_payable = order.status == OrderStatus::PendingPayment;
    let (settlement, event) = match outcome {
        ChargeOutcome::Pending => return Ok(Settlement::Pending),
        ChargeOutcome::Captured { reference } => {
            payments::capture(&tx, payment.id, &reference).await?;
            if !still_payable {
                tx.commit().await?;
                drop(client);
                // Cancelled or expired while the charge was in flight: give the money back.
                provider.refund(payment.id, &reference).await?;
                payments::refund(&state.db.get().await?, payment.id).await?;
                tracing::info!(%order_id, "captured after the order left PENDING_PAYMENT; refunded");
                return Ok(Settlement::Refunded);
            }
            let (_, event) = apply_transition(
                &tx,
                &order,
                OrderStatus::Paid,
                "payment captured",
                None,
                correlation_id,
            )
            .await?;
            (Settlement::Paid, Some(event))
        }
        ChargeOutcome::Declined { reason } => {
            payments::decline(&tx, payment.id, &reason).await?;
            let event = if still_payable {
                let (_, event) = apply_transition(
                    &tx,
                    &order,
                    OrderStatus::PaymentFailed,
                    &reason,
                    None,
                    correlation_id,
                )
                .await?;
                Some(event)
            } else {
                None
            };
            (Settlement::Declined, event)
        }
    };
    tx.commit().await?;
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
) -> Result<Settlement, ServiceError> {
    let (payment, reference) = {
        let client = state.db.get().await?;
        let Some(order) = orders::find(&client, order_id).await? else {
            return Ok(Settlement::Skipped);
        };
        match payments::find_for_order(&client, order_id).await? {
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
    provider.refund(payment.id, &reference).await?;
    payments::refund(&state.db.get().await?, payment.id).await?;
    tracing::info!(%order_id, "cancelled after payment; refunded");
    Ok(Settlement::Refunded)
}

/// A pending charge is asked about again once it has been left alone this long.
pub const RECONCILE_AFTER: Duration = Duration::from_secs(60);
const RECONCILE_BATCH: i64 = 100;

/// What one reconciliation run did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub checked: usize,
    pub paid: usize,
    pub declined: usize,
    pub refunded: usize,
    pub still_pending: usize,
    /// The provider had no charge for the payment (the first call never reached it): charged now.
    pub charged_again: usize,
}

/// Asks the provider about charges it left pending and records how they settled: a capture pays the
/// order (or is refunded if the order expired or was cancelled meanwhile), a decline fails it.
pub async fn reconcile(
    state: &State,
    provider: &impl PaymentProvider,
) -> Result<Reconciliation, ServiceError> {
    let pending =
        payments::pending_idle(&state.db.get().await?, RECONCILE_AFTER, RECONCILE_BATCH).await?;
    let mut run = Reconciliation::default();
    for payment in &pending {
        run.checked += 1;
        let settlement = match provider.charge_status(payment.id).await? {
            Some(outcome) => record(state, provider, payment, outcome, None).await?,
            None => {
                run.charged_again += 1;
                settle(state, provider, payment.order_id, None).await?
            }
        };
        match settlement {
            Settlement::Paid => run.paid += 1,
            Settlement::Declined => run.declined += 1,
            Settlement::Refunded => run.refunded += 1,
            Settlement::Pending => {
                // Ask about the others first next time.
                payments::touch(&state.db.get().await?, payment.id).await?;
                run.still_pending += 1;
            }
            Settlement::Skipped => {}
        }
    }
    Ok(run)
}

//! Queue `PaymentsQueue` (`order.placed`, `order.cancelled`): charges placed orders and refunds cancelled
//! ones that were paid. A provider outage fails the message, which is retried and, after
//! `maxReceiveCount`, dead-lettered (an alarm watches that DLQ).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;

use super::each_event;
use crate::State;
use crate::services::ServiceError;
use crate::services::payments::{self, Settlement};

/// What this worker acts on: its queue's subscription filter is exactly these (a test holds the template
/// to it).
pub const HANDLES: &[&str] = &[Event::ORDER_PLACED, Event::ORDER_CANCELLED];

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("payment", batch, |envelope| async move {
        let provider = state
            .payments
            .as_ref()
            .ok_or_else(|| ServiceError::internal("PAYMENT_PROVIDER_URL is not configured"))?;
        let outcome = match &envelope.event {
            Event::OrderPlaced(placed) => {
                payments::settle(state, provider, placed.order_id, envelope.correlation_id.clone())
                    .await?
            }
            Event::OrderCancelled(cancelled) => {
                payments::refund_cancelled(state, provider, cancelled.order_id).await?
            }
            Event::OrderPaid(_)
            | Event::OrderFulfilled(_)
            | Event::OrderCompleted(_)
            | Event::OrderPaymentFailed(_)
            | Event::OrderExpired(_)
            | Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrderQueued(_)
            | Event::OrdersRejected(_) => Settlement::Skipped,
        };
        tracing::info!(event_id = %envelope.event_id, event_type = envelope.event.event_type(), ?outcome, "payment");
        Ok(())
    })
    .await
}

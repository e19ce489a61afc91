//! Queue `PaymentsQueue` (`order.placed`, `order.cancelled`): charges placed orders and refunds cancelled
//! ones that were paid. A provider outage fails the message, which is retried and, after
//! `maxReceiveCount`, dead-lettered (an alarm watches that DLQ).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use super::each_event;
use crate::{State, services::payments};

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("payment", batch, |event| async move {
        let provider = state.payments.as_ref().ok_or("PAYMENT_PROVIDER_URL is not configured")?;
        let order_id = event.data_id("order_id").ok_or("the event names no order_id")?;
        let outcome = match event.event_type.as_str() {
            "order.cancelled" => payments::refund_cancelled(state, provider, order_id).await?,
            _ => payments::settle(state, provider, order_id, event.correlation_id.clone()).await?,
        };
        tracing::info!(%order_id, event_id = %event.event_id, event_type = %event.event_type, ?outcome, "payment");
        Ok(())
    })
    .await
}

//! Queue `FulfillmentQueue` (`order.paid`): reserved units become sold; the order completes.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;

use super::each_event;
use crate::{State, services::fulfillment};

/// What this worker acts on: its queue's subscription filter is exactly these.
pub const HANDLES: &[&str] = &[Event::ORDER_PAID];

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("fulfillment", batch, |envelope| async move {
        match &envelope.event {
            Event::OrderPaid(paid) => {
                let fulfilled =
                    fulfillment::fulfil(state, paid.order_id, envelope.correlation_id.clone())
                        .await?;
                tracing::info!(order_id = %paid.order_id, fulfilled, "fulfilment");
            }
            Event::OrderPlaced(_)
            | Event::OrderFulfilled(_)
            | Event::OrderCompleted(_)
            | Event::OrderPaymentFailed(_)
            | Event::OrderCancelled(_)
            | Event::OrderExpired(_)
            | Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrderQueued(_)
            | Event::OrdersRejected(_) => {}
        }
        Ok(())
    })
    .await
}

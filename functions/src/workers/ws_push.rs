//! Queue `WsPushQueue` (every event type but `order.queued` and `group.broadcast`): pushes each event to
//! the WebSocket connections it concerns, and the stock of the products it changed to their followers.
//! A push that fails for a reason other than a gone client fails the message, which is retried.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use orderly_domain::events::Event;

use super::each_event_after;
use crate::State;
use crate::services::live_updates::{self, BatchAudience};

/// Every event type but `order.queued` and `group.broadcast`: a queued order's status is the answer to its
/// own request, and a flash-sale burst would otherwise put one message per buyer on this queue; a
/// broadcast reaches its members through the `notification.sent` of each of its pages, so its own
/// messages (one per page, and one before the cut) would only be received and deleted here. Its queue's
/// subscription names exactly these.
pub const HANDLES: &[&str] = &[
    Event::ORDER_PLACED,
    Event::ORDER_PAID,
    Event::ORDER_FULFILLED,
    Event::ORDER_COMPLETED,
    Event::ORDER_PAYMENT_FAILED,
    Event::ORDER_CANCELLED,
    Event::ORDER_EXPIRED,
    Event::JOB_REQUESTED,
    Event::JOB_PROGRESS,
    Event::NOTIFICATION_SENT,
    Event::CONNECTION_RESUMED,
    Event::INVENTORY_CHANGED,
    Event::ORDERS_REJECTED,
];

/// Who the batch's events reach is looked up once for the batch (`BatchAudience`), then each event is
/// pushed on its own: one failed push brings back only its own message.
pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event_after(
        "ws-push",
        batch,
        |events| Box::pin(async move { Ok(BatchAudience::of(&state.db, events).await?) }),
        |event, audience| async move {
            let delivery =
                live_updates::deliver(&state.db, &state.connections, &event, &audience).await?;
            let stock = live_updates::push_stock(state, &event, &audience).await?;
            let (pushed, gone) = (delivery.pushed + stock.pushed, delivery.gone + stock.gone);
            let event_type = event.event.event_type();
            tracing::info!(event_id = %event.event_id, event_type, pushed, gone, "event pushed");
            Ok(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_but_a_queued_order_and_a_broadcast_page_is_pushed() {
        let skipped: Vec<&str> = Event::TYPES
            .into_iter()
            .filter(|t| !HANDLES.contains(t))
            .collect();
        assert_eq!(skipped, [Event::ORDER_QUEUED, Event::GROUP_BROADCAST]);
    }
}

//! Queue `NotificationsQueue` (`order.completed`, `order.payment_failed`, `order.cancelled`,
//! `orders.rejected`, `group.broadcast`): one notification per order event, sent through the log
//! notifier, one per buyer a flash-sale pass rejected, and the pages of a group broadcast.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;

use super::each_event;
use crate::State;
use crate::services::groups;
use crate::services::notifications::{self, LogNotifier};

/// What this worker acts on: its queue's subscription filter is exactly these.
pub const HANDLES: &[&str] = &[
    Event::ORDER_COMPLETED,
    Event::ORDER_PAYMENT_FAILED,
    Event::ORDER_CANCELLED,
    Event::ORDERS_REJECTED,
    Event::GROUP_BROADCAST,
];

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    // The pages of a broadcast in one batch are stored one after another, in the order received: each
    // page's push starts as soon as it commits, instead of every page of the batch contending for the
    // same index pages and committing together at the end. Pages in other batches run in parallel.
    let one_page_at_a_time = tokio::sync::Mutex::new(());
    let pages = &one_page_at_a_time;
    each_event("notification", batch, |envelope| async move {
        match &envelope.event {
            Event::OrderCompleted(_) | Event::OrderPaymentFailed(_) | Event::OrderCancelled(_) => {
                notifications::notify(state, &LogNotifier, &envelope)
                    .await
                    .map(drop)
            }
            Event::OrdersRejected(rejected) => {
                notifications::notify_rejected(state, &LogNotifier, &envelope, rejected)
                    .await
                    .map(drop)
            }
            Event::GroupBroadcast(page) => {
                let _turn = pages.lock().await;
                groups::fan_out(state, page).await.map(drop)
            }
            Event::OrderPlaced(_)
            | Event::OrderPaid(_)
            | Event::OrderFulfilled(_)
            | Event::OrderExpired(_)
            | Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::OrderQueued(_) => Ok(()),
        }
    })
    .await
}

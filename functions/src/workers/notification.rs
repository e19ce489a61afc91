//! Queue `NotificationsQueue` (`order.completed`, `order.payment_failed`, `order.cancelled`): one
//! notification per event, sent through the log notifier.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use super::each_event;
use crate::State;
use crate::services::notifications::{self, LogNotifier};

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("notification", batch, |event| async move {
        notifications::notify(state, &LogNotifier, &event)
            .await
            .map(drop)
    })
    .await
}

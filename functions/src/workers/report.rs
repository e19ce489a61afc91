//! Queue `ReportingQueue` (`order.completed`, `order.cancelled`): keeps the daily rollups current.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use orderly_domain::events::Event;

use super::each_event;
use crate::{State, services::reports};

/// What this worker acts on: its queue's subscription filter is exactly these.
pub const HANDLES: &[&str] = &[Event::ORDER_COMPLETED, Event::ORDER_CANCELLED];

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("report", batch, |event| async move {
        reports::record(state, &event).await.map(drop)
    })
    .await
}

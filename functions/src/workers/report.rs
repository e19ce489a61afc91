//! Queue `ReportingQueue` (`order.completed`, `order.cancelled`): keeps the daily rollups current, a
//! batch in one transaction.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use orderly_domain::events::Event;

use super::whole_batch;
use crate::{State, services::reports};

/// What this worker acts on: its queue's subscription filter is exactly these.
pub const HANDLES: &[&str] = &[Event::ORDER_COMPLETED, Event::ORDER_CANCELLED];

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    whole_batch("report", batch, |events| async move {
        reports::record(state, &events).await.map(drop)
    })
    .await
}

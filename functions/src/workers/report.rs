//! Queue `ReportingQueue` (`order.completed`, `order.cancelled`): keeps the daily rollups current.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use super::each_event;
use crate::{State, services::reports};

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("report", batch, |event| async move {
        reports::record(state, &event).await.map(drop)
    })
    .await
}

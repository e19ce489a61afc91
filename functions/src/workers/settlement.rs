//! Queue `SettlementQueue` (`job.requested`): runs the job each message names (a settlement or a
//! report export). A message for
//! a finished job, or one another run holds, is acknowledged and dropped; the holder's own message
//! comes back if that run dies.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;

use super::each_event;
use crate::State;
use crate::registry::Invocation;
use crate::services::job_runs;

pub const HANDLES: &[&str] = &[Event::JOB_REQUESTED];

pub async fn handle(
    batch: SqsEvent,
    invocation: Invocation,
    state: &'static State,
) -> SqsBatchResponse {
    let deadline = invocation.deadline;
    each_event("settlement", batch, |envelope| async move {
        match &envelope.event {
            Event::JobRequested(requested) => {
                let run = job_runs::run(state, requested.job_id, deadline).await?;
                tracing::info!(job_id = %requested.job_id, kind = requested.kind.as_str(), ?run, "job run");
                Ok(())
            }
            Event::OrderPlaced(_)
            | Event::OrderPaid(_)
            | Event::OrderFulfilled(_)
            | Event::OrderCompleted(_)
            | Event::OrderPaymentFailed(_)
            | Event::OrderCancelled(_)
            | Event::OrderExpired(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrderQueued(_)
            | Event::OrdersRejected(_) => Ok(()),
        }
    })
    .await
}

//! Queue `SettlementQueue` (`job.requested`): runs the settlement job each message names. A message for
//! a finished job, or one another run holds, is acknowledged and dropped; the holder's own message
//! comes back if that run dies.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;
use orderly_domain::jobs::JobKind;

use super::each_event;
use crate::State;
use crate::registry::Invocation;
use crate::services::{ServiceError, settlement};

pub const HANDLES: &[&str] = &[Event::JOB_REQUESTED];

pub async fn handle(
    batch: SqsEvent,
    invocation: Invocation,
    state: &'static State,
) -> SqsBatchResponse {
    let deadline = invocation.deadline;
    each_event("settlement", batch, |envelope| async move {
        match &envelope.event {
            Event::JobRequested(requested) => match requested.kind {
                JobKind::Settlement => {
                    let run = settlement::run(state, requested.job_id, deadline).await?;
                    tracing::info!(job_id = %requested.job_id, ?run, "settlement run");
                    Ok(())
                }
                JobKind::ReportExport => Err(ServiceError::internal(
                    "report exports are not built yet; the message goes to the DLQ",
                )),
            },
            Event::OrderPlaced(_)
            | Event::OrderPaid(_)
            | Event::OrderFulfilled(_)
            | Event::OrderCompleted(_)
            | Event::OrderPaymentFailed(_)
            | Event::OrderCancelled(_)
            | Event::OrderExpired(_)
            | Event::JobProgress(_) => Ok(()),
        }
    })
    .await
}

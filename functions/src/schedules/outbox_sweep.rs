//! Every minute: publishes outbox events a crash or an outage left unpublished, and announces again the
//! jobs whose run died (announced work that nobody is doing).

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::Invocation;
use crate::State;
use crate::adapt::FunctionError;
use crate::services::{job_runs, outbox};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let jobs_revived = job_runs::revive_stalled(state).await?;
    let published = outbox::sweep(state, invocation.deadline).await?;
    tracing::info!(request_id = %invocation.request_id, published, jobs_revived, "outbox swept");
    Ok(json!({ "published": published, "jobs_revived": jobs_revived }))
}

//! Daily: months of raw events older than the retention (`METRICS_RETENTION_MONTHS`, 24 by default) go to
//! S3 as gzip CSV, verified before their partition is dropped.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::services::event_archives;
use crate::{Invocation, State};

/// Months per run: a month of 100 M events a day would not fit one invocation, a few ordinary ones do;
/// the next run goes on where this one stopped.
const MONTHS_PER_RUN: usize = 3;

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let done = event_archives::archive_due(state, MONTHS_PER_RUN).await?;
    let months: Vec<String> = done
        .iter()
        .map(|a| a.month.format("%Y-%m").to_string())
        .collect();
    tracing::info!(request_id = %invocation.request_id, ?months, "event months archived");
    Ok(json!({ "archived": months }))
}

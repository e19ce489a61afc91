//! Every five minutes: asks the payment provider about charges it left pending (asynchronous payment
//! methods) and records how they settled: paid, failed, or refunded when the order expired meanwhile.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;

use crate::adapt::FunctionError;
use crate::services::{ServiceError, payments};
use crate::{Invocation, State};

pub async fn handle(
    _: EventBridgeEvent,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let provider = state
        .payments
        .as_ref()
        .ok_or_else(|| ServiceError::internal("PAYMENT_PROVIDER_URL is not configured"))?;
    let run = payments::reconcile(state, provider).await?;
    tracing::info!(request_id = %invocation.request_id, ?run, "pending payments reconciled");
    serde_json::to_value(run).map_err(|e| FunctionError::Failed(e.to_string()))
}

//! Queue `FulfillmentQueue` (`order.paid`): reserved units become sold; the order completes.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use super::each_event;
use crate::{State, services::fulfillment};

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("fulfillment", batch, |event| async move {
        let order_id = event
            .data_id("order_id")
            .ok_or("the event names no order_id")?;
        let fulfilled = fulfillment::fulfil(state, order_id, event.correlation_id.clone()).await?;
        tracing::info!(%order_id, fulfilled, "fulfilment");
        Ok(())
    })
    .await
}

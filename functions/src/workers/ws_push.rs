//! Queue `WsPushQueue` (every event type): pushes each event to the WebSocket connections it concerns, and the
//! stock of the products it changed to their followers.
//! A push that fails for a reason other than a gone client fails the message, which is retried.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use orderly_domain::events::Event;

use super::each_event;
use crate::{State, services::live_updates};

/// Every event type: its queue's subscription names them all.
pub const HANDLES: &[&str] = &Event::TYPES;

pub async fn handle(batch: SqsEvent, state: &'static State) -> SqsBatchResponse {
    each_event("ws-push", batch, |event| async move {
        let delivery = live_updates::deliver(&state.db, &state.connections, &event).await?;
        let stock = live_updates::push_stock(state, &event).await?;
        tracing::info!(event_id = %event.event_id, event_type = event.event.event_type(), pushed = delivery.pushed + stock.pushed, gone = delivery.gone + stock.gone, "event pushed");
        Ok(())
    })
    .await
}

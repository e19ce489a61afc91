//! Queue `FlashSaleQueue` (`order.queued`): decides the queues of the products the batch's orders are
//! for. A message only wakes the decider: every pass takes a product's queue from its head, so an order
//! may be decided by an earlier pass than its own message's. A message whose order is still undecided
//! afterwards (the invocation ran out of time, or its product's pass failed) is reported failed and
//! comes back.

use std::collections::BTreeMap;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_domain::events::Event;
use uuid::Uuid;

use super::{batch_item_failures, envelope};
use crate::State;
use crate::registry::Invocation;
use crate::services::flash_sales;

pub const HANDLES: &[&str] = &[Event::ORDER_QUEUED];

pub async fn handle(
    batch: SqsEvent,
    invocation: Invocation,
    state: &'static State,
) -> SqsBatchResponse {
    // message id → the order it queued, by product; messages that are not a queued order fail.
    let mut failed: Vec<String> = Vec::new();
    let mut by_product: BTreeMap<Uuid, Vec<(String, Uuid)>> = BTreeMap::new();
    for message in &batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        match envelope(message).map(|e| e.event) {
            Ok(Event::OrderQueued(queued)) if queued.items.len() == 1 => by_product
                .entry(queued.items[0].product_id)
                .or_default()
                .push((id, queued.order_id)),
            Ok(other) => {
                tracing::warn!(message_id = %id, event_type = other.event_type(), "not a flash-sale order");
                failed.push(id);
            }
            Err(reason) => {
                tracing::warn!(message_id = %id, %reason, "unreadable message");
                failed.push(id);
            }
        }
    }
    for (product_id, messages) in by_product {
        let orders: Vec<Uuid> = messages.iter().map(|m| m.1).collect();
        let still = match flash_sales::decide_queue(state, product_id, invocation.deadline).await {
            Ok(outcome) => {
                tracing::info!(%product_id, ?outcome, "flash-sale queue decided");
                flash_sales::undecided(state, &orders).await
            }
            Err(error) => Err(error),
        };
        match still {
            Ok(undecided) => failed.extend(
                messages
                    .into_iter()
                    .filter(|(_, order)| undecided.contains(order))
                    .map(|(id, _)| id),
            ),
            Err(reason) => {
                tracing::warn!(%product_id, %reason, "flash-sale pass failed; its messages will be retried");
                failed.extend(messages.into_iter().map(|(id, _)| id));
            }
        }
    }
    batch_item_failures(failed)
}

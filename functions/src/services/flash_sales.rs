//! Flash sales (docs/adr/0018-flash-sales.md): a product's queued orders are decided in passes, each one
//! transaction under one lock of the product's stock row, first come first served. Accepted orders
//! become `PENDING_PAYMENT` with their stock reserved and an `order.placed` each (payment and the rest
//! of the pipeline follow as for any order); the rest of a pass becomes `REJECTED_OUT_OF_STOCK`, or
//! `REJECTED_BUYER_LIMIT` when the sale limits units per buyer and the order would pass it, announced by
//! one `orders.rejected`.

use std::time::SystemTime;

use chrono::Utc;
use orderly_domain::events::{Event, OrderPlaced, OrdersRejected, PlacedItem, RejectedOrder};
use orderly_domain::flash_sales::allocate;
use orderly_domain::orders::OrderStatus;
use orderly_store::flash_sales::{self, Decided};
use uuid::Uuid;

use super::orders::PAYMENT_WINDOW;
use super::{ServiceError, outbox};
use crate::State;

/// Orders decided in one transaction: one lock of the stock row and a handful of set-based statements
/// for the lot, and one `orders.rejected` well under SNS's 256 KB.
pub const PASS_SIZE: i64 = 1_000;

/// What the passes over a product's queue decided.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueOutcome {
    pub accepted: usize,
    pub rejected: usize,
    pub passes: usize,
}

/// Decides the product's queue until it is empty, or until `deadline` is near (what is left waits for
/// its own messages).
pub async fn decide_queue(
    state: &State,
    product_id: Uuid,
    deadline: Option<SystemTime>,
) -> Result<QueueOutcome, ServiceError> {
    let mut total = QueueOutcome::default();
    loop {
        let (accepted, rejected) = decide_pass(state, product_id).await?;
        total.accepted += accepted;
        total.rejected += rejected;
        total.passes += 1;
        let near_deadline = deadline.is_some_and(|d| {
            d.duration_since(SystemTime::now())
                .map_or(true, |left| left < std::time::Duration::from_secs(2))
        });
        if ((accepted + rejected) as i64) < PASS_SIZE || near_deadline {
            return Ok(total);
        }
    }
}

/// One pass: the head of the queue, decided and recorded in one transaction.
async fn decide_pass(state: &State, product_id: Uuid) -> Result<(usize, usize), ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let Some(head) = flash_sales::lock_queue(&tx, product_id, PASS_SIZE).await? else {
        return Ok((0, 0));
    };
    let waiting = head.waiting;
    if waiting.is_empty() {
        return Ok((0, 0));
    }
    let orders: Vec<_> = waiting.iter().map(|w| w.order).collect();
    let decision = allocate(head.available, head.limit.as_ref(), &orders);
    let accepted: Vec<(Uuid, Uuid)> = decision
        .accepted
        .iter()
        .map(|o| (o.order_id, orderly_domain::new_id()))
        .collect();
    let rejected: Vec<Uuid> = decision.rejected.iter().map(|o| o.order_id).collect();
    let over_limit: Vec<Uuid> = decision.over_limit.iter().map(|o| o.order_id).collect();
    let mut events: Vec<_> = waiting
        .iter()
        .filter(|w| accepted.iter().any(|(id, _)| *id == w.order.order_id))
        .map(|w| {
            let placed = OrderPlaced {
                order_id: w.order.order_id,
                user_id: w.order.user_id,
                total_cents: w.total_cents,
                currency: w.currency.clone(),
                items: vec![PlacedItem {
                    product_id,
                    quantity: w.order.quantity,
                }],
            };
            outbox::event(Event::OrderPlaced(placed), None)
        })
        .collect();
    let orders: Vec<RejectedOrder> = [
        (&decision.rejected, OrderStatus::RejectedOutOfStock),
        (&decision.over_limit, OrderStatus::RejectedBuyerLimit),
    ]
    .into_iter()
    .flat_map(|(orders, status)| {
        orders.iter().map(move |o| RejectedOrder {
            order_id: o.order_id,
            user_id: o.user_id,
            status,
        })
    })
    .collect();
    if !orders.is_empty() {
        events.push(outbox::event(
            Event::OrdersRejected(OrdersRejected { product_id, orders }),
            None,
        ));
    }
    flash_sales::record(
        &tx,
        &Decided {
            product_id,
            accepted: &accepted,
            rejected: &rejected,
            over_limit: &over_limit,
            reserved: decision.reserved(),
            payment_deadline: Utc::now() + PAYMENT_WINDOW,
            events: &events,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((accepted.len(), rejected.len() + over_limit.len()))
}

/// Which of `order_ids` are still waiting for a decision.
pub async fn undecided(state: &State, order_ids: &[Uuid]) -> Result<Vec<Uuid>, ServiceError> {
    Ok(flash_sales::still_queued(&state.db.get().await?, order_ids).await?)
}

//! Daily sales rollups, kept current from order events exactly once per event.

use orderly_domain::events::{Event, EventEnvelope};
use orderly_domain::reports::SalesDay;
use orderly_domain::settlement::DayRange;
use orderly_domain::validation::FieldError;
use orderly_store::outbox::first_deliveries;
use orderly_store::reports;

use super::{Caller, ServiceError};
use crate::State;

pub const CONSUMER: &str = "reporting";

/// Applies a batch of events to the rollups in one transaction, each event once however often it is
/// delivered; returns how many were new. One transaction per batch rather than per event: every
/// completed order of a day adds to that day's one row, so per-event transactions queued on its lock
/// (docs/adr/0012).
pub async fn record(state: &State, events: &[EventEnvelope]) -> Result<usize, ServiceError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let new = first_deliveries(&tx, CONSUMER, events).await?;
    let (mut completed, mut cancelled) = (Vec::new(), Vec::new());
    for event in &new {
        let day = event.occurred_at.date_naive();
        match &event.event {
            Event::OrderCompleted(order) => completed.push((order.order_id, day)),
            Event::OrderCancelled(_) => cancelled.push(day),
            // Not routed to the reporting queue (see the worker's HANDLES).
            Event::OrderPlaced(_)
            | Event::OrderPaid(_)
            | Event::OrderFulfilled(_)
            | Event::OrderPaymentFailed(_)
            | Event::OrderExpired(_)
            | Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrderQueued(_)
            | Event::OrdersRejected(_) => {}
        }
    }
    reports::add_orders(&tx, &completed, &cancelled).await?;
    tx.commit().await?;
    Ok(new.len())
}

/// The days of `range`, inclusive.
pub async fn daily(
    state: &State,
    caller: &Caller,
    range: Result<DayRange, FieldError>,
) -> Result<Vec<SalesDay>, ServiceError> {
    caller.admin()?;
    let DayRange { from, to } = range.map_err(|e| ServiceError::Invalid(vec![e]))?;
    Ok(reports::daily(&state.db.get().await?, from, to).await?)
}

#[cfg(test)]
mod tests {
    use orderly_domain::events::OrderChanged;
    use orderly_domain::orders::OrderStatus;
    use orderly_store::testing::{completed_order, fresh_database, product, user};

    use super::*;
    use crate::services::outbox::envelope;
    use crate::testing;

    #[tokio::test]
    async fn an_event_delivered_twice_in_one_batch_and_again_later_counts_once() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let (item, buyer) = (product(&db.pool, 10, 300).await, user(&db.pool).await);
        let client = db.pool.get().await.unwrap();
        let order_id = completed_order(&db.pool, buyer, &[(item, 3)]).await;
        let completed = envelope(
            Event::OrderCompleted(OrderChanged {
                order_id,
                user_id: buyer,
                status: OrderStatus::Completed,
                previous_status: OrderStatus::Fulfilled,
                total_cents: 900,
                currency: "EUR".into(),
            }),
            None,
        );

        let day = completed.occurred_at.date_naive();
        let batch = [completed.clone(), completed.clone()];
        assert_eq!(record(state, &batch).await.unwrap(), 1);
        assert_eq!(record(state, &[completed]).await.unwrap(), 0);

        let days = reports::daily(&client, day, day).await.unwrap();
        let summary: Vec<_> = days
            .iter()
            .map(|d| (d.orders, d.units, d.gross_cents))
            .collect();
        assert_eq!(summary, [(1, 3, 900)]);
        let products: Vec<_> = days[0]
            .products
            .iter()
            .map(|p| (p.product_id, p.orders, p.units))
            .collect();
        assert_eq!(products, [(item, 1, 3)]);
    }
}

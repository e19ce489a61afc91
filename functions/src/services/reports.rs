//! Daily sales rollups, kept current from order events exactly once per event.

use orderly_domain::events::{Event, EventEnvelope};
use orderly_domain::reports::SalesDay;
use orderly_domain::settlement::DayRange;
use orderly_domain::validation::FieldError;
use orderly_store::outbox::first_deliveries;
use orderly_store::reports;
use uuid::Uuid;

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
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let new = first_deliveries(&tx, CONSUMER, &ids).await?;
    let (mut completed, mut cancelled) = (Vec::new(), Vec::new());
    for event in events.iter().filter(|e| new.contains(&e.event_id)) {
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

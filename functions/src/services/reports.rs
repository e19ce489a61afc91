//! Daily sales rollups, kept current from order events exactly once per event.

use orderly_domain::events::{Event, EventEnvelope};
use orderly_domain::reports::SalesDay;
use orderly_domain::settlement::DayRange;
use orderly_domain::validation::FieldError;
use orderly_store::outbox::first_delivery;
use orderly_store::reports;

use super::{Caller, ServiceError};
use crate::State;

pub const CONSUMER: &str = "reporting";

/// Applies an event to the rollups; false when it had been applied before.
pub async fn record(state: &State, event: &EventEnvelope) -> Result<bool, ServiceError> {
    let day = event.occurred_at.date_naive();
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if !first_delivery(&tx, CONSUMER, event.event_id).await? {
        return Ok(false);
    }
    match &event.event {
        Event::OrderCompleted(completed) => {
            reports::add_completed_order(&tx, completed.order_id, day).await
        }
        Event::OrderCancelled(_) => reports::add_cancelled_order(&tx, day).await,
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
        | Event::OrdersRejected(_) => Ok(()),
    }?;
    tx.commit().await?;
    Ok(true)
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

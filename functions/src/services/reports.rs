//! Daily sales rollups, kept current from order events exactly once per event.

use chrono::NaiveDate;
use orderly_domain::events::{Event, EventEnvelope};
use orderly_domain::validation::FieldError;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::outbox::first_delivery;
use orderly_store::reports::{self, SalesDay};

use super::db;
use crate::State;

pub const CONSUMER: &str = "reporting";
const MAX_DAYS: i64 = 366;

/// Applies an event to the rollups; false when it had been applied before.
pub async fn record(state: &State, event: &EventEnvelope) -> Result<bool, String> {
    let day = event.occurred_at.date_naive();
    let mut client = state.db.get().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    if !first_delivery(&tx, CONSUMER, event.event_id)
        .await
        .map_err(|e| e.to_string())?
    {
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
        | Event::OrderExpired(_) => Ok(()),
    }
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(true)
}

fn date(request: &HttpRequest, name: &str) -> Result<NaiveDate, FieldError> {
    let raw = request
        .query(name)
        .ok_or_else(|| FieldError::new(name, "is required (YYYY-MM-DD)"))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| FieldError::new(name, "must be a date like 2026-01-31"))
}

pub async fn daily(state: &State, request: &HttpRequest) -> Result<Vec<SalesDay>, ApiError> {
    request.admin()?;
    let (from, to) = (date(request, "from"), date(request, "to"));
    let (from, to) = match (from, to) {
        (Ok(from), Ok(to)) => (from, to),
        (from, to) => {
            return Err(ApiError::Validation(
                [from.err(), to.err()].into_iter().flatten().collect(),
            ));
        }
    };
    if to < from || (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::Validation(vec![FieldError::new(
            "to",
            format!("must be on or after from, at most {MAX_DAYS} days later"),
        )]));
    }
    reports::daily(&state.db.get().await.map_err(db)?, from, to)
        .await
        .map_err(db)
}

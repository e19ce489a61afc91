//! `POST /api/v1/events`: a shop's events (page views, add-to-cart, checkout steps, latencies), up to
//! 1,000 per request. Valid events are kept even when others are rejected.

use orderly_domain::metrics::intake::{Rejection, TypedEvent};
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};
use serde::Serialize;
use serde_json::Value;

use crate::State;
use crate::http::{caller, json_response_of};
use crate::services::event_metrics::{self, Incoming};

/// What became of the events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestedView {
    /// Events kept.
    pub accepted: usize,
    /// Every problem of every event not kept, by its index in the request.
    pub rejected: Vec<Rejection>,
}

/// One event as sent.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the body for the document; events are read one by one (see intake)
pub struct EventInput {
    /// RFC 3339; at most 5 minutes ahead and 7 days behind the server's clock.
    timestamp: String,
    /// The shop's own id for the shopper (1–128 characters). A signed-in user may leave it out: it is
    /// theirs.
    user_id: Option<String>,
    /// 1–64 letters, digits and `_ . : -`, e.g. `page_view`, `checkout.step`.
    event_type: String,
    /// Any finite number (a latency in ms, a cart value, 1 for a plain count).
    value: f64,
    /// Required with a platform key or a user token; with a merchant's key, leave it out or send that
    /// merchant's id.
    merchant_id: Option<uuid::Uuid>,
}

#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    request_body(content = Vec<EventInput>, description = "1 to 1,000 events"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "the valid events are stored; the others are listed", body = IngestedView),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 413, description = "more than 1,000 events, or a body over 1 MiB", body = ErrorBody),
        (status = 422, description = "not an array, or no event is valid (each problem listed as `[index].field`)", body = ErrorBody),
        (status = 503, description = "the database, or the month's partition, is not available; nothing was stored", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    // One typed pass over the body when every event has the expected shape; the field-by-field reader
    // otherwise (it names each problem).
    let events = match serde_json::from_slice::<Vec<TypedEvent<'_>>>(request.json_bytes()?) {
        Ok(typed) => Incoming::Typed(typed),
        Err(_) => Incoming::Fields(request.json::<Vec<Value>>()?),
    };
    let ingested = event_metrics::ingest(state, &caller(&request), events).await?;
    Ok(json_response_of(
        202,
        &IngestedView {
            accepted: ingested.accepted,
            rejected: ingested.rejected,
        },
    ))
}

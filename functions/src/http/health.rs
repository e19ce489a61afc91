//! `GET /health`: 200 when Postgres, the queues and the bucket answer; 503 naming what does not. One check
//! per instance every few seconds answers every caller, and each address gets 60 calls a minute.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, json_response};

use crate::State;
use crate::services::health::{self, HealthReport};
use crate::services::rate_limits::{self, Anonymous};

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "every dependency answers", body = HealthReport),
        (status = 429, description = "more than 60 a minute from this address", body = ErrorBody),
        (status = 503, description = "a dependency is down; `failing` names it", body = HealthReport),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    // The limit lives in Postgres; when Postgres is what is down, the report must still be given (and
    // is cached, so letting it through costs no more checks).
    match rate_limits::for_address(state, Anonymous::Health, &request.source_ip).await {
        Ok(()) => {}
        Err(e) if e.is_transient() => {}
        Err(refused) => return Err(refused.into()),
    }
    let report = health::check(state).await;
    Ok(json_response(
        if report.healthy() { 200 } else { 503 },
        &report,
    ))
}

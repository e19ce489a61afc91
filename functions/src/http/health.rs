//! `GET /health`: 200 when Postgres, the queues and the bucket answer; 503 naming what does not.

use orderly_http::{ApiError, HttpRequest, Response, json_response};

use crate::{State, services::health};

#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "every dependency answers", body = crate::services::health::HealthReport), (status = 503, description = "a dependency is down; `failing` names it", body = crate::services::health::HealthReport)))]
pub async fn handle(_: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let report = health::check(state).await;
    Ok(json_response(
        if report.healthy() { 200 } else { 503 },
        &report,
    ))
}

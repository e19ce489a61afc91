//! `POST /api/v1/jobs/settlement`: records a settlement of a range of UTC days and answers 202; the
//! settlement function does the work.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::{accepted, job_request};
use crate::State;
use crate::http::caller;
use crate::services::jobs::{self, SettlementInput};

#[utoipa::path(
    post,
    path = "/api/v1/jobs/settlement",
    tag = "jobs",
    request_body = SettlementInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key and body answer the same job")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "QUEUED; `Location` is the job", body = serde_json::Value,
         headers(("Location" = String, description = "/api/v1/jobs/{job_id}"))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "missing, malformed or misordered days, a range over 366 days", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let answer =
        jobs::request_settlement(state, &caller(&request), input, job_request(&request)).await?;
    Ok(accepted(answer))
}

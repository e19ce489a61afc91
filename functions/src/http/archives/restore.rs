//! `POST /api/v1/admin/archives/{month}/restore`: brings an archived month of raw events back into
//! Postgres as a job (202, followed like any job).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use crate::State;
use crate::http::caller;
use crate::http::jobs::{accepted, job_request};
use crate::services::archive_restore::parse_month;
use crate::services::jobs;

#[utoipa::path(
    post,
    path = "/api/v1/admin/archives/{month}/restore",
    tag = "analytics",
    params(
        ("month" = String, Path, description = "the archived month, YYYY-MM"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key answers the same job"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "QUEUED; `Location` is the job", body = serde_json::Value,
         headers(("Location" = String, description = "/api/v1/jobs/{job_id}"))),
        (status = 400, description = "not a month (YYYY-MM)", body = ErrorBody),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "that month was never archived", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let raw = request.path("month")?;
    let month = parse_month(raw)
        .ok_or_else(|| ApiError::BadRequest(format!("`{raw}` is not a month (YYYY-MM)")))?;
    let answer =
        jobs::request_archive_restore(state, &caller(&request), month, job_request(&request))
            .await?;
    Ok(accepted(answer))
}

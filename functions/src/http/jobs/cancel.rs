//! `POST /api/v1/jobs/{id}/cancel`: a queued job ends CANCELLED at once, a running one at its next batch
//! boundary, leaving no file behind.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};
use serde_json::json;

use crate::http::{caller, ok};
use crate::{State, services::jobs};

#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "the job")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "cancellation requested", body = serde_json::Value),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "ILLEGAL_TRANSITION: the job is finished", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    jobs::cancel(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&json!({"message": "Job cancellation requested"})))
}

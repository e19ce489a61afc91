//! `GET /api/v1/jobs/{id}`: a job's status and progress.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::JobView;
use crate::http::{caller, ok};
use crate::{State, services::jobs};

#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "the job")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the job", body = JobView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let job = jobs::get(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&JobView::from(&job)))
}

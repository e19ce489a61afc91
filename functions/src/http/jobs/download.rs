//! `GET /api/v1/downloads/{job_id}.csv`: a redirect to a 15-minute presigned link to the job's file.

use http::header::{CACHE_CONTROL, LOCATION};
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, empty_response};

use crate::http::caller;
use crate::{State, services::jobs};

#[utoipa::path(
    get,
    path = "/api/v1/downloads/{file}",
    tag = "jobs",
    params(("file" = String, Path, description = "`{job_id}.csv`")),
    security(("bearer" = [])),
    responses(
        (status = 302, description = "to a presigned S3 URL, valid 15 minutes",
         headers(("Location" = String, description = "the file's presigned URL"))),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such job", body = ErrorBody),
        (status = 409, description = "JOB_NOT_READY: not COMPLETED yet", body = ErrorBody),
        (status = 400, description = "not `{job_id}.csv`", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let file = request.path("file")?;
    let job_id = file
        .strip_suffix(".csv")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ApiError::BadRequest(format!("`{file}` is not a `{{job_id}}.csv`")))?;
    let url = jobs::download_url(state, &caller(&request), job_id).await?;
    let mut response = empty_response(302);
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        url.parse()
            .map_err(|_| ApiError::Internal("the presigned URL is not a header value".into()))?,
    );
    headers.insert(CACHE_CONTROL, "no-store".parse().expect("a header value"));
    Ok(response)
}

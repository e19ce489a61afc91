//! `GET /api/v1/jobs?kind=&status=`: jobs, newest first.

use orderly_domain::jobs::{JobKind, JobStatus};
use orderly_http::{ApiError, ErrorBody, FieldError, HttpRequest, Response};

use super::JobView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::Paged;
use crate::services::jobs::{self, JobFilter};

fn filter<T>(
    request: &HttpRequest,
    name: &str,
    parse: fn(&str) -> Option<T>,
    known: &str,
) -> Result<Option<T>, FieldError> {
    request
        .query(name)
        .map(|raw| {
            parse(raw).ok_or_else(|| FieldError::new(name, format!("must be one of {known}")))
        })
        .transpose()
}

#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    tag = "jobs",
    params(
        ("kind" = Option<JobKind>, Query, description = "only this kind (any letter case)"),
        ("status" = Option<JobStatus>, Query, description = "only this status (any letter case)"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "jobs, newest first", body = Paged<JobView>),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "unknown kind or status", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let kind = filter(
        &request,
        "kind",
        JobKind::parse,
        "SETTLEMENT, REPORT_EXPORT",
    );
    let status = filter(
        &request,
        "status",
        JobStatus::parse,
        "QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED",
    );
    let filter = match (kind, status) {
        (Ok(kind), Ok(status)) => JobFilter { kind, status },
        (kind, status) => {
            return Err(ApiError::Validation(
                [kind.err(), status.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let page = jobs::list(state, &caller(&request), filter, request.page()?).await?;
    Ok(ok(&page.map(|job| JobView::from(&job))))
}

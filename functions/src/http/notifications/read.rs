//! `PUT /api/v1/notifications/{id}/read`: marks one of the caller's notifications read.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::NotificationView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::notifications;

#[utoipa::path(
    put,
    path = "/api/v1/notifications/{id}/read",
    tag = "notifications",
    params(("id" = uuid::Uuid, Path, description = "the notification")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the notification, read (marking it again keeps the first time)", body = NotificationView),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such notification of yours", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let read = notifications::mark_read(state, &caller(&request), id).await?;
    Ok(ok(&NotificationView::from(read)))
}

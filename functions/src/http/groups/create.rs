//! `POST /api/v1/admin/groups`: a named group of users to broadcast to.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::GroupView;
use crate::State;
use crate::http::{caller, created};
use crate::services::groups::{self, NewGroup};

#[utoipa::path(
    post,
    path = "/api/v1/admin/groups",
    tag = "notifications",
    request_body = NewGroup,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "created, with no members", body = GroupView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 409, description = "GROUP_EXISTS", body = ErrorBody),
        (status = 422, description = "a missing or overlong name", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let group = groups::create(state, &caller(&request), input).await?;
    Ok(created(&GroupView::from(group)))
}

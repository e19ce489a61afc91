//! `PUT /api/v1/admin/groups/{id}/members/{user_id}`: puts a user in a group (again is fine).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::MemberView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::groups;

#[utoipa::path(
    put,
    path = "/api/v1/admin/groups/{id}/members/{user_id}",
    tag = "notifications",
    params(
        ("id" = uuid::Uuid, Path, description = "the group"),
        ("user_id" = uuid::Uuid, Path, description = "the user"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "a member (since the first time they were added)", body = MemberView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such group or user", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let (group, user) = (request.path_id("id")?, request.path_id("user_id")?);
    let member = groups::add_member(state, &caller(&request), group, user).await?;
    Ok(ok(&MemberView::from(member)))
}

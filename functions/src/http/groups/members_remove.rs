//! `DELETE /api/v1/admin/groups/{id}/members/{user_id}`: takes a user out of a group; broadcast pages
//! not yet reached skip them, and they may no longer follow the group's topic.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use crate::State;
use crate::http::caller;
use crate::services::groups;
use orderly_http::empty_response;

#[utoipa::path(
    delete,
    path = "/api/v1/admin/groups/{id}/members/{user_id}",
    tag = "notifications",
    params(
        ("id" = uuid::Uuid, Path, description = "the group"),
        ("user_id" = uuid::Uuid, Path, description = "the user"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "not a member (any more)"),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such group", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let (group, user) = (request.path_id("id")?, request.path_id("user_id")?);
    groups::remove_member(state, &caller(&request), group, user).await?;
    Ok(empty_response(204))
}

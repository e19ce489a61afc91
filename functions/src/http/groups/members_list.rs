//! `GET /api/v1/admin/groups/{id}/members`: a group's members in user-id order.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::MemberView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, groups};

#[utoipa::path(
    get,
    path = "/api/v1/admin/groups/{id}/members",
    tag = "notifications",
    params(
        ("id" = uuid::Uuid, Path, description = "the group"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "members", body = Paged<MemberView>),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 404, description = "no such group", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let group = request.path_id("id")?;
    let page = groups::members(state, &caller(&request), group, request.page()?).await?;
    Ok(ok(&page.map(MemberView::from)))
}

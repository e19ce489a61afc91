//! `GET /api/v1/admin/groups`: every group, oldest first, with its member count.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::GroupView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, groups};

#[utoipa::path(
    get,
    path = "/api/v1/admin/groups",
    tag = "notifications",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "groups", body = Paged<GroupView>),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let page = groups::list(state, &caller(&request), request.page()?).await?;
    Ok(ok(&page.map(GroupView::from)))
}

//! `GET /api/v1/admin/api-keys`: live keys, without secrets.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::ApiKeyView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, api_keys};

#[utoipa::path(
    get,
    path = "/api/v1/admin/api-keys",
    tag = "api keys",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "live keys, newest first, no secrets", body = Paged<ApiKeyView>),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let keys = api_keys::list(state, &caller(&request), request.page()?).await?;
    Ok(ok(&keys.map(ApiKeyView::from)))
}

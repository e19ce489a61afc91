//! `GET /api/v1/admin/merchants`.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::MerchantView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::{Paged, merchants};

#[utoipa::path(
    get,
    path = "/api/v1/admin/merchants",
    tag = "catalogue",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "merchants, oldest first", body = Paged<MerchantView>),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let page = merchants::list(state, &caller(&request), request.page()?).await?;
    Ok(ok(&page.map(MerchantView::from)))
}

//! `GET /api/v1/products`: the live catalogue, with stock.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::ProductView;
use crate::State;
use crate::http::ok;
use crate::services::Paged;
use crate::services::catalogue::{self, ProductQuery};

#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalogue",
    params(
        ("merchant_id" = Option<uuid::Uuid>, Query, description = "only this merchant's"),
        ("q" = Option<String>, Query, description = "words of the name or description"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "live products in creation order", body = Paged<ProductView>),
        (status = 422, description = "invalid query", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let query = ProductQuery {
        merchant_id: request.query_id("merchant_id")?,
        text: request.query("q").map(str::to_owned),
    };
    let page = catalogue::list(state, &query, request.page()?).await?;
    Ok(ok(&page.map(ProductView::from)))
}

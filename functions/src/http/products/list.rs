//! `GET /api/v1/products?merchant_id=&q=&limit=&cursor=`: the public catalogue.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::catalogue};

#[utoipa::path(get, path = "/api/v1/products", tag = "catalogue", params(("merchant_id" = Option<uuid::Uuid>, Query, description = "only this merchant's"), ("q" = Option<String>, Query, description = "words of the name or description"), ("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), responses((status = 200, description = "live products in creation order", body = crate::services::Paged<orderly_store::products::Product>), (status = 422, description = "invalid query", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&catalogue::list(state, &request).await?))
}

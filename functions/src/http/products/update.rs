//! `PUT /api/v1/products/{id}` (admin, `If-Match` required): replaces the product's fields.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::ok;
use crate::{State, services::catalogue};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let product = catalogue::replace(state, &request, id, request.json()?).await?;
    Ok(with_etag(ok(&product), &product))
}

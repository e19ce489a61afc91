//! `GET /api/v1/products/{id}`: one product, with its ETag.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::ok;
use crate::{State, services::catalogue};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let product = catalogue::get(state, request.path_id("id")?).await?;
    Ok(with_etag(ok(&product), &product))
}

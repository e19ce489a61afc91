//! `POST /api/v1/products` (admin): a product and its initial stock.

use orderly_http::{ApiError, HttpRequest, Response};

use super::with_etag;
use crate::http::created;
use crate::{State, services::catalogue};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    let product = catalogue::create(state, &request, input).await?;
    Ok(with_etag(created(&product), &product))
}

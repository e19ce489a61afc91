//! `GET /api/v1/products?merchant_id=&q=&limit=&cursor=`: the public catalogue.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::catalogue};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&catalogue::list(state, &request).await?))
}

//! `POST /api/v1/admin/merchants`: a merchant that products can belong to.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::merchants};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let input = request.json()?;
    Ok(created(&merchants::create(state, &request, input).await?))
}

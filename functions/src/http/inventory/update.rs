//! `PUT /api/v1/products/{id}/inventory` (admin): count on hand, adjust, or set the threshold; audited.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::inventory};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    Ok(ok(
        &inventory::change(state, &request, id, request.json()?).await?
    ))
}

//! `DELETE /api/v1/products/{id}` (admin, `If-Match` required): hides the product; orders keep it.

use orderly_http::{ApiError, HttpRequest, Response, empty_response};

use crate::{State, services::catalogue};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    catalogue::delete(state, &request, request.path_id("id")?).await?;
    Ok(empty_response(204))
}

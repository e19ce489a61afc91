//! `DELETE /api/v1/admin/api-keys/{id}`: the key stops working at once.

use orderly_http::{ApiError, HttpRequest, Response, empty_response};

use crate::{State, services::api_keys};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    api_keys::revoke(state, &request, id).await?;
    Ok(empty_response(204))
}

//! `GET /api/v1/admin/api-keys`: live keys, without secrets.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::api_keys};

#[utoipa::path(get, path = "/api/v1/admin/api-keys", tag = "api keys", params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")), security(("bearer" = [])), responses((status = 200, description = "live keys, newest first, no secrets", body = crate::services::Paged<orderly_store::api_keys::ApiKey>), (status = 403, description = "admins only", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&api_keys::list(state, &request).await?))
}

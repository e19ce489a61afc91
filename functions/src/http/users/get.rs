//! `GET /api/v1/users/{id}`: the user themself or an admin; anyone else gets 404.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "the resource id")), security(("bearer" = [])), responses((status = 200, description = "the profile", body = orderly_store::users::User), (status = 400, description = "malformed id", body = crate::http::docs::ErrorBody), (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody), (status = 404, description = "not found, or another user's", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = users::get(state, request.user()?, request.path_id("id")?).await?;
    Ok(ok(&user))
}

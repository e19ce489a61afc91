//! `GET /api/v1/me`: the caller's own profile.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("bearer" = [])), responses((status = 200, description = "the caller", body = orderly_store::users::User), (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody), (status = 403, description = "an API key is not a user", body = crate::http::docs::ErrorBody), (status = 429, description = "rate limited", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let caller = request.user()?;
    Ok(ok(&users::get(state, caller, caller.0).await?))
}

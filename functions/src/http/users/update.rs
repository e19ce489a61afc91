//! `PUT /api/v1/users/{id}`: name, email, password (own, with the current one); role (admins only).

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

#[utoipa::path(put, path = "/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path, description = "the resource id")), request_body = crate::services::users::ProfileChanges, security(("bearer" = [])), responses((status = 200, description = "updated", body = orderly_store::users::User), (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody), (status = 403, description = "only admins change roles", body = crate::http::docs::ErrorBody), (status = 404, description = "not found, or another user's", body = crate::http::docs::ErrorBody), (status = 409, description = "EMAIL_TAKEN or OWN_ROLE", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let user = users::update(state, &request, id, request.json()?).await?;
    Ok(ok(&user))
}

//! `POST /api/v1/users`: anyone registers; the role is always customer.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::identity};

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = crate::services::identity::Registration, responses((status = 201, description = "registered as a customer", body = orderly_store::users::User), (status = 400, description = "malformed JSON", body = crate::http::docs::ErrorBody), (status = 409, description = "EMAIL_TAKEN", body = crate::http::docs::ErrorBody), (status = 413, description = "body too large", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody), (status = 429, description = "too many registrations from this address", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = identity::register(state, &request.source_ip, request.json()?).await?;
    Ok(created(&user))
}

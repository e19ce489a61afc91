//! `POST /api/v1/auth/login`: email and password for an access token and a refresh token.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::services::audit::Actor;
use crate::{State, services::identity};

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = crate::services::identity::Credentials, responses((status = 200, description = "signed in", body = crate::services::identity::TokenPair), (status = 401, description = "email or password is wrong", body = crate::http::docs::ErrorBody), (status = 422, description = "invalid fields", body = crate::http::docs::ErrorBody), (status = 429, description = "too many attempts from this address or for this email", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let credentials = request.json()?;
    let actor = Actor::of(&request);
    Ok(ok(&identity::login(state, &actor, credentials).await?))
}

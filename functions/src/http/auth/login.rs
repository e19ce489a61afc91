//! `POST /api/v1/auth/login`: email and password for an access token and a refresh token.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use crate::State;
use crate::http::{caller, ok};
use crate::services::audit::Actor;
use crate::services::identity::{self, Credentials, TokenPair};

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "signed in: a new session", body = TokenPair),
        (status = 401, description = "email or password is wrong", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
        (status = 429, description = "too many attempts from this address or for this email", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let credentials = request.json()?;
    let actor = Actor::of(&caller(&request));
    Ok(ok(&identity::login(state, &actor, credentials).await?))
}

//! `POST /api/v1/auth/logout`: ends the session of the given refresh token.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response, empty_response};

use super::RefreshTokenBody;
use crate::http::caller;
use crate::services::audit::Actor;
use crate::{State, services::identity};

#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = RefreshTokenBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "the session ends: its refresh and access tokens stop working"),
        (status = 401, description = "invalid credentials, or not the caller's token", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let caller = caller(&request);
    let (user_id, _) = caller.user()?;
    let body: RefreshTokenBody = request.json()?;
    identity::logout(state, &Actor::of(&caller), user_id, &body.refresh_token).await?;
    Ok(empty_response(204))
}

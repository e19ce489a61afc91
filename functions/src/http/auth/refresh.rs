//! `POST /api/v1/auth/refresh`: a refresh token for a new pair; the old token stops working.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::RefreshTokenBody;
use crate::State;
use crate::http::{caller, ok};
use crate::services::audit::Actor;
use crate::services::identity::{self, TokenPair};

#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshTokenBody,
    responses(
        (status = 200, description = "a new pair; the presented token stops working", body = TokenPair),
        (status = 401, description = "invalid, expired, past the session's 90 days, or reused (the session is revoked)", body = ErrorBody),
        (status = 429, description = "too many refreshes from this address", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let body: RefreshTokenBody = request.json()?;
    let actor = Actor::of(&caller(&request));
    Ok(ok(
        &identity::refresh(state, &actor, &body.refresh_token).await?
    ))
}

//! `POST /api/v1/auth/refresh`: a refresh token for a new pair; the old token stops working.

use orderly_http::{ApiError, HttpRequest, Response};

use super::RefreshTokenBody;
use crate::http::ok;
use crate::services::audit::Actor;
use crate::{State, services::identity};

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = super::RefreshTokenBody, responses((status = 200, description = "a new pair; the presented token stops working", body = crate::services::identity::TokenPair), (status = 401, description = "invalid, expired, past the session's 90 days, or reused (the session is revoked)", body = crate::http::docs::ErrorBody), (status = 429, description = "too many refreshes from this address", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let body: RefreshTokenBody = request.json()?;
    let actor = Actor::of(&request);
    Ok(ok(
        &identity::refresh(state, &actor, &body.refresh_token).await?
    ))
}

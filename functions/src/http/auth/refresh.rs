//! `POST /api/v1/auth/refresh`: a refresh token for a new pair; the old token stops working.

use orderly_http::{ApiError, HttpRequest, Response};

use super::RefreshTokenBody;
use crate::http::ok;
use crate::{State, services::identity};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let body: RefreshTokenBody = request.json()?;
    Ok(ok(
        &identity::refresh(state, &request, &body.refresh_token).await?
    ))
}

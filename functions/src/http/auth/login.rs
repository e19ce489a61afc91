//! `POST /api/v1/auth/login`: email and password for an access token and a refresh token.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::identity};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let credentials = request.json()?;
    Ok(ok(&identity::login(state, &request, credentials).await?))
}

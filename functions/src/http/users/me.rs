//! `GET /api/v1/me`: the caller's own profile.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let caller = request.user()?;
    Ok(ok(&users::get(state, caller, caller.0).await?))
}

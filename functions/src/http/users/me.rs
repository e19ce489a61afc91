//! `GET /api/v1/me`: the caller's own profile.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::UserView;
use crate::http::{caller, ok};
use crate::{State, services::users};

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller", body = UserView),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "an API key is not a user", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let caller = caller(&request);
    let (id, _) = caller.user()?;
    Ok(ok(&UserView::from(users::get(state, &caller, id).await?)))
}

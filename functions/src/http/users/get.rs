//! `GET /api/v1/users/{id}`: a profile, for the user themselves or an admin.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::UserView;
use crate::http::{caller, ok};
use crate::{State, services::users};

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "the user")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the profile", body = UserView),
        (status = 400, description = "malformed id", body = ErrorBody),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 404, description = "no such user, or another user's", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = users::get(state, &caller(&request), request.path_id("id")?).await?;
    Ok(ok(&UserView::from(user)))
}

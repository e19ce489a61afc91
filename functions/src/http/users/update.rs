//! `PUT /api/v1/users/{id}`: name, email and password (own, with the current password); role (admins only).

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::UserView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::users::{self, ProfileChanges};

#[utoipa::path(
    put,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = uuid::Uuid, Path, description = "the user")),
    request_body = ProfileChanges,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "updated; a new password ends every other session", body = UserView),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "only admins change roles; only the user changes their password", body = ErrorBody),
        (status = 404, description = "no such user, or another user's", body = ErrorBody),
        (status = 409, description = "EMAIL_TAKEN or OWN_ROLE", body = ErrorBody),
        (status = 422, description = "invalid fields, or `current_password` missing or wrong", body = ErrorBody),
        (status = 429, description = "too many password checks for this email", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let user = users::update(state, &caller(&request), id, request.json()?).await?;
    Ok(ok(&UserView::from(user)))
}

//! `POST /api/v1/users`: anyone registers; the role is always customer.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::UserView;
use crate::State;
use crate::http::created;
use crate::services::identity::{self, Registration};

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = Registration,
    responses(
        (status = 201, description = "registered as a customer", body = UserView),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 409, description = "EMAIL_TAKEN", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
        (status = 429, description = "too many registrations from this address", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = identity::register(state, &request.source_ip, request.json()?).await?;
    Ok(created(&UserView::from(user)))
}

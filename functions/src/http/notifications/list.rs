//! `GET /api/v1/notifications`: the caller's notification history, newest first.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::notifications};

#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, description = "own notifications", body = crate::services::Paged<orderly_store::notifications::Notification>),
        (status = 401, description = "no valid credentials", body = crate::http::docs::ErrorBody)))]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    Ok(ok(&notifications::list(state, &request).await?))
}

//! `GET /api/v1/notifications`: the caller's notification history, newest first, all or only the unread
//! (or read) ones.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};

use super::NotificationView;
use crate::State;
use crate::http::{caller, ok};
use crate::services::Paged;
use crate::services::notifications::{self, NotificationFilter};

#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "notifications",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("unread" = Option<bool>, Query, description = "`true`: only unread ones; `false`: only read ones"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "own notifications", body = Paged<NotificationView>),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 422, description = "`unread` is not true or false, or a bad page", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let filter = NotificationFilter {
        unread: request.query_bool("unread")?,
    };
    let page = notifications::list(state, &caller(&request), filter, request.page()?).await?;
    Ok(ok(&page.map(NotificationView::from)))
}

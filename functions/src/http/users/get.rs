//! `GET /api/v1/users/{id}`: the user themself or an admin; anyone else gets 404.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = users::get(state, request.user()?, request.path_id("id")?).await?;
    Ok(ok(&user))
}

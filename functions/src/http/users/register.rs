//! `POST /api/v1/users`: anyone registers; the role is always customer.

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::created;
use crate::{State, services::identity};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let user = identity::register(state, request.json()?).await?;
    Ok(created(&user))
}

//! `PUT /api/v1/users/{id}`: name, email, password (own, with the current one); role (admins only).

use orderly_http::{ApiError, HttpRequest, Response};

use crate::http::ok;
use crate::{State, services::users};

pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let id = request.path_id("id")?;
    let user = users::update(state, &request, id, request.json()?).await?;
    Ok(ok(&user))
}

//! `POST /api/v1/ws/ticket`: a single-use ticket to open one WebSocket connection (`?ticket=`) within 30 s,
//! or to renew one (`{"action":"renew","ticket":…}`); the connection lives no longer than the access token
//! the ticket was asked with.

use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};
use serde::Serialize;

use orderly_store::ws_tickets::Bearer;

use crate::State;
use crate::http::caller;
use crate::http::created;
use crate::services::{ServiceError, live_updates};

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConnectTicket {
    /// Pass as `?ticket=` when opening the WebSocket; works once.
    pub ticket: String,
    /// Seconds the ticket stays valid.
    pub expires_in: u64,
}

crate::redact::redacting_debug!(ConnectTicket { expires_in } secret { ticket });

#[utoipa::path(
    post,
    path = "/api/v1/ws/ticket",
    tag = "live updates",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "a ticket for one connection", body = ConnectTicket),
        (status = 401, description = "no valid credentials", body = ErrorBody),
        (status = 403, description = "an API key cannot hold a connection", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let caller = caller(&request);
    let (user_id, _) = caller.user()?;
    let session_id = caller
        .session_id()
        .ok_or(ApiError::Unauthorized("sign in first"))?;
    let access_expires_at = request
        .access_expires_at
        .ok_or(ApiError::Unauthorized("sign in first"))?;
    let bearer = Bearer {
        user_id,
        session_id,
        access_expires_at,
    };
    let ticket = live_updates::issue_ticket(&state.db, &bearer)
        .await
        .map_err(ServiceError::from)?;
    Ok(created(&ConnectTicket {
        ticket,
        expires_in: live_updates::TICKET_TTL.as_secs(),
    }))
}

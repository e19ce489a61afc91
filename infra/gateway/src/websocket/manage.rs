//! `POST/GET/DELETE /@connections/{id}`: API Gateway's management API, as `aws-sdk-apigatewaymanagement`
//! (or any other SDK) calls it. A connection that is not open — never was, closed by its client, deleted,
//! timed out — answers 410 `GoneException` to all three.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::Gateway;
use crate::invoke::new_request_id;
use crate::rest::gateway_response;

/// API Gateway's largest message, in either direction.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// A switchable fault on `POST @connections`: the next `count` calls (to `connection_id` only, when set)
/// answer `status` with `error_type`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushFault {
    pub status: u16,
    pub error_type: String,
    pub count: u32,
    #[serde(default)]
    pub connection_id: Option<String>,
}

fn gone(connection_id: &str) -> Response {
    tracing::debug!(
        connection_id,
        "management call for a connection that is not open"
    );
    gateway_response(StatusCode::GONE, "", "GoneException", &new_request_id())
}

pub(super) async fn manage_staged(
    state: State<Arc<Gateway>>,
    Path((_, id)): Path<(String, String)>,
    method: http::Method,
    body: Bytes,
) -> Response {
    manage(state, Path(id), method, body).await
}

pub(super) async fn manage(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    method: http::Method,
    body: Bytes,
) -> Response {
    let sockets = &gateway.sockets;
    match method {
        http::Method::POST => {
            if let Some(fault) = gateway.take_push_fault(&id) {
                tracing::warn!(connection_id = %id, status = fault.status, "injected fault on PostToConnection");
                let status =
                    StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return gateway_response(
                    status,
                    "injected fault",
                    &fault.error_type,
                    &new_request_id(),
                );
            }
            if body.len() > MAX_MESSAGE_BYTES {
                return gateway_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "Message of {} bytes is over the {MAX_MESSAGE_BYTES}-byte limit",
                        body.len()
                    ),
                    "PayloadTooLargeException",
                    &new_request_id(),
                );
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            if sockets.send(&id, text) {
                StatusCode::OK.into_response()
            } else {
                gone(&id)
            }
        }
        http::Method::GET => match sockets.describe(&id) {
            Some(description) => Json(description).into_response(),
            None => gone(&id),
        },
        http::Method::DELETE => {
            if sockets.close(&id, 1000, "Connection closed by the server") {
                StatusCode::NO_CONTENT.into_response()
            } else {
                gone(&id)
            }
        }
        _ => gateway_response(
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
            &new_request_id(),
        ),
    }
}

//! REST functions: one module per endpoint, each parsing its request, calling a service and shaping the
//! response. `front_door` wraps them all.

pub mod analytics;
pub mod api_keys;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod cors;
pub mod docs;
pub mod events;
pub mod front_door;
pub mod groups;
pub mod health;
pub mod inventory;
pub mod jobs;
pub mod merchants;
pub mod metrics;
pub mod notifications;
pub mod orders;
pub mod products;
pub mod reports;
pub mod users;
pub mod ws_tickets;

use orderly_http::{HttpRequest, Response, json_response};
use serde::Serialize;

use crate::services::Caller;

/// Who calls, as the services take it.
pub fn caller(request: &HttpRequest) -> Caller {
    Caller {
        principal: request.caller,
        request_id: request.request_id.clone(),
        source_ip: request.source_ip.clone(),
    }
}

/// A JSON response with this status.
pub fn json_response_of(status: u16, body: &impl Serialize) -> Response {
    json_response(status, body)
}

pub fn ok(body: &impl Serialize) -> Response {
    json_response(200, body)
}

pub fn created(body: &impl Serialize) -> Response {
    json_response(201, body)
}

//! REST functions: one module per endpoint, each parsing its request, calling a service and shaping the
//! response. `front_door` wraps them all.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod cors;
pub mod docs;
pub mod front_door;
pub mod health;
pub mod inventory;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod products;
pub mod reports;
pub mod users;
pub mod ws_tickets;

use orderly_http::{Response, json_response};
use serde::Serialize;

pub fn ok(body: &impl Serialize) -> Response {
    json_response(200, body)
}

pub fn created(body: &impl Serialize) -> Response {
    json_response(201, body)
}

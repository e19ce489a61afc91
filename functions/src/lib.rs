//! Every Orderly Lambda function. Each module under `http/`, `ws/`, `workers/`, `schedules/` and `ops/` is
//! one function: it parses its event, calls a service, and shapes the response. The registry maps the
//! `Handler` name from template.yaml to it; the `bootstrap-*` binaries (one per
//! artifact) and the local gateway both use it.

pub mod adapt;
pub mod config;
pub mod lambda;
pub mod logs;
pub mod registry;
pub mod state;

mod auth;
mod http;
pub mod ops;
mod redact;
mod schedules;
mod services;
#[cfg(test)]
mod testing;
mod workers;
mod ws;

pub use config::Config;
pub use http::docs::document as openapi_document;
pub use registry::{HANDLER_NAMES, Handler, Invocation, Secret, access, binary, lookup, secrets};
pub use state::{State, StateError};
pub use workers::handled_events;

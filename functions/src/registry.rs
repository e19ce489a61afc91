//! `Handler` name (template.yaml) → function. The one `bootstrap` binary runs the entry named by `_HANDLER`;
//! the local gateway invokes entries in-process.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::adapt::{self, FunctionError};
use crate::{State, auth, http, ops, schedules, workers, ws};

/// What Lambda's context tells a function about one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
}

pub type Handler =
    fn(Value, Invocation, &'static State) -> BoxFuture<'static, Result<Value, FunctionError>>;

macro_rules! registry {
    ($($name:literal => $kind:ident($handler:path)),* $(,)?) => {
        /// Every handler name, as template.yaml's `Handler` properties spell them.
        pub const HANDLER_NAMES: &[&str] = &[$($name),*];

        pub fn lookup(name: &str) -> Option<Handler> {
            match name {
                $($name => Some(|event, invocation, state| Box::pin(adapt::$kind(event, invocation, state, $handler)))),*,
                _ => None,
            }
        }
    };
}

registry! {
    "health" => http(http::health::handle),
    "migrate" => direct(ops::migrate::handle),
    "authorizer" => authorizer(auth::authorizer::handle),
    "cors-preflight" => api(http::cors::preflight),
    "openapi-document" => api(http::docs::openapi),
    "docs-page" => api(http::docs::page),
    "users-register" => http(http::users::register::handle),
    "users-me" => http(http::users::me::handle),
    "users-get" => http(http::users::get::handle),
    "users-update" => http(http::users::update::handle),
    "auth-login" => http(http::auth::login::handle),
    "auth-refresh" => http(http::auth::refresh::handle),
    "auth-logout" => http(http::auth::logout::handle),
    "api-keys-create" => http(http::api_keys::create::handle),
    "api-keys-list" => http(http::api_keys::list::handle),
    "api-keys-revoke" => http(http::api_keys::revoke::handle),
    "merchants-create" => http(http::merchants::create::handle),
    "merchants-list" => http(http::merchants::list::handle),
    "products-list" => http(http::products::list::handle),
    "products-get" => http(http::products::get::handle),
    "products-create" => http(http::products::create::handle),
    "products-update" => http(http::products::update::handle),
    "products-delete" => http(http::products::delete::handle),
    "inventory-get" => http(http::inventory::get::handle),
    "inventory-update" => http(http::inventory::update::handle),
    "inventory-low-stock" => http(http::inventory::low_stock::handle),
    "audit-logs-list" => http(http::audit::list::handle),
    "orders-place" => http(http::orders::place::handle),
    "orders-list" => http(http::orders::list::handle),
    "orders-get" => http(http::orders::get::handle),
    "orders-status" => http(http::orders::status::handle),
    "orders-cancel" => http(http::orders::cancel::handle),
    "admin-orders-list" => http(http::orders::admin_list::handle),
    "admin-orders-status" => http(http::orders::admin_status::handle),
    "notifications-list" => http(http::notifications::list::handle),
    "reports-daily" => http(http::reports::daily::handle),
    "payment" => sqs(workers::payment::handle),
    "fulfillment" => sqs(workers::fulfillment::handle),
    "notification" => sqs(workers::notification::handle),
    "report" => sqs(workers::report::handle),
    "orders-expire" => schedule(schedules::expire_orders::handle),
    "outbox-sweep" => schedule(schedules::outbox_sweep::handle),
    "ws-connect" => api(ws::connect::handle),
    "ws-disconnect" => api(ws::disconnect::handle),
    "ws-default" => api(ws::default::handle),
    "ws-push" => sqs(workers::ws_push::handle),
    "ws-prune" => schedule(schedules::ws_prune::handle),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_and_unknown_names_do_not() {
        for name in HANDLER_NAMES {
            assert!(
                lookup(name).is_some(),
                "{name} is listed but does not resolve"
            );
        }
        assert!(lookup("no-such-function").is_none());
    }
}

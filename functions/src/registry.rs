//! `Handler` name (template.yaml) → function. Each `bootstrap-*` binary runs the entry named by `_HANDLER`;
//! the local gateway invokes entries in-process.

use futures::future::BoxFuture;
use serde_json::Value;

use orderly_domain::access::Access;

use crate::adapt::{self, FunctionError};
use crate::{State, auth, http, ops, schedules, workers, ws};

/// What Lambda's context tells a function about one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    /// When Lambda stops the invocation; long jobs hand their work over before it.
    pub deadline: Option<std::time::SystemTime>,
}

pub type Handler =
    fn(Value, Invocation, &'static State) -> BoxFuture<'static, Result<Value, FunctionError>>;

macro_rules! registry {
    ($($artifact:ident $binary:literal {
        $($name:literal => $kind:ident $([$access:ident])? ($handler:path)),* $(,)?
    })*) => {
        /// Every handler name, as template.yaml's `Handler` properties spell them.
        pub const HANDLER_NAMES: &[&str] = &[$($($name),*),*];

        /// Any handler, whatever its artifact: for the local gateway and the tools.
        pub fn lookup(name: &str) -> Option<Handler> {
            None$(.or_else(|| $artifact::lookup(name)))*
        }

        /// Who may call a REST function (`None` for functions that are not behind the front door). A test
        /// keeps it in step with the template's authorizers and the authorizer's admin-only routes.
        pub fn access(name: &str) -> Option<Access> {
            match name {
                $($($name => None $(.or(Some(Access::$access)))?),*),*,
                _ => None,
            }
        }

        /// The binary (template.yaml's `BuildProperties.Binary`) that carries `name`'s handler.
        pub fn binary(name: &str) -> Option<&'static str> {
            match name {
                $($($name)|* => Some($binary)),*,
                _ => None,
            }
        }

        /// Each artifact's own lookup: its binary calls only this one, so the linker leaves out every
        /// other artifact's handlers (docs/adr/0023-four-artifacts-by-kind-of-work.md).
        $(pub mod $artifact {
            use super::*;

            pub fn lookup(name: &str) -> Option<Handler> {
                match name {
                    $($name => Some(|event, invocation, state| Box::pin(adapt::$kind(event, invocation, state, $(Access::$access,)? $handler)))),*,
                    _ => None,
                }
            }
        })*
    };
}

registry! {
    // What API Gateway invokes while a client waits: REST routes, the authorizer, WebSocket routes.
    api "bootstrap-api" {
        "health" => http[Public](http::health::handle),
        "authorizer" => authorizer(auth::authorizer::handle),
        "cors-preflight" => api(http::cors::preflight),
        "openapi-document" => api(http::docs::openapi),
        "users-register" => http[Public](http::users::register::handle),
        "users-me" => http[Authenticated](http::users::me::handle),
        "users-get" => http[Authenticated](http::users::get::handle),
        "users-update" => http[Authenticated](http::users::update::handle),
        "auth-login" => http[Public](http::auth::login::handle),
        "auth-refresh" => http[Public](http::auth::refresh::handle),
        "auth-logout" => http[Authenticated](http::auth::logout::handle),
        "api-keys-create" => http[Admin](http::api_keys::create::handle),
        "api-keys-list" => http[Admin](http::api_keys::list::handle),
        "api-keys-revoke" => http[Admin](http::api_keys::revoke::handle),
        "merchants-create" => http[Admin](http::merchants::create::handle),
        "merchants-list" => http[Admin](http::merchants::list::handle),
        "merchants-update" => http[Admin](http::merchants::update::handle),
        "products-list" => http[Public](http::products::list::handle),
        "products-get" => http[Public](http::products::get::handle),
        "products-create" => http[Admin](http::products::create::handle),
        "products-update" => http[Admin](http::products::update::handle),
        "products-delete" => http[Admin](http::products::delete::handle),
        "inventory-get" => http[Public](http::inventory::get::handle),
        "inventory-update" => http[Admin](http::inventory::update::handle),
        "inventory-low-stock" => http[Admin](http::inventory::low_stock::handle),
        "audit-logs-list" => http[Admin](http::audit::list::handle),
        "orders-place" => http[Authenticated](http::orders::place::handle),
        "orders-list" => http[Authenticated](http::orders::list::handle),
        "orders-get" => http[Authenticated](http::orders::get::handle),
        "orders-status" => http[Authenticated](http::orders::status::handle),
        "orders-cancel" => http[Authenticated](http::orders::cancel::handle),
        "admin-orders-list" => http[Admin](http::orders::admin_list::handle),
        "admin-orders-status" => http[Admin](http::orders::admin_status::handle),
        "notifications-list" => http[Authenticated](http::notifications::list::handle),
        "notifications-read" => http[Authenticated](http::notifications::read::handle),
        "notifications-read-all" => http[Authenticated](http::notifications::read_all::handle),
        "notifications-send" => http[Admin](http::notifications::send::handle),
        "groups-create" => http[Admin](http::groups::create::handle),
        "groups-list" => http[Admin](http::groups::list::handle),
        "groups-members-add" => http[Admin](http::groups::members_add::handle),
        "groups-members-remove" => http[Admin](http::groups::members_remove::handle),
        "groups-members-list" => http[Admin](http::groups::members_list::handle),
        "groups-broadcast" => http[Admin](http::groups::broadcast::handle),
        "reports-daily" => http[Admin](http::reports::daily::handle),
        "events-ingest" => http[Authenticated](http::events::ingest::handle),
        "metrics-report" => http[Admin](http::metrics::report::handle),
        "analytics-daily" => http[Admin](http::analytics::daily::handle),
        "archives-list" => http[Admin](http::archives::list::handle),
        "archives-restore" => http[Admin](http::archives::restore::handle),
        "jobs-settlement-create" => http[Admin](http::jobs::create_settlement::handle),
        "jobs-report-export-create" => http[Admin](http::jobs::create_report_export::handle),
        "jobs-get" => http[Admin](http::jobs::get::handle),
        "jobs-list" => http[Admin](http::jobs::list::handle),
        "jobs-cancel" => http[Admin](http::jobs::cancel::handle),
        "downloads-get" => http[Admin](http::jobs::download::handle),
        "ws-ticket" => http[Authenticated](http::ws_tickets::create::handle),
        "ws-connect" => api(ws::connect::handle),
        "ws-disconnect" => api(ws::disconnect::handle),
        "ws-default" => api(ws::default::handle),
    }
    // What queues and schedules invoke.
    events "bootstrap-events" {
        "payment" => sqs(workers::payment::handle),
        "fulfillment" => sqs(workers::fulfillment::handle),
        "notification" => sqs(workers::notification::handle),
        "report" => sqs(workers::report::handle),
        "orders-expire" => schedule(schedules::expire_orders::handle),
        "outbox-relay" => schedule(schedules::outbox_relay::handle),
        "outbox-sweep" => schedule(schedules::outbox_sweep::handle),
        "payments-reconcile" => schedule(schedules::payments_reconcile::handle),
        "housekeeping" => schedule(schedules::housekeeping::handle),
        "ws-push" => sqs(workers::ws_push::handle),
        "settlement" => sqs_timed(workers::settlement::handle),
        "flash-sale-reserve" => sqs_timed(workers::flash_sale::handle),
        "ws-prune" => schedule(schedules::ws_prune::handle),
        "metrics-upkeep" => schedule(schedules::metrics_upkeep::handle),
        "events-archive" => schedule(schedules::events_archive::handle),
    }
    // Swagger UI: its assets are a megabyte that no other function needs.
    docs "bootstrap-docs" {
        "docs-page" => api(http::docs::page),
    }
    // Migrations and the first admin: refinery and its file-name parser, run once per deploy.
    migrate "bootstrap-migrate" {
        "migrate" => direct(ops::migrate::handle),
    }
}

/// A secret a function is given (by name, in its environment, with the right to read it). Least
/// privilege: a function gets exactly the secrets listed here for its handler, and a test holds
/// template.yaml to that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Secret {
    /// Database credentials of the runtime role (reads and writes rows; no DDL).
    Database,
    /// Database credentials of the schema's owner (runs migrations).
    DatabaseOwner,
    /// The access-token signing key.
    SigningKey,
    /// The first admin's email and password.
    FirstAdmin,
}

pub fn secrets(handler: &str) -> &'static [Secret] {
    match handler {
        "cors-preflight" | "openapi-document" | "docs-page" => &[],
        "migrate" => &[Secret::DatabaseOwner, Secret::FirstAdmin],
        "authorizer" | "auth-login" | "auth-refresh" => &[Secret::Database, Secret::SigningKey],
        _ => &[Secret::Database],
    }
}

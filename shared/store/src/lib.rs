//! Postgres: the connection pool, the migrations and the repositories. All SQL lives in this crate and
//! every statement is parameterised.

/// The condition that `$column` (a user id) is on a broadcast's member page, `($2, $3]` with no bound
/// where that parameter is NULL. A statement using it is planned with its bounds (not a cached generic
/// plan), so that an open bound still reads only the page's range of an index on the column.
macro_rules! on_member_page {
    ($column:literal) => {
        concat!(
            "($2::uuid IS NULL OR ",
            $column,
            " > $2) AND ($3::uuid IS NULL OR ",
            $column,
            " <= $3)"
        )
    };
}

pub mod api_keys;
pub mod archives;
pub mod audit;
mod error;
pub mod flash_sales;
pub mod groups;
pub mod health;
pub mod idempotency;
pub mod inventory;
pub mod jobs;
pub mod ledger;
pub mod merchants;
pub mod metrics;
pub mod migrations;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod payments;
mod pool;
mod prepared;
pub mod products;
pub mod rate_limits;
pub mod reports;
pub mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transaction;
pub mod users;
pub mod ws_connections;
pub mod ws_tickets;

pub use deadpool_postgres::{GenericClient, Pool, PoolError, Transaction};
pub use error::StoreError;
pub use pool::{PoolSettings, connect, connect_with, unconfigured};
pub use tokio_postgres::Config as PgConfig;
pub use tokio_postgres::Error as PgError;

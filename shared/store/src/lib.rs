//! Postgres: the connection pool, the migrations and the repositories. All SQL lives in this crate and
//! every statement is parameterised.

mod error;
pub mod health;
pub mod migrations;
mod pool;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod ws_connections;

pub use deadpool_postgres::Pool;
pub use error::StoreError;
pub use pool::{PoolSettings, connect};

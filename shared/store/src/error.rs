use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DATABASE_URL is not a valid Postgres URL: {0}")]
    BadUrl(#[source] tokio_postgres::Error),
    #[error("no database connection available: {0}")]
    Unavailable(#[from] deadpool_postgres::PoolError),
    #[error("database error: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
    #[error("seeding failed: {0}")]
    Seed(String),
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

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
    /// A row for a partitioned table whose partition does not exist (yet): the partition schedule is
    /// behind, or the row is outside every range kept.
    #[error("no partition for the row: {0}")]
    NoPartition(String),
    /// A stored value that cannot be read back as what it should be.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
}

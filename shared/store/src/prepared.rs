//! Statements prepared once per connection, kept in the pool's statement cache. `tokio-postgres` runs a
//! statement given as text as two round trips (parse, then execute), and Postgres parses, analyses and
//! plans it again every time; a cached statement is one round trip and is planned once. The statements
//! that every order runs through the pipeline go through here (docs/adr/0016). Only for
//! constant SQL text: each distinct text stays prepared on the connection for its life.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn execute(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Error> {
    db.execute(&db.prepare_cached(sql).await?, params).await
}

pub(crate) async fn query(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Error> {
    db.query(&db.prepare_cached(sql).await?, params).await
}

pub(crate) async fn query_one(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, Error> {
    db.query_one(&db.prepare_cached(sql).await?, params).await
}

pub(crate) async fn query_opt(
    db: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Error> {
    db.query_opt(&db.prepare_cached(sql).await?, params).await
}

use std::time::Duration;

use deadpool_postgres::Pool;

use crate::StoreError;

/// One round trip, bounded: a health check must answer even when the database hangs.
pub async fn ping(pool: &Pool, within: Duration) -> Result<(), StoreError> {
    let check = async {
        let client = pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok::<_, StoreError>(())
    };
    tokio::time::timeout(within, check)
        .await
        .map_err(|_| StoreError::Timeout(within))?
}

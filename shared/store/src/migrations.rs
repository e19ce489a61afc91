use deadpool_postgres::Pool;

use crate::StoreError;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Applies every pending migration in order and returns the versions applied now (empty when the
/// schema was already current). Safe to run concurrently: refinery takes a lock on its history table.
pub async fn apply(pool: &Pool) -> Result<Vec<String>, StoreError> {
    let mut client = pool.get().await?;
    let report = embedded::migrations::runner()
        .set_grouped(true)
        .run_async(&mut **client)
        .await?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}

/// Checksums of the migrations compiled into this binary, in order.
pub fn embedded_checksums() -> Vec<u64> {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| m.checksum())
        .collect()
}

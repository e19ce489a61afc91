//! An archive restore job's work: the month's object is streamed from S3 through gunzip into `COPY`, in
//! one transaction that also marks the archive restored, and only if exactly the archived number of rows
//! came back. Leases, failures and the end of the job are `job_runs`'.

use std::io::Write;

use chrono::NaiveDate;
use flate2::write::GzDecoder;
use futures::StreamExt;
use orderly_domain::jobs::RestoreScope;
use orderly_store::archives;
use orderly_store::jobs::{self, Held};
use uuid::Uuid;

use super::ServiceError;
use super::job_runs::{Run, cancelled, complete_without_file};
use crate::State;

pub(super) async fn restore(state: &State, held: Held, owner: Uuid) -> Result<Run, ServiceError> {
    let job_id = held.job.id;
    let scope: RestoreScope = serde_json::from_value(held.job.params.clone()).map_err(|e| {
        ServiceError::internal(format!("job {job_id} has unreadable parameters: {e}"))
    })?;
    if held.job.cancel_requested {
        return cancelled(state, job_id, owner, None).await;
    }
    let month = scope.month;
    let archive = archives::find(&state.db.get().await?, month)
        .await?
        .ok_or_else(|| ServiceError::internal(format!("no archive of {month}")))?;
    jobs::set_total(&state.db.get().await?, job_id, archive.rows).await?;
    orderly_store::metrics::ensure_partitions(&state.db.get().await?, month, month).await?;

    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let held_already = archives::count_month(&tx, month).await?;
    if held_already == 0 {
        let loaded = archives::import_month(&tx, unzipped(state, &archive.s3_key).await?).await?;
        if loaded as i64 != archive.rows {
            // Dropping the transaction undoes the load.
            return Err(ServiceError::internal(format!(
                "the archive of {month} gave {loaded} rows, {} were archived; nothing restored",
                archive.rows
            )));
        }
    } else if held_already != archive.rows {
        return Err(ServiceError::internal(format!(
            "{month} already holds {held_already} rows of {} archived; not mixing them",
            archive.rows
        )));
    }
    archives::mark_restored(&tx, month).await?;
    tx.commit().await?;
    drop(client);
    if !jobs::set_processed(&state.db.get().await?, job_id, owner, archive.rows).await? {
        return Ok(Run::NotMine);
    }
    tracing::info!(%month, rows = archive.rows, "archived month restored");
    complete_without_file(state, job_id, owner, archive.rows).await
}

/// The object's CSV, decompressed chunk by chunk as it arrives.
async fn unzipped(
    state: &State,
    key: &str,
) -> Result<impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>>, ServiceError> {
    let compressed = state.bucket.object_stream(key).await?;
    let mut gunzip = Some(GzDecoder::new(Vec::new()));
    Ok(compressed
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .map(move |chunk| {
            let Some(decoder) = gunzip.as_mut() else {
                return Ok(Vec::new());
            };
            match chunk {
                Some(Ok(bytes)) => {
                    decoder.write_all(&bytes)?;
                    Ok(std::mem::take(decoder.get_mut()))
                }
                Some(Err(e)) => Err(std::io::Error::other(e.to_string())),
                None => gunzip.take().map_or(Ok(Vec::new()), |d| d.finish()),
            }
        }))
}

/// The month an admin names (`YYYY-MM`), as the first day of it.
pub fn parse_month(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{raw}-01"), "%Y-%m-%d").ok()
}

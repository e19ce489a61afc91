//! A report export job's work: the daily sales report of a range of days as a CSV, from the rollups the
//! report function keeps (at most 366 rows, so one step). Leases, failures and the end of the job are
//! `job_runs`'.

use orderly_domain::reports::SalesDay;
use orderly_domain::settlement::DayRange;
use orderly_store::jobs::{self, Held};
use orderly_store::reports;
use uuid::Uuid;

use super::ServiceError;
use super::job_runs::{OnePage, ResultFile, Run, cancelled, write_file};
use crate::State;

pub(super) async fn export(state: &State, held: Held, owner: Uuid) -> Result<Run, ServiceError> {
    let job_id = held.job.id;
    let days: DayRange = serde_json::from_value(held.job.params.clone()).map_err(|e| {
        ServiceError::internal(format!("job {job_id} has unreadable parameters: {e}"))
    })?;
    let key = held.job.kind.result_key(job_id);
    if let Some(upload_id) = &held.upload_id {
        state.bucket.abort_upload(&key, upload_id).await?;
    }
    let db = state.db.get().await?;
    if held.job.cancel_requested {
        drop(db);
        return cancelled(state, job_id, owner, None).await;
    }
    let lines: Vec<String> = reports::daily(&db, days.from, days.to)
        .await?
        .iter()
        .map(SalesDay::csv)
        .collect();
    let count = i64::try_from(lines.len()).expect("at most 366 days");
    jobs::set_total(&db, job_id, count).await?;
    if !jobs::set_processed(&db, job_id, owner, count).await? {
        return Ok(Run::NotMine);
    }
    drop(db);

    let file_name = held.job.kind.file_name(job_id);
    let file = ResultFile {
        key: &key,
        file_name: &file_name,
        header: SalesDay::CSV_HEADER,
    };
    write_file(state, job_id, owner, file, OnePage(Some(lines))).await
}

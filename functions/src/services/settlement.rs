//! A settlement job's work: walk the ledger in key-range batches, then write the file from the totals.
//! The range is cut into slices of whole days, walked at once, each on its own connection (one more
//! counts the total meanwhile); each batch is counted into the job's totals per merchant and day in the
//! transaction that moves its slice's cursor. Leases, handover, failures and the end of the job are
//! `job_runs`'.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::SystemTime;

use chrono::NaiveDate;
use orderly_domain::jobs::{Job, SettlementScope};
use orderly_domain::settlement::{DayRange, SettlementLine};
use orderly_store::jobs::{self, Held, Slice, Step};
use uuid::Uuid;

use super::ServiceError;
use super::job_runs::{
    PROGRESS_EVERY, Pages, ProgressReport, ResultFile, Run, cancelled, hand_over, near, write_file,
};
use crate::State;

/// Settlement lines read per page while the file is written.
const LINES_PER_PAGE: i64 = 5_000;

pub(super) async fn settle(
    state: &State,
    held: Held,
    owner: Uuid,
    deadline: Option<SystemTime>,
) -> Result<Run, ServiceError> {
    let job_id = held.job.id;
    let scope: SettlementScope = serde_json::from_value(held.job.params.clone()).map_err(|e| {
        ServiceError::internal(format!("job {job_id} has unreadable parameters: {e}"))
    })?;
    let key = held.job.kind.result_key(job_id);
    if let Some(upload_id) = &held.upload_id {
        // An earlier run died while writing the file: the totals are complete, the file starts over.
        state.bucket.abort_upload(&key, upload_id).await?;
    } else if let Some(stopped) = walk(state, &held, owner, deadline, &scope).await? {
        return Ok(stopped);
    }
    let file_name = held.job.kind.file_name(job_id);
    let file = ResultFile {
        key: &key,
        file_name: &file_name,
        header: SettlementLine::CSV_HEADER,
    };
    let lines = SettlementLines {
        job_id,
        after: None,
    };
    write_file(state, job_id, owner, file, lines).await
}

/// Why a walker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    SliceDone,
    NearDeadline,
    CancelRequested,
    LeaseLost,
}

/// Walks every slice of the job's range to its end, at once. `None` when the totals are complete;
/// otherwise how the run ended (handed over, cancelled, lease lost). Every walker sees the same lease,
/// cancel request and clock, so they stop for the same reason within a batch of each other.
async fn walk(
    state: &State,
    held: &Held,
    owner: Uuid,
    deadline: Option<SystemTime>,
    scope: &SettlementScope,
) -> Result<Option<Run>, ServiceError> {
    let job_id = held.job.id;
    let (from, until) = scope.days.instants();
    let planned: Vec<_> = scope
        .days
        .split(state.config.settlement_walkers)
        .iter()
        .map(DayRange::instants)
        .collect();
    let slices = jobs::slices(&state.db.get().await?, job_id, &planned).await?;
    // The total is counted on a connection of its own while the walkers start: on two cores that
    // takes the count (a tenth of the job for a month of 1,000,000 rows) off the job's time.
    let total = OnceLock::new();
    let count = async {
        if held.job.total.is_none() {
            let db = state.db.get().await?;
            let counted = jobs::count_transactions(&db, from, until, scope.merchant_id).await?;
            jobs::set_total(&db, job_id, counted).await?;
            let _ = total.set(counted);
        }
        Ok::<_, ServiceError>(())
    };
    let walkers = slices
        .iter()
        .map(|slice| walk_slice(state, job_id, *slice, owner, deadline, scope.merchant_id));
    let work = async { tokio::try_join!(count, futures::future::try_join_all(walkers)) };
    // The job row is brought up to date beside the walk (so that walkers never queue for it), and
    // progress goes out from there, so a slow publish never holds a batch up.
    let ((), stops) = tokio::select! {
        done = work => done?,
        never = report_progress(state, &held.job, owner, &total) => match never {},
    };
    if stops.contains(&Stop::LeaseLost) {
        return Ok(Some(Run::NotMine));
    }
    if stops.contains(&Stop::CancelRequested) {
        return Ok(Some(cancelled(state, job_id, owner, None).await?));
    }
    let lease = state.config.settlement_lease;
    let Some(processed) = jobs::sync_walk(&state.db.get().await?, job_id, owner, lease).await?
    else {
        return Ok(Some(Run::NotMine));
    };
    if stops.contains(&Stop::NearDeadline) {
        hand_over(state, job_id, held.job.kind, owner, held.job.created_by).await?;
        return Ok(Some(Run::HandedOver { processed }));
    }
    Ok(None)
}

/// Every `PROGRESS_EVERY` while the walk lasts: renews the lease, brings the job's `processed` up to
/// what the slices counted, and tells the admin. It is dropped when the walk ends (the job's end is
/// announced through the outbox). A failure here is only logged: the lease has minutes to spare.
async fn report_progress(
    state: &State,
    job: &Job,
    owner: Uuid,
    total: &OnceLock<i64>,
) -> Infallible {
    let mut progress = ProgressReport::of(job);
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let synced = async {
            let db = state.db.get().await?;
            Ok::<_, ServiceError>(
                jobs::sync_walk(&db, job.id, owner, state.config.settlement_lease).await?,
            )
        };
        match synced.await {
            Ok(Some(processed)) => {
                if let Some(total) = total.get() {
                    progress.total(*total);
                }
                progress.processed(state, processed).await;
            }
            Ok(None) => {} // the walkers see it at their next batch
            Err(error) => {
                tracing::warn!(job_id = %job.id, %error, "could not record the walk's progress")
            }
        }
    }
}

/// Walks one slice from its cursor to its end, a batch per statement.
async fn walk_slice(
    state: &State,
    job_id: Uuid,
    slice: Slice,
    owner: Uuid,
    deadline: Option<SystemTime>,
    merchant_id: Option<Uuid>,
) -> Result<Stop, ServiceError> {
    let batch = state.config.settlement_batch_size;
    loop {
        if deadline.is_some_and(near) {
            return Ok(Stop::NearDeadline);
        }
        let db = state.db.get().await?;
        match jobs::settle_batch(&db, job_id, slice.number, owner, merchant_id, batch).await? {
            Step::Counted { rows } if rows < batch => return Ok(Stop::SliceDone),
            Step::Counted { .. } => {}
            Step::CancelRequested => return Ok(Stop::CancelRequested),
            Step::LeaseLost => return Ok(Stop::LeaseLost),
        }
    }
}

/// The job's settlement totals in file order (day, then merchant), a page at a time.
struct SettlementLines {
    job_id: Uuid,
    after: Option<(NaiveDate, Uuid)>,
}

impl Pages for SettlementLines {
    async fn next_page(&mut self, state: &State) -> Result<Vec<String>, ServiceError> {
        let lines = jobs::settlement_lines(
            &state.db.get().await?,
            self.job_id,
            self.after,
            LINES_PER_PAGE,
        )
        .await?;
        self.after = lines.last().map(|last| (last.date, last.merchant_id));
        Ok(lines.iter().map(SettlementLine::csv).collect())
    }
}

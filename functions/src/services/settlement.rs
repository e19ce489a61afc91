//! A settlement job's work: walk the ledger in key-range batches (each batch counted into the job's
//! totals per merchant and day in the transaction that moves its cursor), then write the file from the
//! totals. Leases, handover, failures and the end of the job are `job_runs`'.

use std::time::SystemTime;

use chrono::NaiveDate;
use orderly_domain::jobs::SettlementScope;
use orderly_domain::settlement::SettlementLine;
use orderly_store::jobs::{self, Held, Step};
use uuid::Uuid;

use super::ServiceError;
use super::job_runs::{
    Pages, ProgressReport, ResultFile, Run, cancelled, hand_over, near, write_file,
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
    let db = state.db.get().await?;
    let scope: SettlementScope = serde_json::from_value(held.job.params.clone()).map_err(|e| {
        ServiceError::internal(format!("job {job_id} has unreadable parameters: {e}"))
    })?;
    let (from, until) = scope.days.instants();
    let mut progress = ProgressReport::of(&held.job);
    if held.job.total.is_none() {
        let total = jobs::count_transactions(&db, from, until, scope.merchant_id).await?;
        jobs::set_total(&db, job_id, total).await?;
        progress.total(total);
    }
    let key = held.job.kind.result_key(job_id);
    if let Some(upload_id) = &held.upload_id {
        // An earlier run died while writing the file: the totals are complete, the file starts over.
        state.bucket.abort_upload(&key, upload_id).await?;
    }
    drop(db);

    let batch = state.config.settlement_batch_size;
    let mut processed = held.job.processed;
    if held.upload_id.is_none() {
        loop {
            if deadline.is_some_and(near) {
                hand_over(state, job_id, held.job.kind, owner, held.job.created_by).await?;
                return Ok(Run::HandedOver { processed });
            }
            let mut client = state.db.get().await?;
            let tx = client.transaction().await?;
            let step = jobs::settle_batch(
                &tx,
                job_id,
                owner,
                state.config.settlement_lease,
                from,
                until,
                scope.merchant_id,
                batch,
            )
            .await?;
            tx.commit().await?;
            match step {
                Step::Counted {
                    rows,
                    processed: counted,
                } => {
                    processed = counted;
                    if rows < batch {
                        break;
                    }
                    progress.processed(state, processed).await;
                }
                Step::CancelRequested => return cancelled(state, job_id, owner, None).await,
                Step::LeaseLost => return Ok(Run::NotMine),
            }
        }
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

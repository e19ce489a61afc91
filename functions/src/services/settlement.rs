//! Running a settlement job: take it under a lease, walk the ledger in key-range batches (each batch
//! counted into the job's totals in the transaction that moves its cursor), then stream the file to S3
//! part by part. A run that nears its time limit hands the job over through the outbox; one that dies
//! is announced again by the outbox sweep once its lease has run out, and resumed from its cursor.

use std::time::{Duration, SystemTime};

use orderly_domain::events::{Event, JobRequested};
use orderly_domain::jobs::{JobKind, JobStatus, SettlementScope};
use orderly_domain::settlement::SettlementLine;
use orderly_store::jobs::{self, Step};
use orderly_store::orders::OutboxEvent;
use orderly_store::outbox as outbox_store;
use uuid::Uuid;

use super::jobs::result_key;
use super::{ServiceError, outbox};
use crate::State;

/// A run stops taking batches this long before its invocation's deadline and hands the job over.
pub const HANDOVER_MARGIN: Duration = Duration::from_secs(30);
/// Settlement lines read per page while the file is written.
const LINES_PER_PAGE: i64 = 5_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Run {
    Completed {
        processed: i64,
    },
    Cancelled,
    /// Near the time limit: the job was released and announced again.
    HandedOver {
        processed: i64,
    },
    /// Nothing to do: the job is finished, unknown, or another run holds it.
    NotMine,
}

pub async fn run(
    state: &State,
    job_id: Uuid,
    deadline: Option<SystemTime>,
) -> Result<Run, ServiceError> {
    let owner = orderly_domain::new_id();
    let db = state.db.get().await?;
    let Some(held) = jobs::claim(&db, job_id, owner, state.config.settlement_lease).await? else {
        return Ok(Run::NotMine);
    };
    let scope: SettlementScope = serde_json::from_value(held.job.params.clone()).map_err(|e| {
        ServiceError::internal(format!("job {job_id} has unreadable parameters: {e}"))
    })?;
    let (from, until) = scope.days.instants();
    if held.job.total.is_none() {
        let total = jobs::count_transactions(&db, from, until, scope.merchant_id).await?;
        jobs::set_total(&db, job_id, total).await?;
    }
    let key = result_key(job_id);
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
                hand_over(state, job_id, owner, held.job.created_by).await?;
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
                }
                Step::CancelRequested => return cancelled(state, job_id, owner, None).await,
                Step::LeaseLost => return Ok(Run::NotMine),
            }
        }
    }
    write_file(state, job_id, owner, &key).await
}

fn near(deadline: SystemTime) -> bool {
    deadline
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left < HANDOVER_MARGIN)
        || SystemTime::now() >= deadline
}

/// Announces again the jobs whose run died (their lease ran out without a handover); returns how many.
/// The outbox sweep runs it every minute, so a job whose run was killed resumes within a minute or two
/// of its lease's end, whatever happened to the message that started it.
pub async fn revive_stalled(state: &State) -> Result<usize, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let mut events = Vec::new();
    for (job_id, kind, requested_by) in jobs::release_stalled(&tx, 100).await? {
        let event = announcement(job_id, kind, requested_by);
        outbox_store::insert(&tx, &event).await?;
        events.push(event);
    }
    tx.commit().await?;
    drop(client);
    outbox::publish_committed(state, &events).await;
    Ok(events.len())
}

fn announcement(job_id: Uuid, kind: JobKind, requested_by: Option<Uuid>) -> OutboxEvent {
    outbox::event(
        Event::JobRequested(JobRequested {
            job_id,
            kind,
            requested_by: requested_by.unwrap_or(Uuid::nil()),
        }),
        None,
    )
}

/// Releases the job and announces it again in one transaction, so the next run (another invocation,
/// with a fresh time limit) carries on from the cursor.
async fn hand_over(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    requested_by: Option<Uuid>,
) -> Result<(), ServiceError> {
    let event = announcement(job_id, JobKind::Settlement, requested_by);
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if jobs::release(&tx, job_id, owner).await? {
        outbox_store::insert(&tx, &event).await?;
    }
    tx.commit().await?;
    drop(client);
    outbox::publish_committed(state, &[event]).await;
    Ok(())
}

async fn cancelled(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    upload: Option<(&str, &str)>,
) -> Result<Run, ServiceError> {
    if let Some((key, upload_id)) = upload {
        state.bucket.abort_upload(key, upload_id).await?;
    }
    jobs::finish(
        &state.db.get().await?,
        job_id,
        owner,
        JobStatus::Cancelled,
        None,
        None,
    )
    .await?;
    Ok(Run::Cancelled)
}

/// Streams the job's lines to S3 in file order, one part per 5 MiB, and completes the job; a cancel
/// asked for meanwhile aborts the upload instead, so no object is left behind.
async fn write_file(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    key: &str,
) -> Result<Run, ServiceError> {
    let disposition = format!("attachment; filename=\"settlement-{job_id}.csv\"");
    let mut upload = state
        .bucket
        .start_upload(key, "text/csv", &disposition)
        .await?;
    let upload_id = upload.upload_id.clone();
    if !jobs::set_upload(&state.db.get().await?, job_id, owner, Some(&upload_id)).await? {
        state.bucket.abort_upload(key, &upload_id).await?;
        return Ok(Run::NotMine);
    }
    let mut buffer = SettlementLine::CSV_HEADER.as_bytes().to_vec();
    let mut after = None;
    loop {
        let lines =
            jobs::settlement_lines(&state.db.get().await?, job_id, after, LINES_PER_PAGE).await?;
        let Some(last) = lines.last() else { break };
        after = Some((last.date, last.merchant_id));
        for line in &lines {
            buffer.extend_from_slice(line.csv().as_bytes());
        }
        if buffer.len() >= orderly_cloud::MIN_PART_BYTES {
            state
                .bucket
                .upload_part(&mut upload, std::mem::take(&mut buffer))
                .await?;
        }
    }
    if !buffer.is_empty() {
        state.bucket.upload_part(&mut upload, buffer).await?;
    }
    let job = jobs::find(&state.db.get().await?, job_id)
        .await?
        .ok_or_else(|| ServiceError::internal("the job vanished"))?;
    if job.cancel_requested {
        return cancelled(state, job_id, owner, Some((key, &upload_id))).await;
    }
    state.bucket.complete_upload(upload).await?;
    jobs::finish(
        &state.db.get().await?,
        job_id,
        owner,
        JobStatus::Completed,
        Some(key),
        None,
    )
    .await?;
    Ok(Run::Completed {
        processed: job.processed,
    })
}

//! Running a background job, whatever its kind: take it under a lease, do the kind's work, and end it.
//! A run that nears its time limit hands the job over through the outbox; one that dies is announced
//! again by the outbox sweep once its lease has run out, and resumed from where it got to. A run that
//! fails is retried the same way, up to `MAX_FAILED_RUNS`; then (or at once, for an error no retry can
//! fix) the job is FAILED. The admin who asked follows it live: `job.progress` at most twice a second
//! while it runs, and once when it ends. Every kind's result is a CSV streamed to S3 by `write_file`.

use std::time::{Duration, Instant, SystemTime};

use orderly_domain::events::{Event, JobProgress, JobRequested};
use orderly_domain::jobs::{Job, JobKind, JobStatus};
use orderly_store::jobs;
use orderly_store::orders::OutboxEvent;
use orderly_store::outbox as outbox_store;
use uuid::Uuid;

use super::{ServiceError, archive_restore, outbox, report_export, settlement};
use crate::State;

/// A run stops taking batches this long before its invocation's deadline and hands the job over.
pub const HANDOVER_MARGIN: Duration = Duration::from_secs(30);
/// Failed runs after which a job is FAILED.
pub const MAX_FAILED_RUNS: i32 = 3;
/// The least time between two progress updates of one run.
pub(super) const PROGRESS_EVERY: Duration = Duration::from_millis(500);

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
    /// The run failed and the job will be tried again after the lease.
    WillRetry {
        failed_runs: i32,
    },
    /// The run failed and the job gave up.
    Failed {
        error: String,
    },
}

/// Runs the job the message names. An error is returned only when the failure could not even be
/// recorded: then the message itself is what brings the job back.
pub async fn run(
    state: &State,
    job_id: Uuid,
    deadline: Option<SystemTime>,
) -> Result<Run, ServiceError> {
    let owner = orderly_domain::new_id();
    let claimed = jobs::claim(
        &state.db.get().await?,
        job_id,
        owner,
        state.config.settlement_lease,
    )
    .await?;
    let Some(held) = claimed else {
        return Ok(Run::NotMine);
    };
    let work = match held.job.kind {
        JobKind::Settlement => settlement::settle(state, held, owner, deadline).await,
        JobKind::ReportExport => report_export::export(state, held, owner).await,
        JobKind::ArchiveRestore => archive_restore::restore(state, held, owner).await,
    };
    match work {
        Ok(run) => Ok(run),
        Err(error) => failed(state, job_id, owner, error).await,
    }
}

/// Tells the admin who asked how far the job got, at most once per `PROGRESS_EVERY`.
pub(super) struct ProgressReport {
    job: Job,
    last: Option<Instant>,
}

impl ProgressReport {
    pub(super) fn of(job: &Job) -> Self {
        ProgressReport {
            job: job.clone(),
            last: None,
        }
    }

    pub(super) fn total(&mut self, total: i64) {
        self.job.total = Some(total);
    }

    /// Walkers report out of order; progress only ever moves forward.
    pub(super) async fn processed(&mut self, state: &State, processed: i64) {
        if processed < self.job.processed {
            return;
        }
        self.job.processed = processed;
        if self.last.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
            outbox::publish_transient(state, Event::JobProgress(JobProgress::of(&self.job))).await;
            self.last = Some(Instant::now());
        }
    }
}

pub(super) fn near(deadline: SystemTime) -> bool {
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
pub(super) async fn hand_over(
    state: &State,
    job_id: Uuid,
    kind: JobKind,
    owner: Uuid,
    requested_by: Option<Uuid>,
) -> Result<(), ServiceError> {
    let event = announcement(job_id, kind, requested_by);
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if jobs::release(&tx, job_id, owner).await? {
        outbox_store::insert(&tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn cancelled(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    upload: Option<(&str, &str)>,
) -> Result<Run, ServiceError> {
    if let Some((key, upload_id)) = upload {
        state.bucket.abort_upload(key, upload_id).await?;
    }
    finish(state, job_id, owner, JobStatus::Cancelled, None).await?;
    Ok(Run::Cancelled)
}

/// Ends the job and announces how it ended, in one transaction.
async fn finish(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    status: JobStatus,
    result_key: Option<&str>,
) -> Result<(), ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let Some(job) = jobs::finish(&tx, job_id, owner, status, result_key, None).await? else {
        return Ok(());
    };
    let event = outbox::event(Event::JobProgress(JobProgress::of(&job)), None);
    outbox_store::insert(&tx, &event).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a failed run: the job is tried again after the lease, or gives up (and says so) when the
/// error is permanent or the runs are spent. Only when even that cannot be recorded is the error
/// returned, so that the message comes back.
async fn failed(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    error: ServiceError,
) -> Result<Run, ServiceError> {
    let message = error.to_string();
    let recorded = async {
        let mut client = state.db.get().await?;
        let tx = client.transaction().await?;
        let Some(failed) = jobs::fail_run(
            &tx,
            job_id,
            owner,
            &message,
            !error.is_transient(),
            MAX_FAILED_RUNS,
            state.config.settlement_lease,
        )
        .await?
        else {
            return Ok(None);
        };
        let job_failed = failed.job.status == JobStatus::Failed;
        if job_failed {
            let event = outbox::event(Event::JobProgress(JobProgress::of(&failed.job)), None);
            outbox_store::insert(&tx, &event).await?;
        }
        tx.commit().await?;
        Ok::<_, ServiceError>(Some((failed, job_failed)))
    }
    .await;
    let (failed, job_failed) = match recorded {
        Ok(Some(recorded)) => recorded,
        Ok(None) => return Ok(Run::NotMine),
        Err(record_error) => {
            tracing::warn!(%job_id, error = %record_error, "could not record a failed job run");
            return Err(error);
        }
    };
    if !job_failed {
        tracing::warn!(%job_id, failed_runs = failed.failed_runs, error = %message, "job run failed; retried after the lease");
        return Ok(Run::WillRetry {
            failed_runs: failed.failed_runs,
        });
    }
    if let Some(upload_id) = &failed.upload_id
        && let Err(abort) = state
            .bucket
            .abort_upload(&failed.job.kind.result_key(job_id), upload_id)
            .await
    {
        // The bucket's lifecycle rule removes incomplete uploads after a day.
        tracing::warn!(%job_id, error = %abort, "could not abort the failed job's upload");
    }
    tracing::error!(%job_id, failed_runs = failed.failed_runs, error = %message, "job failed");
    Ok(Run::Failed { error: message })
}

/// What a job leaves in S3.
pub(super) struct ResultFile<'a> {
    pub key: &'a str,
    pub file_name: &'a str,
    pub header: &'a str,
}

/// A job's file, page by page, in file order.
pub(super) trait Pages: Send {
    /// The next lines (each ending in a newline); none when the file is complete.
    fn next_page(
        &mut self,
        state: &State,
    ) -> impl Future<Output = Result<Vec<String>, ServiceError>> + Send;
}

/// A file small enough to have been made in one go.
pub(super) struct OnePage(pub Option<Vec<String>>);

impl Pages for OnePage {
    async fn next_page(&mut self, _: &State) -> Result<Vec<String>, ServiceError> {
        Ok(self.0.take().unwrap_or_default())
    }
}

/// Completes a job that writes no file (an archive restore).
pub(super) async fn complete_without_file(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    processed: i64,
) -> Result<Run, ServiceError> {
    finish(state, job_id, owner, JobStatus::Completed, None).await?;
    Ok(Run::Completed { processed })
}

/// Streams a job's lines to S3 in 5 MiB parts and completes the job; a cancel asked for meanwhile
/// aborts the upload instead, so no object is left behind.
pub(super) async fn write_file(
    state: &State,
    job_id: Uuid,
    owner: Uuid,
    file: ResultFile<'_>,
    mut pages: impl Pages,
) -> Result<Run, ServiceError> {
    let disposition = format!("attachment; filename=\"{}\"", file.file_name);
    let mut upload = state
        .bucket
        .start_upload(file.key, "text/csv", &disposition)
        .await?;
    let upload_id = upload.upload_id.clone();
    if !jobs::set_upload(&state.db.get().await?, job_id, owner, Some(&upload_id)).await? {
        state.bucket.abort_upload(file.key, &upload_id).await?;
        return Ok(Run::NotMine);
    }
    let mut buffer = file.header.as_bytes().to_vec();
    loop {
        let lines = pages.next_page(state).await?;
        if lines.is_empty() {
            break;
        }
        for line in &lines {
            buffer.extend_from_slice(line.as_bytes());
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
        return cancelled(state, job_id, owner, Some((file.key, &upload_id))).await;
    }
    state.bucket.complete_upload(upload).await?;
    finish(state, job_id, owner, JobStatus::Completed, Some(file.key)).await?;
    Ok(Run::Completed {
        processed: job.processed,
    })
}

#[cfg(test)]
mod tests {
    use orderly_store::testing::{fresh_database, user};
    use serde_json::{Value, json};

    use super::*;
    use crate::testing;

    async fn announcements(state: &State, job_id: Uuid) -> Vec<Value> {
        let client = state.db.get().await.unwrap();
        client
            .query(
                "SELECT payload FROM outbox WHERE aggregate_id = $1 ORDER BY created_at, id",
                &[&job_id],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    #[tokio::test]
    async fn a_job_no_retry_can_fix_fails_at_once_and_says_so() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let job = jobs::insert(
            &state.db.get().await.unwrap(),
            Uuid::now_v7(),
            JobKind::Settlement,
            &json!({"from": "not a day"}),
            admin,
        )
        .await
        .unwrap();

        let run = run(state, job.id, None).await.unwrap();
        assert!(
            matches!(&run, Run::Failed { error } if error.contains("unreadable parameters")),
            "{run:?}"
        );
        let failed = jobs::find(&state.db.get().await.unwrap(), job.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert!(failed.finished_at.is_some());
        let said = announcements(state, job.id).await;
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0]["event_type"], "job.progress");
        assert_eq!(said[0]["data"]["status"], "FAILED");
        assert_eq!(said[0]["data"]["requested_by"], json!(admin));
        assert_eq!(
            run_again(state, job.id).await,
            Run::NotMine,
            "FAILED is final"
        );
    }

    async fn run_again(state: &State, job_id: Uuid) -> Run {
        run(state, job_id, None).await.unwrap()
    }

    #[tokio::test]
    async fn a_run_near_its_deadline_hands_the_job_over_for_another_to_carry_on() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let scope = json!({"from": "2026-01-01", "to": "2026-01-31"});
        let client = state.db.get().await.unwrap();
        let job = jobs::insert(&client, Uuid::now_v7(), JobKind::Settlement, &scope, admin)
            .await
            .unwrap();

        let deadline = SystemTime::now() + HANDOVER_MARGIN / 2;
        assert_eq!(
            run(state, job.id, Some(deadline)).await.unwrap(),
            Run::HandedOver { processed: 0 }
        );
        let said = announcements(state, job.id).await;
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0]["event_type"], "job.requested");
        assert_eq!(said[0]["data"]["job_id"], json!(job.id));
        let handed = jobs::find(&client, job.id).await.unwrap().unwrap();
        assert_eq!(handed.status, JobStatus::Running);
        assert_eq!(handed.total, Some(0), "what it counted stays");
        assert!(
            jobs::claim(&client, job.id, Uuid::now_v7(), Duration::from_secs(60))
                .await
                .unwrap()
                .is_some(),
            "the lease is free at once for the next run"
        );
    }
}

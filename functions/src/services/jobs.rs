//! Background jobs as admins see them: request a settlement (recorded and announced in one
//! transaction, done by the settlement function), follow it, cancel it, download its file.

use std::time::Duration;

use orderly_domain::events::{Event, JobProgress, JobRequested};
use orderly_domain::jobs::{Job, JobKind, JobStatus, RestoreScope, SettlementScope};
use orderly_domain::pagination::Page;
use orderly_domain::settlement::DayRange;
use orderly_domain::validation::FieldError;
use orderly_store::{jobs, outbox as outbox_store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::idempotency::Idempotent;
use super::{Caller, Paged, ServiceError, outbox};
use crate::State;

/// How long a download link works.
pub const DOWNLOAD_VALID_FOR: Duration = Duration::from_secs(15 * 60);

/// A settlement request as the client sent it; checked into a `SettlementScope`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementInput {
    /// First UTC day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last UTC day, included; at most 365 days after `from`.
    pub to: Option<String>,
    /// Only this merchant; all merchants when absent.
    pub merchant_id: Option<Uuid>,
}

/// The inclusive range of UTC days `from`..`to`, both required, each field's problem reported.
fn days(from: &Option<String>, to: &Option<String>) -> Result<DayRange, Vec<FieldError>> {
    let day = |field: &str, raw: &Option<String>| match raw {
        Some(raw) => DayRange::day(field, raw),
        None => Err(FieldError::new(field, "is required (YYYY-MM-DD)")),
    };
    match (day("from", from), day("to", to)) {
        (Ok(from), Ok(to)) => DayRange::new(from, to).map_err(|e| vec![e]),
        (from, to) => Err([from.err(), to.err()].into_iter().flatten().collect()),
    }
}

impl SettlementInput {
    pub fn scope(&self) -> Result<SettlementScope, Vec<FieldError>> {
        days(&self.from, &self.to).map(|days| SettlementScope {
            days,
            merchant_id: self.merchant_id,
        })
    }
}

/// A daily sales export request as the client sent it.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportExportInput {
    /// First UTC day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last UTC day, included; at most 365 days after `from`.
    pub to: Option<String>,
}

/// What a job request leads to: 202 and what `render` makes of the job, replayed for the same
/// `Idempotency-Key`.
pub struct JobRequest<'a> {
    pub idempotency_key: Option<&'a str>,
    pub render: fn(&Job) -> Value,
}

/// Records a settlement job and announces it.
pub async fn request_settlement(
    state: &State,
    caller: &Caller,
    input: SettlementInput,
    request: JobRequest<'_>,
) -> Result<(u16, Value), ServiceError> {
    let scope = input.scope().map_err(ServiceError::Invalid)?;
    let params = serde_json::to_value(scope).expect("a scope serialises");
    request_job(state, caller, JobKind::Settlement, params, request).await
}

/// Records a daily sales export job and announces it.
pub async fn request_report_export(
    state: &State,
    caller: &Caller,
    input: ReportExportInput,
    request: JobRequest<'_>,
) -> Result<(u16, Value), ServiceError> {
    let days = days(&input.from, &input.to).map_err(ServiceError::Invalid)?;
    let params = serde_json::to_value(days).expect("a range serialises");
    request_job(state, caller, JobKind::ReportExport, params, request).await
}

/// Records a restore of an archived month of raw events and announces it; 404 when the month was never
/// archived.
pub async fn request_archive_restore(
    state: &State,
    caller: &Caller,
    month: chrono::NaiveDate,
    request: JobRequest<'_>,
) -> Result<(u16, Value), ServiceError> {
    caller.admin()?;
    if orderly_store::archives::find(&state.db.get().await?, month)
        .await?
        .is_none()
    {
        return Err(ServiceError::NotFound);
    }
    let params = serde_json::to_value(RestoreScope { month }).expect("a month serialises");
    request_job(state, caller, JobKind::ArchiveRestore, params, request).await
}

/// Records a job and announces it (`job.requested`, through the outbox, so the request is never lost).
async fn request_job(
    state: &State,
    caller: &Caller,
    kind: JobKind,
    params: Value,
    request: JobRequest<'_>,
) -> Result<(u16, Value), ServiceError> {
    let admin_id = caller.admin()?;
    let idempotent = Idempotent::new(
        request.idempotency_key,
        format!("user:{admin_id}:POST /api/v1/jobs/{}", kind.route()),
        &params,
    )?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(replay) = idempotent.claim(&tx, "job").await? {
        return Ok(replay);
    }
    let job = jobs::insert(&tx, orderly_domain::new_id(), kind, &params, admin_id).await?;
    let event = outbox::event(
        Event::JobRequested(JobRequested {
            job_id: job.id,
            kind: job.kind,
            requested_by: admin_id,
        }),
        Some(caller.request_id.clone()),
    );
    outbox_store::insert(&tx, &event).await?;
    let body = (request.render)(&job);
    idempotent.complete(&tx, 202, &body).await?;
    tx.commit().await?;
    Ok((202, body))
}

pub async fn get(state: &State, caller: &Caller, id: Uuid) -> Result<Job, ServiceError> {
    caller.admin()?;
    jobs::find(&state.db.get().await?, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Which jobs a list shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct JobFilter {
    pub kind: Option<JobKind>,
    pub status: Option<JobStatus>,
}

pub async fn list(
    state: &State,
    caller: &Caller,
    filter: JobFilter,
    page: Page,
) -> Result<Paged<Job>, ServiceError> {
    caller.admin()?;
    let items = jobs::list(
        &state.db.get().await?,
        filter.kind,
        filter.status,
        page.limit,
        page.after,
    )
    .await?;
    Ok(Paged::of(items, page, |j| j.id))
}

/// Asks a queued or running job to stop; a finished one is a conflict.
pub async fn cancel(state: &State, caller: &Caller, id: Uuid) -> Result<(), ServiceError> {
    caller.admin()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    match jobs::request_cancel(&tx, id).await? {
        None => return Err(ServiceError::NotFound),
        Some(status) if status.is_finished() => {
            return Err(ServiceError::conflict(
                "ILLEGAL_TRANSITION",
                format!(
                    "the job is {} and can no longer be cancelled",
                    status.as_str()
                ),
            ));
        }
        // A queued job ends here and now; a running one ends at its run's next batch, which says so.
        Some(JobStatus::Queued) => {
            let job = jobs::find(&tx, id).await?.ok_or(ServiceError::NotFound)?;
            let event = outbox::event(
                Event::JobProgress(JobProgress::of(&job)),
                Some(caller.request_id.clone()),
            );
            outbox_store::insert(&tx, &event).await?;
        }
        Some(_) => {}
    }
    tx.commit().await?;
    Ok(())
}

/// A short-lived link to a completed job's file.
pub async fn download_url(
    state: &State,
    caller: &Caller,
    id: Uuid,
) -> Result<String, ServiceError> {
    let job = get(state, caller, id).await?;
    let Some(key) = job
        .result_key
        .filter(|_| job.status == JobStatus::Completed)
    else {
        return Err(ServiceError::conflict(
            "JOB_NOT_READY",
            format!(
                "the job is {}; its file exists once it is COMPLETED",
                job.status.as_str()
            ),
        ));
    };
    Ok(state.bucket.presigned_get(&key, DOWNLOAD_VALID_FOR).await?)
}

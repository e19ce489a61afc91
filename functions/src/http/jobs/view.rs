use chrono::{DateTime, Utc};
use orderly_domain::jobs::{Job, JobKind, JobStatus};
use serde::Serialize;
use uuid::Uuid;

/// A job as admins follow it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub job_id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    /// Percent done, one decimal.
    pub progress: f64,
    /// Ledger transactions counted so far…
    pub processed: i64,
    /// …of this many (known once the job has started).
    pub total: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the file is (a redirect to a 15-minute link), once COMPLETED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    pub error: Option<String>,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        Self {
            job_id: job.id,
            kind: job.kind,
            status: job.status,
            progress: job.progress(),
            processed: job.processed,
            total: job.total,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            download_url: (job.status == JobStatus::Completed)
                .then(|| format!("/api/v1/downloads/{}.csv", job.id)),
            error: job.error.clone(),
        }
    }
}

impl JobView {
    /// The 202 answer to a new job (replayed for its `Idempotency-Key`).
    pub fn accepted(job: &Job) -> serde_json::Value {
        serde_json::json!({"job_id": job.id, "status": job.status})
    }
}

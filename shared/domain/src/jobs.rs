//! Background jobs: work too heavy for a request (a settlement over millions of transactions). The API
//! records a job and answers 202; a queue-fed function does the work in batches and reports progress.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::settlement::DayRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobKind {
    Settlement,
    ReportExport,
    /// Brings an archived month of raw events back from S3 into its partition; writes no file.
    ArchiveRestore,
}

/// What an archive restore brings back: the first day of the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreScope {
    pub month: chrono::NaiveDate,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Settlement => "SETTLEMENT",
            JobKind::ReportExport => "REPORT_EXPORT",
            JobKind::ArchiveRestore => "ARCHIVE_RESTORE",
        }
    }

    /// The last segment of the route that requests a job of this kind (`POST /api/v1/jobs/{route}`).
    pub fn route(self) -> &'static str {
        match self {
            JobKind::Settlement => "settlement",
            JobKind::ReportExport => "report-export",
            JobKind::ArchiveRestore => "archive-restore",
        }
    }

    /// The S3 key of a finished job's file (a restore writes none: it never opens an upload, so its key
    /// is never used).
    pub fn result_key(self, job_id: Uuid) -> String {
        match self {
            JobKind::Settlement => format!("settlements/{job_id}.csv"),
            JobKind::ReportExport => format!("reports/{job_id}.csv"),
            JobKind::ArchiveRestore => format!("restores/{job_id}"),
        }
    }

    /// The file name a download is saved under.
    pub fn file_name(self, job_id: Uuid) -> String {
        match self {
            JobKind::Settlement => format!("settlement-{job_id}.csv"),
            JobKind::ReportExport => format!("daily-sales-{job_id}.csv"),
            JobKind::ArchiveRestore => format!("restore-{job_id}"),
        }
    }

    /// Any letter case, as list filters accept it.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_uppercase().as_str() {
            "SETTLEMENT" => Some(JobKind::Settlement),
            "REPORT_EXPORT" => Some(JobKind::ReportExport),
            "ARCHIVE_RESTORE" => Some(JobKind::ArchiveRestore),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "QUEUED",
            JobStatus::Running => "RUNNING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
            JobStatus::Cancelled => "CANCELLED",
        }
    }

    /// Any letter case, as list filters accept it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }

    /// A finished job never runs again and cannot be cancelled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// What a settlement covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementScope {
    #[serde(flatten)]
    pub days: DayRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    pub params: serde_json::Value,
    /// Transactions counted so far, of `total` (known once the job has started).
    pub processed: i64,
    pub total: Option<i64>,
    /// The S3 key of the result, once COMPLETED.
    pub result_key: Option<String>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Percent done with one decimal: 100 when completed, 0 before the total is known.
    pub fn progress(&self) -> f64 {
        if self.status == JobStatus::Completed {
            return 100.0;
        }
        match self.total {
            Some(total) if total > 0 => {
                let percent = self.processed as f64 * 100.0 / total as f64;
                (percent * 10.0).floor().min(1000.0) / 10.0
            }
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus, processed: i64, total: Option<i64>) -> Job {
        Job {
            id: Uuid::nil(),
            kind: JobKind::Settlement,
            status,
            params: serde_json::json!({}),
            processed,
            total,
            result_key: None,
            error: None,
            cancel_requested: false,
            created_by: None,
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn progress_is_a_percentage_with_one_decimal_that_reaches_100_only_when_completed() {
        assert_eq!(job(JobStatus::Queued, 0, None).progress(), 0.0);
        assert_eq!(job(JobStatus::Running, 1, Some(3)).progress(), 33.3);
        assert_eq!(job(JobStatus::Running, 2, Some(3)).progress(), 66.6);
        assert_eq!(job(JobStatus::Running, 3, Some(3)).progress(), 100.0);
        assert_eq!(job(JobStatus::Completed, 0, Some(0)).progress(), 100.0);
        assert_eq!(job(JobStatus::Running, 0, Some(0)).progress(), 0.0);
    }

    #[test]
    fn statuses_and_kinds_parse_in_any_case_and_finished_ones_are_known() {
        assert_eq!(JobStatus::parse("running"), Some(JobStatus::Running));
        assert_eq!(JobStatus::parse("nope"), None);
        assert_eq!(JobKind::parse("report_export"), Some(JobKind::ReportExport));
        let finished: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(
            finished,
            [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled
            ]
        );
    }

    #[test]
    fn a_settlement_scope_is_stored_as_flat_parameters() {
        let scope = SettlementScope {
            days: DayRange::new("2026-01-01".parse().unwrap(), "2026-01-31".parse().unwrap())
                .unwrap(),
            merchant_id: None,
        };
        let json = serde_json::to_value(scope).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"from": "2026-01-01", "to": "2026-01-31"})
        );
        assert_eq!(
            serde_json::from_value::<SettlementScope>(json).unwrap(),
            scope
        );
    }
}

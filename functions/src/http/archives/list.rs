//! `GET /api/v1/admin/archives`: the months of raw events moved to S3, newest first.

use chrono::{DateTime, NaiveDate, Utc};
use orderly_http::{ApiError, ErrorBody, HttpRequest, Response};
use serde::Serialize;

use crate::State;
use crate::http::{caller, ok};
use crate::services::event_archives;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchiveView {
    /// `YYYY-MM`.
    pub month: String,
    pub s3_key: String,
    pub rows: i64,
    /// Size of the gzip object.
    pub bytes: i64,
    /// SHA-256 of the object, hex; checked against what S3 returned before the partition was dropped.
    pub sha256: String,
    pub archived_at: DateTime<Utc>,
    /// When it was last brought back into Postgres (it stays 30 days, then is archived again).
    pub restored_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArchivesView {
    pub items: Vec<ArchiveView>,
}

fn month(day: NaiveDate) -> String {
    day.format("%Y-%m").to_string()
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/archives",
    tag = "analytics",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "archived months, newest first", body = ArchivesView),
        (status = 403, description = "admins only", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let archives = event_archives::list(state, &caller(&request)).await?;
    Ok(ok(&ArchivesView {
        items: archives
            .into_iter()
            .map(|a| ArchiveView {
                month: month(a.month),
                s3_key: a.s3_key,
                rows: a.rows,
                bytes: a.bytes,
                sha256: a.sha256,
                archived_at: a.archived_at,
                restored_at: a.restored_at,
            })
            .collect(),
    }))
}

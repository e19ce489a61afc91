//! Archival of raw events: each month older than the retention is written to S3 as gzip CSV, read back
//! and checked (rows and SHA-256), recorded, and only then its partition dropped (the database checks
//! the row count once more before it drops). Day totals stay: analytics keep answering for archived
//! months.

use chrono::{Datelike, Months, NaiveDate, Utc};
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use futures::StreamExt;
use orderly_store::archives::{self, Archive};
use sha2::{Digest, Sha256};
use std::io::Write;

use super::{Caller, ServiceError};
use crate::State;

/// Where a month goes in the artifacts bucket (a lifecycle rule moves `archives/` to Glacier-class
/// storage after 30 days).
pub fn s3_key(month: NaiveDate) -> String {
    format!("archives/metric_events/{}.csv.gz", month.format("%Y-%m"))
}

/// The first month kept: everything before it is archived.
pub fn first_kept_month(today: NaiveDate, retention_months: u32) -> NaiveDate {
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    this_month - Months::new(retention_months.saturating_sub(1))
}

/// How long a restored month stays in Postgres before archival takes it again.
pub const RESTORED_STAYS: chrono::Duration = chrono::Duration::days(30);

/// Archives every month before the retention, oldest first, at most `limit` per run (a run must end
/// within the function's timeout; the next run goes on). A month restored less than `RESTORED_STAYS`
/// ago is left where it is.
pub async fn archive_due(state: &State, limit: usize) -> Result<Vec<Archive>, ServiceError> {
    let keep_from = first_kept_month(
        Utc::now().date_naive(),
        state.config.metrics_retention_months,
    );
    let db = state.db.get().await?;
    let recently_restored: Vec<NaiveDate> = archives::list(&db)
        .await?
        .into_iter()
        .filter(|a| {
            a.restored_at
                .is_some_and(|at| at > Utc::now() - RESTORED_STAYS)
        })
        .map(|a| a.month)
        .collect();
    let due = archives::partitions_before(&db, keep_from).await?;
    drop(db);
    let mut done = Vec::new();
    for month in due
        .into_iter()
        .filter(|m| !recently_restored.contains(m))
        .take(limit)
    {
        done.push(archive_month(state, month).await?);
    }
    Ok(done)
}

/// Counts CSV records (not lines: a quoted field may hold a line break).
#[derive(Default)]
struct CsvRecords {
    quoted: bool,
    records: i64,
}

impl Write for CsvRecords {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for b in bytes {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'\n' if !self.quoted => self.records += 1,
                _ => {}
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn io(e: std::io::Error) -> ServiceError {
    ServiceError::internal(format!("gzip: {e}"))
}

async fn archive_month(state: &State, month: NaiveDate) -> Result<Archive, ServiceError> {
    let key = s3_key(month);
    // One snapshot for the rows written and the rows counted.
    let mut client = state.db.get().await?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let rows = archives::count_month(&tx, month).await?;
    let mut upload = state
        .bucket
        .start_upload(&key, "application/gzip", "attachment")
        .await?;
    let upload_id = upload.upload_id.clone();
    let written: Result<(String, i64), ServiceError> = async {
        let stream = archives::export_month(&tx, month).await?;
        futures::pin_mut!(stream);
        let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
        let (mut hash, mut bytes) = (Sha256::new(), 0_i64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(orderly_store::StoreError::from)?;
            gzip.write_all(&chunk).map_err(io)?;
            if gzip.get_ref().len() >= orderly_cloud::MIN_PART_BYTES {
                let part = std::mem::take(gzip.get_mut());
                hash.update(&part);
                bytes += part.len() as i64;
                state.bucket.upload_part(&mut upload, part).await?;
            }
        }
        let last = gzip.finish().map_err(io)?;
        hash.update(&last);
        bytes += last.len() as i64;
        state.bucket.upload_part(&mut upload, last).await?;
        Ok((hex(&hash.finalize()), bytes))
    }
    .await;
    drop(tx);
    let (sha256, bytes) = match written {
        Ok(done) => done,
        Err(e) => {
            state.bucket.abort_upload(&key, &upload_id).await?;
            return Err(e);
        }
    };
    state.bucket.complete_upload(upload).await?;

    // Read back what S3 holds: same bytes, same hash, same number of records.
    let (mut hash, mut unzip) = (Sha256::new(), GzDecoder::new(CsvRecords::default()));
    let mut unreadable = None;
    let stored = state
        .bucket
        .read_object(&key, |chunk| {
            hash.update(chunk);
            if unreadable.is_none()
                && let Err(e) = unzip.write_all(chunk)
            {
                unreadable = Some(e);
            }
        })
        .await?;
    let records = match unreadable {
        Some(e) => return Err(io(e)),
        None => unzip.finish().map_err(io)?.records,
    };
    let read_back = hex(&hash.finalize());
    // The header is one record.
    if stored as i64 != bytes || read_back != sha256 || records != rows + 1 {
        return Err(ServiceError::internal(format!(
            "archive of {month} did not verify: {stored} bytes, sha256 {read_back}, {records} records in S3; \
             wrote {bytes} bytes, sha256 {sha256}, {rows} rows and a header; the partition is kept"
        )));
    }

    let archive = Archive {
        month,
        s3_key: key,
        rows,
        bytes,
        sha256,
        archived_at: Utc::now(),
        restored_at: None,
    };
    let tx = client.transaction().await?;
    archives::record_and_drop(&tx, &archive).await?;
    tx.commit().await?;
    tracing::info!(%month, rows, bytes, "events archived and their partition dropped");
    Ok(archive)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn list(state: &State, caller: &Caller) -> Result<Vec<Archive>, ServiceError> {
    caller.admin()?;
    Ok(archives::list(&state.db.get().await?).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retention_keeps_whole_months_back_from_this_one() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(first_kept_month(day("2026-12-02"), 24), day("2025-01-01"));
        assert_eq!(first_kept_month(day("2026-12-31"), 1), day("2026-12-01"));
    }

    #[test]
    fn records_are_counted_even_when_a_field_holds_a_line_break() {
        let mut counter = CsvRecords::default();
        counter
            .write_all(b"a,b\n\"x\ny\",\"say \"\"hi\"\"\"\nz,w\n")
            .unwrap();
        assert_eq!(counter.records, 3);
    }
}

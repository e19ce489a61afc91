//! Archived months of `metric_events`: which partitions are old enough, their rows as CSV, the record of
//! an archive and the drop of its partition.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::CopyOutStream;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// The first day of the month.
    pub month: NaiveDate,
    pub s3_key: String,
    pub rows: i64,
    pub bytes: i64,
    pub sha256: String,
    pub archived_at: DateTime<Utc>,
    pub restored_at: Option<DateTime<Utc>>,
}

/// The partition of `month`. Made from a date, never from a client's text: COPY takes no parameters.
fn partition(month: NaiveDate) -> String {
    format!("metric_events_{}", month.format("%Y_%m"))
}

/// Months whose partition exists and starts before `before`, oldest first.
pub async fn partitions_before(
    db: &impl GenericClient,
    before: NaiveDate,
) -> Result<Vec<NaiveDate>, StoreError> {
    let rows = db
        .query(
            "SELECT to_date(substr(c.relname, 15), 'YYYY_MM') AS month
               FROM pg_inherits i
               JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'metric_events'::regclass
                AND c.relname ~ '^metric_events_[0-9]{4}_[0-9]{2}$'
                AND to_date(substr(c.relname, 15), 'YYYY_MM') < $1
              ORDER BY 1",
            &[&before],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Rows of the month's partition (in the caller's snapshot).
pub async fn count_month(db: &impl GenericClient, month: NaiveDate) -> Result<i64, StoreError> {
    let row = db
        .query_one(
            &format!("SELECT count(*) FROM \"{}\"", partition(month)),
            &[],
        )
        .await?;
    Ok(row.get(0))
}

pub const CSV_HEADER: &str = "merchant_id,occurred_at,event_type,user_id,value,received_at";

/// The month's rows as CSV with a header (`CSV_HEADER`), oldest first, streamed.
pub async fn export_month(
    tx: &tokio_postgres::Transaction<'_>,
    month: NaiveDate,
) -> Result<CopyOutStream, StoreError> {
    Ok(tx
        .copy_out(&format!(
            "COPY (SELECT {} FROM \"{}\" ORDER BY occurred_at) TO STDOUT (FORMAT csv, HEADER)",
            CSV_HEADER.replace(',', ", "),
            partition(month)
        ))
        .await?)
}

/// Records a verified archive and drops the month's partition, in the caller's transaction; the
/// database refuses the drop unless the partition holds exactly `archive.rows` rows.
pub async fn record_and_drop(
    tx: &tokio_postgres::Transaction<'_>,
    archive: &Archive,
) -> Result<bool, StoreError> {
    // A month archived again after a restore gets its record renewed.
    tx.execute(
        "INSERT INTO archives (month, s3_key, rows, bytes, sha256) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (month) DO UPDATE SET s3_key = EXCLUDED.s3_key, rows = EXCLUDED.rows,
             bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256, archived_at = now(), restored_at = NULL",
        &[
            &archive.month,
            &archive.s3_key,
            &archive.rows,
            &archive.bytes,
            &archive.sha256,
        ],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT metric_events_drop_archived_partition($1)",
            &[&archive.month],
        )
        .await?;
    Ok(row.get(0))
}

const COLUMNS: &str = "month, s3_key, rows, bytes, sha256, archived_at, restored_at";

fn archive(r: &tokio_postgres::Row) -> Archive {
    Archive {
        month: r.get(0),
        s3_key: r.get(1),
        rows: r.get(2),
        bytes: r.get(3),
        sha256: r.get(4),
        archived_at: r.get(5),
        restored_at: r.get(6),
    }
}

/// Every archive, newest month first.
pub async fn list(db: &impl GenericClient) -> Result<Vec<Archive>, StoreError> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM archives ORDER BY month DESC"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(archive).collect())
}

pub async fn find(
    db: &impl GenericClient,
    month: NaiveDate,
) -> Result<Option<Archive>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM archives WHERE month = $1"),
            &[&month],
        )
        .await?;
    Ok(row.as_ref().map(archive))
}

/// Loads a month's CSV (as `export_month` wrote it) back into its partition, in the caller's
/// transaction; returns the rows loaded. The partition must exist.
pub async fn import_month(
    tx: &tokio_postgres::Transaction<'_>,
    csv: impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>>,
) -> Result<u64, StoreError> {
    use futures::{SinkExt, StreamExt};
    let sink = tx
        .copy_in(&format!(
            "COPY metric_events ({}) FROM STDIN (FORMAT csv, HEADER)",
            CSV_HEADER.replace(',', ", ")
        ))
        .await?;
    futures::pin_mut!(sink);
    futures::pin_mut!(csv);
    while let Some(chunk) = csv.next().await {
        let chunk = chunk.map_err(|e| StoreError::Corrupt(format!("archive stream: {e}")))?;
        sink.send(std::io::Cursor::new(chunk)).await?;
    }
    Ok(sink.as_mut().finish().await?)
}

/// Marks the month restored (archival leaves it in Postgres for a while after).
pub async fn mark_restored(db: &impl GenericClient, month: NaiveDate) -> Result<(), StoreError> {
    db.execute(
        "UPDATE archives SET restored_at = now() WHERE month = $1",
        &[&month],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;

    fn month(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    async fn month_with_rows(db: &impl GenericClient, first_day: &str, rows: i32) {
        db.execute(
            "SELECT metric_events_ensure_partitions($1, $1)",
            &[&month(first_day)],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO metric_events (merchant_id, occurred_at, event_type, user_id, value)
             SELECT gen_random_uuid(), $1::date + g * interval '1 minute', 'x', 'u', g
               FROM generate_series(1, $2) AS g",
            &[&month(first_day), &rows],
        )
        .await
        .unwrap();
    }

    fn archive(first_day: &str, rows: i64) -> Archive {
        Archive {
            month: month(first_day),
            s3_key: format!("archives/metric_events/{first_day}.csv.gz"),
            rows,
            bytes: 1,
            sha256: "0".repeat(64),
            archived_at: Utc::now(),
            restored_at: None,
        }
    }

    #[tokio::test]
    async fn old_partitions_are_listed_and_one_is_dropped_only_when_its_rows_match_the_archive() {
        let db = fresh_database().await;
        let mut client = db.pool.get().await.unwrap();
        month_with_rows(&client, "2020-03-01", 10).await;
        month_with_rows(&client, "2020-04-01", 10).await;
        assert_eq!(
            partitions_before(&client, month("2020-04-01"))
                .await
                .unwrap(),
            [month("2020-03-01")]
        );
        assert_eq!(count_month(&client, month("2020-03-01")).await.unwrap(), 10);

        // An archive that recorded fewer rows than the partition holds: nothing is dropped or recorded.
        let tx = client.transaction().await.unwrap();
        let refused = record_and_drop(&tx, &archive("2020-03-01", 9)).await;
        assert!(refused.is_err());
        drop(tx);
        assert_eq!(count_month(&client, month("2020-03-01")).await.unwrap(), 10);
        assert!(list(&client).await.unwrap().is_empty());

        let tx = client.transaction().await.unwrap();
        assert!(
            record_and_drop(&tx, &archive("2020-03-01", 10))
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assert!(
            partitions_before(&client, month("2020-04-01"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(list(&client).await.unwrap()[0].rows, 10);
    }

    #[tokio::test]
    async fn a_month_without_an_archive_is_never_dropped() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        month_with_rows(&client, "2020-03-01", 1).await;
        let error = client
            .query_one(
                "SELECT metric_events_drop_archived_partition('2020-03-01')",
                &[],
            )
            .await
            .unwrap_err();
        assert!(
            error
                .as_db_error()
                .is_some_and(|e| e.message().contains("no archive recorded")),
            "{error:?}"
        );
        assert_eq!(count_month(&client, month("2020-03-01")).await.unwrap(), 1);
    }
}

//! Background jobs and the settlement walk. A job is held by a lease (owner + expiry) so that a
//! redelivered message never runs it twice at once; the settlement walk cuts its range into slices, and
//! each batch moves its slice's cursor and adds to the totals in one transaction, so a batch counts
//! exactly once whatever fails.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::jobs::{Job, JobKind, JobStatus};
use orderly_domain::settlement::SettlementLine;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;

const COLUMNS: &str = "id, kind, status, params, processed, total, result_key, error, cancel_requested, \
                       created_by, created_at, started_at, finished_at, upload_id";

fn job(r: &tokio_postgres::Row) -> Job {
    Job {
        id: r.get(0),
        kind: JobKind::parse(r.get(1)).expect("the CHECK constraint admits only known kinds"),
        status: JobStatus::parse(r.get(2))
            .expect("the CHECK constraint admits only known statuses"),
        params: r.get(3),
        processed: r.get(4),
        total: r.get(5),
        result_key: r.get(6),
        error: r.get(7),
        cancel_requested: r.get(8),
        created_by: r.get(9),
        created_at: r.get(10),
        started_at: r.get(11),
        finished_at: r.get(12),
    }
}

pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    kind: JobKind,
    params: &Value,
    created_by: Uuid,
) -> Result<Job, StoreError> {
    let row = db
        .query_one(
            &format!(
                "INSERT INTO jobs (id, kind, status, params, created_by) VALUES ($1, $2, 'QUEUED', $3, $4)
                 RETURNING {COLUMNS}"
            ),
            &[&id, &kind.as_str(), params, &created_by],
        )
        .await?;
    Ok(job(&row))
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<Job>, StoreError> {
    let row = db
        .query_opt(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(job))
}

/// Newest first; `before` is the last id of the previous page.
pub async fn list(
    db: &impl GenericClient,
    kind: Option<JobKind>,
    status: Option<JobStatus>,
    limit: i64,
    before: Option<Uuid>,
) -> Result<Vec<Job>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM jobs
                  WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR status = $2)
                    AND ($3::uuid IS NULL OR id < $3)
                  ORDER BY id DESC LIMIT $4"
            ),
            &[
                &kind.map(JobKind::as_str),
                &status.map(JobStatus::as_str),
                &before,
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(job).collect())
}

/// Asks a job to stop: a queued job ends CANCELLED at once; a running one at its worker's next batch
/// boundary. Returns the status the job had, or `None` for an unknown job.
pub async fn request_cancel(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<JobStatus>, StoreError> {
    let row = db
        .query_opt(
            "WITH current AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE)
             UPDATE jobs j
                SET cancel_requested = j.cancel_requested OR c.status IN ('QUEUED', 'RUNNING'),
                    status = CASE WHEN c.status = 'QUEUED' THEN 'CANCELLED' ELSE c.status END,
                    finished_at = CASE WHEN c.status = 'QUEUED' THEN now() ELSE j.finished_at END,
                    updated_at = now()
               FROM current c WHERE j.id = c.id
             RETURNING c.status",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| JobStatus::parse(r.get(0)).expect("a known status")))
}

/// A job its worker holds, and the upload it had started.
#[derive(Debug, Clone)]
pub struct Held {
    pub job: Job,
    pub upload_id: Option<String>,
}

/// Takes the job for `owner` until `lease` from now, unless it is finished or another worker's lease
/// is still live. Starts a queued job.
pub async fn claim(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<Held>, StoreError> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3),
                        status = 'RUNNING', started_at = coalesce(started_at, now()), updated_at = now()
                  WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')
                    AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < now())
                 RETURNING {COLUMNS}"
            ),
            &[&id, &owner, &lease.as_secs_f64()],
        )
        .await?;
    Ok(row.map(|r| Held {
        job: job(&r),
        upload_id: r.get(13),
    }))
}

/// Records how many transactions the job covers, once.
pub async fn set_total(db: &impl GenericClient, id: Uuid, total: i64) -> Result<(), StoreError> {
    db.execute(
        "UPDATE jobs SET total = coalesce(total, $2), updated_at = now() WHERE id = $1",
        &[&id, &total],
    )
    .await?;
    Ok(())
}

/// Records how much of its work the holder has done (for kinds that do it in one step, unlike the
/// settlement walk); false when `owner` no longer holds the job.
pub async fn set_processed(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    processed: i64,
) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "UPDATE jobs SET processed = $3, updated_at = now() WHERE id = $1 AND lease_owner = $2",
            &[&id, &owner, &processed],
        )
        .await?
        == 1)
}

/// A settlement's whole result in one `COPY … TO STDOUT` statement, with no batches, lease or
/// totals table: what `make bench` sets the settlement function's end-to-end time against. `COPY`
/// takes no parameters; the bounds are our own timestamps, written as literals.
pub fn settlement_in_one_statement(from: DateTime<Utc>, until: DateTime<Utc>) -> String {
    format!(
        "COPY (SELECT merchant_id, (occurred_at AT TIME ZONE 'UTC')::date,
                     (sum(gross_cents)::numeric / 100)::numeric(20, 2),
                     (sum(fee_cents)::numeric / 100)::numeric(20, 2),
                     ((sum(gross_cents) - sum(fee_cents))::numeric / 100)::numeric(20, 2),
                     count(*)
                FROM merchant_transactions
               WHERE occurred_at >= '{}' AND occurred_at < '{}'
               GROUP BY 1, 2 ORDER BY 2, 1)
         TO STDOUT WITH (FORMAT csv, HEADER)",
        from.to_rfc3339(),
        until.to_rfc3339()
    )
}

/// Ledger transactions in `[from, until)`, for one merchant or all.
pub async fn count_transactions(
    db: &impl GenericClient,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    merchant_id: Option<Uuid>,
) -> Result<i64, StoreError> {
    let row = db
        .query_one(
            "SELECT count(*) FROM merchant_transactions
              WHERE occurred_at >= $1 AND occurred_at < $2 AND ($3::uuid IS NULL OR merchant_id = $3)",
            &[&from, &until, &merchant_id],
        )
        .await?;
    Ok(row.get(0))
}

/// What one batch of the walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The batch counted `rows` transactions (fewer than asked: the slice is done).
    Counted { rows: i64 },
    /// Cancellation was asked for; nothing was counted.
    CancelRequested,
    /// Another worker holds the job now; nothing was counted.
    LeaseLost,
}

/// A part of a settlement's range (whole UTC days) that one walker counts, batch by batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub number: i32,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The job's slices: those an earlier run recorded (with their cursors), or else `planned` (`[from,
/// until)` pairs, in order), recorded now with their cursors at the start.
pub async fn slices(
    db: &impl GenericClient,
    id: Uuid,
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<Slice>, StoreError> {
    let (froms, untils): (Vec<_>, Vec<_>) = planned.iter().copied().unzip();
    db.execute(
        "INSERT INTO job_slices (job_id, slice, from_at, until_at)
         SELECT $1, (n - 1)::integer, f, u FROM unnest($2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS p (f, u, n)
          WHERE NOT EXISTS (SELECT FROM job_slices WHERE job_id = $1)",
        &[&id, &froms, &untils],
    )
    .await?;
    let rows = db
        .query(
            "SELECT slice, from_at, until_at FROM job_slices WHERE job_id = $1 ORDER BY slice",
            &[&id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Slice {
            number: r.get(0),
            from: r.get(1),
            until: r.get(2),
        })
        .collect())
}

/// Counts the next batch of a slice into the job's settlement totals and moves the slice's cursor, in
/// one statement (one round trip, its own transaction). It counts only while `owner` holds the job and
/// no cancel was asked for: it takes the job row in share mode, so the walkers of one job run at once
/// while a cancel request or a new claim waits for the batches under way. The job's `processed` and
/// lease are brought up to date by `sync_walk`, not here, so that walkers never queue for the job row.
pub async fn settle_batch(
    client: &tokio_postgres::Client,
    id: Uuid,
    slice: i32,
    owner: Uuid,
    merchant_id: Option<Uuid>,
    batch: i64,
) -> Result<Step, StoreError> {
    use tokio_postgres::types::Type;
    let counted = client
        .query_typed_opt(
            // The batch's last key first (an index-only walk of `batch` entries), then one aggregate
            // pass over the key range up to it, straight from the index: cheaper than materialising
            // the batch and reading it three times (for the totals, the count and the last key). A
            // short batch (the end of the slice) moves the cursor to the slice's end.
            //
            // The batch commits without waiting for its WAL to reach the disk: what it writes is
            // derived from the ledger, and a crash that loses it loses the totals and the cursor
            // together, so the walk counts that batch again. The job's end (a synchronous commit)
            // flushes every batch before it, so a COMPLETED job's totals are durable (ADR 0009).
            "WITH job AS (
                 SELECT FROM jobs WHERE id = $1 AND lease_owner = $2 AND NOT cancel_requested FOR SHARE
             ),
             slice AS (
                 SELECT from_at, until_at, coalesce(cursor_at, '-infinity') AS cursor_at,
                        coalesce(cursor_id, 0) AS cursor_id,
                        set_config('synchronous_commit', 'off', true)
                   FROM job_slices WHERE job_id = $1 AND slice = $3 AND EXISTS (SELECT FROM job)
                    FOR UPDATE
             ),
             bound AS (
                 SELECT occurred_at, id FROM merchant_transactions
                  WHERE occurred_at >= (SELECT from_at FROM slice) AND occurred_at < (SELECT until_at FROM slice)
                    AND ($4::uuid IS NULL OR merchant_id = $4)
                    AND (occurred_at, id) > ((SELECT cursor_at FROM slice), (SELECT cursor_id FROM slice))
                  ORDER BY occurred_at, id OFFSET $5 - 1 LIMIT 1
             ),
             batch AS (
                 SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, merchant_id,
                        sum(gross_cents)::bigint AS gross_cents, sum(fee_cents)::bigint AS fee_cents,
                        count(*) AS txn_count
                   FROM merchant_transactions
                  WHERE occurred_at >= (SELECT from_at FROM slice) AND occurred_at < (SELECT until_at FROM slice)
                    AND ($4::uuid IS NULL OR merchant_id = $4)
                    AND (occurred_at, id) > ((SELECT cursor_at FROM slice), (SELECT cursor_id FROM slice))
                    AND (occurred_at, id) <= (coalesce((SELECT occurred_at FROM bound), 'infinity'),
                                              coalesce((SELECT id FROM bound), 9223372036854775807))
                  GROUP BY 1, 2
             ),
             totals AS (
                 INSERT INTO settlements AS s (job_id, day, merchant_id, gross_cents, fee_cents, txn_count)
                 SELECT $1, day, merchant_id, gross_cents, fee_cents, txn_count FROM batch
                 ON CONFLICT (job_id, day, merchant_id) DO UPDATE
                    SET gross_cents = s.gross_cents + excluded.gross_cents,
                        fee_cents = s.fee_cents + excluded.fee_cents,
                        txn_count = s.txn_count + excluded.txn_count
             ),
             counted AS (SELECT coalesce(sum(txn_count), 0)::bigint AS n FROM batch)
             UPDATE job_slices
                SET cursor_at = coalesce((SELECT occurred_at FROM bound), (SELECT until_at FROM slice)),
                    cursor_id = coalesce((SELECT id FROM bound), 0),
                    processed = processed + (SELECT n FROM counted)
              WHERE job_id = $1 AND slice = $3 AND EXISTS (SELECT FROM slice)
             RETURNING (SELECT n FROM counted)",
            &[
                (&id, Type::UUID),
                (&owner, Type::UUID),
                (&slice, Type::INT4),
                (&merchant_id, Type::UUID),
                (&batch, Type::INT8),
            ],
        )
        .await?;
    if let Some(row) = counted {
        return Ok(Step::Counted { rows: row.get(0) });
    }
    let held = client
        .query_opt(
            "SELECT cancel_requested FROM jobs WHERE id = $1 AND lease_owner = $2",
            &[&id, &owner],
        )
        .await?;
    Ok(match held {
        Some(row) if row.get::<_, bool>(0) => Step::CancelRequested,
        // Not `owner`'s any more, or finished by whoever holds it now (which forgets the slices).
        _ => Step::LeaseLost,
    })
}

/// Brings the job's `processed` up to what its slices counted and renews `owner`'s lease; the job's
/// `processed`, or `None` when `owner` no longer holds it. The walk's reporter calls it twice a
/// second, and once when the walk ends.
pub async fn sync_walk(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    lease: Duration,
) -> Result<Option<i64>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE jobs SET processed = (SELECT coalesce(sum(processed), 0) FROM job_slices WHERE job_id = $1)::bigint,
                    lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
              WHERE id = $1 AND lease_owner = $2
             RETURNING processed",
            &[&id, &owner, &lease.as_secs_f64()],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// A page of a job's settlement lines in file order (day, then merchant), after `after`.
pub async fn settlement_lines(
    db: &impl GenericClient,
    id: Uuid,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<SettlementLine>, StoreError> {
    let (day, merchant) = after.unzip();
    let rows = db
        .query(
            "SELECT merchant_id, day, gross_cents, fee_cents, txn_count FROM settlements
              WHERE job_id = $1 AND ($2::date IS NULL OR (day, merchant_id) > ($2, $3))
              ORDER BY day, merchant_id LIMIT $4",
            &[&id, &day, &merchant, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| SettlementLine {
            merchant_id: r.get(0),
            date: r.get(1),
            gross_cents: r.get(2),
            fee_cents: r.get(3),
            txn_count: r.get(4),
        })
        .collect())
}

/// Records the upload the job is writing (or `None` once it is finished or aborted), if `owner` still
/// holds the job.
pub async fn set_upload(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    upload_id: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "UPDATE jobs SET upload_id = $3, updated_at = now() WHERE id = $1 AND lease_owner = $2",
            &[&id, &owner, &upload_id],
        )
        .await?
        == 1)
}

/// Ends the job `owner` holds: COMPLETED with its result, FAILED with an error, or CANCELLED (its
/// partial totals are dropped). False when the lease was lost meanwhile.
pub async fn finish(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    status: JobStatus,
    result_key: Option<&str>,
    error: Option<&str>,
) -> Result<Option<Job>, StoreError> {
    assert!(
        status.is_finished(),
        "a job finishes COMPLETED, FAILED or CANCELLED"
    );
    let finished = db
        .query_opt(
            &format!(
                "UPDATE jobs SET status = $3, result_key = $4, error = $5, finished_at = now(), upload_id = NULL,
                        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
                  WHERE id = $1 AND lease_owner = $2
                 RETURNING {COLUMNS}"
            ),
            &[&id, &owner, &status.as_str(), &result_key, &error],
        )
        .await?
        .as_ref()
        .map(job);
    if finished.is_some() {
        db.execute("DELETE FROM job_slices WHERE job_id = $1", &[&id])
            .await?;
        if status != JobStatus::Completed {
            forget_totals(db, id).await?;
        }
    }
    Ok(finished)
}

/// Totals of a job that will never complete are nobody's business.
async fn forget_totals(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute("DELETE FROM settlements WHERE job_id = $1", &[&id])
        .await?;
    Ok(())
}

/// What a failed run left: the job (FAILED when it gave up), how many runs failed, and the upload the
/// run had open (to abort when the job gave up; a retry aborts it itself).
#[derive(Debug, Clone)]
pub struct FailedRun {
    pub job: Job,
    pub failed_runs: i32,
    pub upload_id: Option<String>,
}

/// Records that `owner`'s run failed with `error`. The job gives up (FAILED) when `give_up` or when this
/// is its `max_failed_runs`-th failed run; otherwise it stays RUNNING under the dead run's lease, renewed
/// for `retry_after`, so the outbox sweep announces it again once that has passed. `None` when `owner`
/// no longer holds the job.
pub async fn fail_run(
    db: &impl GenericClient,
    id: Uuid,
    owner: Uuid,
    error: &str,
    give_up: bool,
    max_failed_runs: i32,
    retry_after: Duration,
) -> Result<Option<FailedRun>, StoreError> {
    let row = db
        .query_opt(
            &format!(
                "WITH before AS (SELECT id AS job_id, upload_id AS open_upload,
                                        ($5 OR failed_runs + 1 >= $6) AS gives_up
                                   FROM jobs WHERE id = $1 AND lease_owner = $2 FOR UPDATE)
                 UPDATE jobs
                    SET failed_runs = failed_runs + 1, error = $3, updated_at = now(),
                        status = CASE WHEN gives_up THEN 'FAILED' ELSE status END,
                        finished_at = CASE WHEN gives_up THEN now() END,
                        lease_owner = CASE WHEN gives_up THEN NULL ELSE lease_owner END,
                        lease_expires_at = CASE WHEN gives_up THEN NULL
                                                ELSE now() + make_interval(secs => $4) END,
                        upload_id = CASE WHEN gives_up THEN NULL ELSE upload_id END
                   FROM before WHERE id = job_id
                 RETURNING {COLUMNS}, failed_runs, open_upload"
            ),
            &[
                &id,
                &owner,
                &error,
                &retry_after.as_secs_f64(),
                &give_up,
                &max_failed_runs,
            ],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let failed = FailedRun {
        job: job(&row),
        failed_runs: row.get(14),
        upload_id: row.get(15),
    };
    if failed.job.status == JobStatus::Failed {
        forget_totals(db, id).await?;
    }
    Ok(Some(failed))
}

/// Gives the job back (the worker is near its time limit); whoever gets the next message carries on
/// from the slices' cursors.
pub async fn release(db: &impl GenericClient, id: Uuid, owner: Uuid) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
              WHERE id = $1 AND lease_owner = $2",
            &[&id, &owner],
        )
        .await?
        == 1)
}

/// Frees running jobs whose lease ran out (their run died without handing over) so that they can be
/// announced again: (id, kind, requested by). Each stalled job is returned once.
pub async fn release_stalled(
    db: &impl GenericClient,
    limit: i64,
) -> Result<Vec<(Uuid, JobKind, Option<Uuid>)>, StoreError> {
    let rows = db
        .query(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
              WHERE id IN (SELECT id FROM jobs
                            WHERE status = 'RUNNING' AND lease_expires_at < now()
                            ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, created_by",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let kind =
                JobKind::parse(r.get(1)).expect("the CHECK constraint admits only known kinds");
            (r.get(0), kind, r.get(2))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::testing::{fresh_database, user};

    const LEASE: Duration = Duration::from_secs(60);

    /// A queued settlement job with no parameters: what the lease and lifecycle tests start from.
    async fn settlement_job(client: &impl GenericClient, admin: Uuid) -> Job {
        insert(
            client,
            Uuid::now_v7(),
            JobKind::Settlement,
            &json!({}),
            admin,
        )
        .await
        .unwrap()
    }

    async fn merchant(db: &impl GenericClient) -> Uuid {
        let id = Uuid::now_v7();
        db.execute(
            "INSERT INTO merchants (id, name) VALUES ($1, $2)",
            &[&id, &format!("M {id}")],
        )
        .await
        .unwrap();
        id
    }

    /// A ledger row at `at`: (gross, fee).
    async fn booked(
        db: &impl GenericClient,
        merchant: Uuid,
        at: DateTime<Utc>,
        gross: i64,
        fee: i64,
    ) {
        db.execute(
            "INSERT INTO merchant_transactions (merchant_id, payment_id, order_id, kind, occurred_at, gross_cents, fee_cents, currency)
             VALUES ($1, $2, $3, 'CAPTURE', $4, $5, $6, 'EUR')",
            &[&merchant, &Uuid::now_v7(), &Uuid::now_v7(), &at, &gross, &fee],
        )
        .await
        .unwrap();
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, hour, 0, 0).unwrap()
    }

    /// Counts batches of `size` in slice `slice` until one comes back short; the rows each counted.
    async fn walk(
        client: &tokio_postgres::Client,
        job: Uuid,
        slice: i32,
        owner: Uuid,
        merchant_filter: Option<Uuid>,
        size: i64,
    ) -> Vec<i64> {
        let mut counted = Vec::new();
        loop {
            let step = settle_batch(client, job, slice, owner, merchant_filter, size)
                .await
                .unwrap();
            let Step::Counted { rows } = step else {
                panic!("{step:?}")
            };
            counted.push(rows);
            if rows < size {
                return counted;
            }
        }
    }

    #[tokio::test]
    async fn a_batch_boundary_inside_one_instant_splits_it_by_id_and_counts_each_row_once() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let admin = user(&db.pool).await;
        let (a, b) = (merchant(&client).await, merchant(&client).await);
        for (m, gross) in [(a, 100), (b, 200), (a, 300), (b, 400), (a, 500)] {
            booked(&client, m, at(5, 12), gross, 1).await;
        }
        let me = Uuid::now_v7();
        let mut totals = Vec::new();
        for merchant_filter in [Some(a), None] {
            let job = settlement_job(&client, admin).await;
            claim(&client, job.id, me, LEASE).await.unwrap().unwrap();
            slices(&client, job.id, &[(at(5, 0), at(6, 0))])
                .await
                .unwrap();
            let steps = walk(&client, job.id, 0, me, merchant_filter, 2).await;
            let processed = sync_walk(&client, job.id, me, LEASE).await.unwrap();
            let lines = settlement_lines(&client, job.id, None, 10).await.unwrap();
            let lines: Vec<_> = lines
                .iter()
                .map(|l| (l.merchant_id, l.gross_cents, l.txn_count))
                .collect();
            totals.push((steps, processed, lines));
        }
        let mut both = vec![(a, 900, 3), (b, 600, 2)];
        both.sort();
        assert_eq!(
            totals[0],
            (vec![2, 1], Some(3), vec![(a, 900, 3)]),
            "one merchant's rows, in batches of two"
        );
        assert_eq!(
            totals[1],
            (vec![2, 2, 1], Some(5), both),
            "five rows of one instant in batches of two"
        );
    }

    #[tokio::test]
    async fn a_batch_that_finds_a_cancel_request_or_a_lost_lease_is_rolled_back() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let admin = user(&db.pool).await;
        let a = merchant(&client).await;
        for hour in 1..=4 {
            booked(&client, a, at(7, hour), 100, 1).await;
        }
        let job = settlement_job(&client, admin).await;
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        claim(&client, job.id, me, LEASE).await.unwrap().unwrap();
        slices(&client, job.id, &[(at(7, 0), at(8, 0))])
            .await
            .unwrap();
        client
            .batch_execute("SET synchronous_commit = on")
            .await
            .unwrap();
        let first = settle_batch(&client, job.id, 0, me, None, 2).await;
        assert_eq!(first.unwrap(), Step::Counted { rows: 2 });
        let setting = client.query_one("SHOW synchronous_commit", &[]).await;
        assert_eq!(
            setting.unwrap().get::<_, String>(0),
            "on",
            "a batch's asynchronous commit ends with its transaction"
        );

        let theirs = settle_batch(&client, job.id, 0, other, None, 2).await;
        assert_eq!(theirs.unwrap(), Step::LeaseLost, "only the holder counts");
        request_cancel(&client, job.id).await.unwrap();
        let mine = settle_batch(&client, job.id, 0, me, None, 2).await;
        assert_eq!(mine.unwrap(), Step::CancelRequested);

        let lines = settlement_lines(&client, job.id, None, 10).await.unwrap();
        assert_eq!(
            lines.iter().map(|l| l.txn_count).collect::<Vec<_>>(),
            [2],
            "neither refused batch added to the totals"
        );
        assert_eq!(
            sync_walk(&client, job.id, me, LEASE).await.unwrap(),
            Some(2)
        );
        assert_eq!(
            sync_walk(&client, job.id, other, LEASE).await.unwrap(),
            None,
            "only the holder renews"
        );
    }

    #[tokio::test]
    async fn batches_count_each_transaction_once_into_day_and_merchant_totals_under_one_lease() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let admin = user(&db.pool).await;
        let (a, b) = (merchant(&client).await, merchant(&client).await);
        booked(&client, a, at(1, 9), 1_000, 59).await;
        booked(&client, a, at(1, 23), 500, 45).await;
        booked(&client, b, at(1, 12), 2_000, 88).await;
        booked(&client, a, at(2, 0), 700, 50).await;
        booked(&client, b, at(3, 8), 9_999, 1).await; // outside the range
        let job = settlement_job(&client, admin).await;
        let (from, until) = (at(1, 0), at(3, 0));

        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let held = claim(&client, job.id, me, LEASE).await.unwrap().unwrap();
        assert_eq!(held.job.status, JobStatus::Running);
        assert!(
            claim(&client, job.id, other, LEASE)
                .await
                .unwrap()
                .is_none(),
            "a live lease keeps a second run out"
        );
        assert_eq!(
            count_transactions(&client, from, until, None)
                .await
                .unwrap(),
            4
        );
        assert_eq!(
            count_transactions(&client, from, until, Some(b))
                .await
                .unwrap(),
            1
        );
        let planned = [(at(1, 0), at(2, 0)), (at(2, 0), at(3, 0))];
        let recorded = slices(&client, job.id, &planned).await.unwrap();
        assert_eq!(
            recorded
                .iter()
                .map(|s| (s.number, s.from, s.until))
                .collect::<Vec<_>>(),
            [(0, at(1, 0), at(2, 0)), (1, at(2, 0), at(3, 0))]
        );
        assert_eq!(
            slices(&client, job.id, &[(from, until)]).await.unwrap(),
            recorded,
            "a run that resumes keeps the slices (and cursors) it finds"
        );

        assert_eq!(walk(&client, job.id, 0, me, None, 3).await, [3, 0]);
        assert_eq!(walk(&client, job.id, 1, me, None, 3).await, [1]);
        assert_eq!(
            sync_walk(&client, job.id, me, LEASE).await.unwrap(),
            Some(4),
            "the job counts what its slices counted"
        );
        let lines = settlement_lines(&client, job.id, None, 10).await.unwrap();
        let mut day_one = vec![(a, 1_500, 104, 2), (b, 2_000, 88, 1)];
        day_one.sort();
        let got: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l.date.to_string(),
                    l.merchant_id,
                    l.gross_cents,
                    l.fee_cents,
                    l.txn_count,
                )
            })
            .collect();
        let mut expected: Vec<_> = day_one
            .into_iter()
            .map(|(m, g, f, n)| ("2026-01-01".to_owned(), m, g, f, n))
            .collect();
        expected.push(("2026-01-02".to_owned(), a, 700, 50, 1));
        assert_eq!(
            got, expected,
            "one line per merchant per day, in file order"
        );
        let page = settlement_lines(
            &client,
            job.id,
            Some((lines[0].date, lines[0].merchant_id)),
            1,
        )
        .await
        .unwrap();
        assert_eq!(
            page,
            vec![lines[1].clone()],
            "pages continue after a (day, merchant) key"
        );

        // Past the end, a batch counts nothing and changes nothing.
        assert_eq!(walk(&client, job.id, 1, me, None, 3).await, [0]);

        assert_eq!(
            request_cancel(&client, job.id).await.unwrap(),
            Some(JobStatus::Running)
        );
        let step = settle_batch(&client, job.id, 0, me, None, 3).await;
        assert_eq!(step.unwrap(), Step::CancelRequested);
        assert!(
            finish(&client, job.id, me, JobStatus::Cancelled, None, None)
                .await
                .unwrap()
                .is_some_and(|j| j.status == JobStatus::Cancelled)
        );
        assert!(
            settlement_lines(&client, job.id, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            slices(&client, job.id, &[]).await.unwrap().is_empty(),
            "a finished job keeps no walk state"
        );
        assert!(
            claim(&client, job.id, me, LEASE).await.unwrap().is_none(),
            "finished for good"
        );
        assert_eq!(
            request_cancel(&client, job.id).await.unwrap(),
            Some(JobStatus::Cancelled)
        );
        assert_eq!(request_cancel(&client, Uuid::now_v7()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_failed_run_is_retried_after_its_lease_and_the_job_gives_up_at_the_bound() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let admin = user(&db.pool).await;
        let job = settlement_job(&client, admin).await;
        let first = Uuid::now_v7();
        claim(&client, job.id, first, LEASE).await.unwrap().unwrap();
        set_upload(&client, job.id, first, Some("upload-1"))
            .await
            .unwrap();
        assert!(
            fail_run(&client, job.id, Uuid::now_v7(), "x", false, 3, LEASE)
                .await
                .unwrap()
                .is_none(),
            "only the holder's failure counts"
        );
        let retried = fail_run(&client, job.id, first, "S3 down", false, 3, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retried.job.status, JobStatus::Running);
        assert_eq!(retried.failed_runs, 1);
        assert_eq!(retried.job.error.as_deref(), Some("S3 down"));
        assert_eq!(retried.upload_id.as_deref(), Some("upload-1"));
        assert!(
            claim(&client, job.id, Uuid::now_v7(), LEASE)
                .await
                .unwrap()
                .is_none(),
            "the dead run's lease spaces the retry"
        );
        client
            .execute(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
                &[&job.id],
            )
            .await
            .unwrap();
        assert_eq!(release_stalled(&client, 10).await.unwrap().len(), 1);

        for (n, owner) in [(2, Uuid::now_v7()), (3, Uuid::now_v7())] {
            let held = claim(&client, job.id, owner, LEASE).await.unwrap().unwrap();
            assert_eq!(held.upload_id.as_deref(), Some("upload-1"));
            let failed = fail_run(&client, job.id, owner, "S3 down", false, 3, LEASE)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(failed.failed_runs, n);
            client
                .execute(
                    "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
                    &[&job.id],
                )
                .await
                .unwrap();
        }
        let gave_up = find(&client, job.id).await.unwrap().unwrap();
        assert_eq!(
            gave_up.status,
            JobStatus::Failed,
            "the third failure is the last"
        );
        assert!(gave_up.finished_at.is_some());
        assert!(release_stalled(&client, 10).await.unwrap().is_empty());
        assert!(
            claim(&client, job.id, Uuid::now_v7(), LEASE)
                .await
                .unwrap()
                .is_none()
        );

        let permanent = settlement_job(&client, admin).await;
        let owner = Uuid::now_v7();
        claim(&client, permanent.id, owner, LEASE)
            .await
            .unwrap()
            .unwrap();
        let failed = fail_run(&client, permanent.id, owner, "bad params", true, 3, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (failed.job.status, failed.failed_runs),
            (JobStatus::Failed, 1),
            "a permanent error gives up at once"
        );
    }

    #[tokio::test]
    async fn a_queued_job_cancels_at_once_and_an_expired_lease_lets_another_run_resume() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let admin = user(&db.pool).await;
        let queued = settlement_job(&client, admin).await;
        assert_eq!(
            request_cancel(&client, queued.id).await.unwrap(),
            Some(JobStatus::Queued)
        );
        let cancelled = find(&client, queued.id).await.unwrap().unwrap();
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        assert!(cancelled.finished_at.is_some());

        let job = settlement_job(&client, admin).await;
        let (dead, next) = (Uuid::now_v7(), Uuid::now_v7());
        claim(&client, job.id, dead, LEASE).await.unwrap().unwrap();
        slices(&client, job.id, &[(at(1, 0), at(2, 0))])
            .await
            .unwrap();
        client
            .execute(
                "UPDATE job_slices SET cursor_at = $2, cursor_id = 7 WHERE job_id = $1",
                &[&job.id, &at(1, 9)],
            )
            .await
            .unwrap();
        client
            .execute(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
                &[&job.id],
            )
            .await
            .unwrap();
        let stalled = release_stalled(&client, 10).await.unwrap();
        assert_eq!(stalled, [(job.id, JobKind::Settlement, Some(admin))]);
        assert!(
            release_stalled(&client, 10).await.unwrap().is_empty(),
            "announced again once"
        );
        claim(&client, job.id, next, LEASE).await.unwrap().unwrap();
        let cursor = client
            .query_one(
                "SELECT cursor_at, cursor_id FROM job_slices WHERE job_id = $1",
                &[&job.id],
            )
            .await
            .unwrap();
        assert_eq!(
            (cursor.get::<_, DateTime<Utc>>(0), cursor.get::<_, i64>(1)),
            (at(1, 9), 7),
            "the walk goes on from its slice's cursor"
        );
        assert!(
            finish(&client, job.id, dead, JobStatus::Completed, None, None)
                .await
                .unwrap()
                .is_none()
        );
        let listed = list(
            &client,
            Some(JobKind::Settlement),
            Some(JobStatus::Running),
            10,
            None,
        )
        .await
        .unwrap();
        assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    }
}

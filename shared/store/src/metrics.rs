//! Event metrics: raw events into the month partitions of `metric_events` by binary `COPY`, and the
//! per-minute aggregates of `metric_minutes` (appended per batch, merged per closed minute later).

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::metrics::{Aggregate, MetricEvent, MinuteAggregate, Series};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::StoreError;

/// Writes a batch of events with one binary `COPY`, inside the caller's transaction. An event in a month
/// that has no partition fails the whole batch with `StoreError::NoPartition`: nothing is half-written.
/// The statement is prepared once per connection: a batch costs the `COPY` and its rows, no parse.
pub async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[MetricEvent],
) -> Result<u64, StoreError> {
    let copy = tx
        .prepare_cached(
            "COPY metric_events (merchant_id, occurred_at, event_type, user_id, value) FROM STDIN BINARY",
        )
        .await?;
    let sink = tx.copy_in(&copy).await?;
    let types = [
        Type::UUID,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures::pin_mut!(writer);
    for e in events {
        writer
            .as_mut()
            .write(&[
                &e.merchant_id,
                &e.timestamp,
                &e.event_type,
                &e.user_id,
                &e.value,
            ])
            .await
            .map_err(no_partition)?;
    }
    writer.finish().await.map_err(no_partition)
}

/// Postgres says "no partition of relation … found for row" with a check-violation code; say which month.
fn no_partition(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db)
            if db.code() == &SqlState::CHECK_VIOLATION
                && db.message().starts_with("no partition") =>
        {
            StoreError::NoPartition(format!(
                "metric_events: {} ({})",
                db.message(),
                db.detail().unwrap_or("no detail")
            ))
        }
        _ => e.into(),
    }
}

/// Appends one row per minute and series of a batch (never updates: see `metric_minutes`). Prepared once
/// per connection, so that ingest can send it in the same flush as its `COPY`.
pub async fn append_minutes(
    db: &impl GenericClient,
    parts: &[MinuteAggregate],
) -> Result<u64, StoreError> {
    let mut merchants = Vec::with_capacity(parts.len());
    let mut types = Vec::with_capacity(parts.len());
    let mut minutes = Vec::with_capacity(parts.len());
    let mut counts = Vec::with_capacity(parts.len());
    let mut sums = Vec::with_capacity(parts.len());
    let mut mins = Vec::with_capacity(parts.len());
    let mut maxes = Vec::with_capacity(parts.len());
    let mut sketches = Vec::with_capacity(parts.len());
    for p in parts {
        merchants.push(p.series.merchant_id);
        types.push(p.series.event_type.as_str());
        minutes.push(p.minute);
        counts.push(i64::try_from(p.aggregate.count()).unwrap_or(i64::MAX));
        sums.push(p.aggregate.sum());
        mins.push(p.aggregate.min());
        maxes.push(p.aggregate.max());
        sketches.push(p.aggregate.sketch_bytes());
    }
    let append = db
        .prepare_cached(
            "INSERT INTO metric_minutes
                    (merchant_id, event_type, minute, events, value_sum, value_min, value_max, sketch)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int8[], $5::float8[],
                                  $6::float8[], $7::float8[], $8::bytea[])",
        )
        .await?;
    Ok(db
        .execute(
            &append,
            &[
                &merchants, &types, &minutes, &counts, &sums, &mins, &maxes, &sketches,
            ],
        )
        .await?)
}

/// Which series to read.
#[derive(Debug, Clone, Default)]
pub struct MinuteFilter {
    pub merchant_id: Option<Uuid>,
    pub event_type: Option<String>,
}

fn minute_aggregate(r: &tokio_postgres::Row) -> Result<MinuteAggregate, StoreError> {
    let events: i64 = r.get("events");
    let aggregate = Aggregate::from_stored(
        u64::try_from(events).unwrap_or(0),
        r.get("value_sum"),
        r.get("value_min"),
        r.get("value_max"),
        r.get::<_, &[u8]>("sketch"),
    )
    .map_err(|e| {
        StoreError::Corrupt(format!("metric_minutes row {}: {e}", r.get::<_, i64>("id")))
    })?;
    Ok(MinuteAggregate {
        minute: r.get("minute"),
        series: Series {
            merchant_id: r.get("merchant_id"),
            event_type: r.get("event_type"),
        },
        aggregate,
    })
}

/// Every stored part of the minutes `from..=to` that matches the filter, oldest minute first.
pub async fn minutes(
    db: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filter: &MinuteFilter,
) -> Result<Vec<MinuteAggregate>, StoreError> {
    let rows = db
        .query(
            "SELECT id, merchant_id, event_type, minute, events, value_sum, value_min, value_max, sketch
               FROM metric_minutes
              WHERE minute BETWEEN $1 AND $2
                AND ($3::uuid IS NULL OR merchant_id = $3)
                AND ($4::text IS NULL OR event_type = $4)
              ORDER BY minute",
            &[&from, &to, &filter.merchant_id, &filter.event_type],
        )
        .await?;
    rows.iter().map(minute_aggregate).collect()
}

/// Takes (deletes and returns) every part of up to `limit` closed minutes that have more than one part,
/// inside the caller's transaction, for the caller to put back merged. Rows are locked as they are taken,
/// and `SKIP LOCKED` lets two compactions share the work instead of queueing.
pub async fn take_scattered_minutes(
    tx: &tokio_postgres::Transaction<'_>,
    closed_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<MinuteAggregate>, StoreError> {
    let rows = tx
        .query(
            "WITH scattered AS (
                 SELECT merchant_id, event_type, minute
                   FROM metric_minutes
                  WHERE minute < $1
                  GROUP BY merchant_id, event_type, minute
                 HAVING count(*) > 1
                  LIMIT $2
             ), taken AS (
                 SELECT m.id FROM metric_minutes m
                   JOIN scattered USING (merchant_id, event_type, minute)
                    FOR UPDATE OF m SKIP LOCKED
             )
             DELETE FROM metric_minutes m USING taken WHERE m.id = taken.id
             RETURNING m.id, m.merchant_id, m.event_type, m.minute, m.events, m.value_sum, m.value_min,
                       m.value_max, m.sketch",
            &[&closed_before, &limit],
        )
        .await?;
    rows.iter().map(minute_aggregate).collect()
}

/// Forgets minutes older than `before` (the API answers at most the last 1,440; days are kept apart).
pub async fn forget_minutes(
    db: &impl GenericClient,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(db
        .execute("DELETE FROM metric_minutes WHERE minute < $1", &[&before])
        .await?)
}

/// Makes the month partitions of `metric_events` from `first`'s month to `last`'s that do not exist yet;
/// returns how many it made.
pub async fn ensure_partitions(
    db: &impl GenericClient,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<i32, StoreError> {
    let row = db
        .query_one(
            "SELECT metric_events_ensure_partitions($1, $2)",
            &[&first, &last],
        )
        .await?;
    Ok(row.get(0))
}

/// One merchant's events on one UTC day: how many and the sum of their values.
#[derive(Debug, Clone, PartialEq)]
pub struct DayTotal {
    pub merchant_id: Uuid,
    pub day: NaiveDate,
    pub events: i64,
    pub value_sum: f64,
}

/// Appends one row per (merchant, day) of a batch (never updates, like `append_minutes`, and prepared
/// once per connection like it).
pub async fn append_days(db: &impl GenericClient, days: &[DayTotal]) -> Result<u64, StoreError> {
    let merchants: Vec<Uuid> = days.iter().map(|d| d.merchant_id).collect();
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.day).collect();
    let events: Vec<i64> = days.iter().map(|d| d.events).collect();
    let sums: Vec<f64> = days.iter().map(|d| d.value_sum).collect();
    let append = db
        .prepare_cached(
            "INSERT INTO metric_days (merchant_id, day, events, value_sum)
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::int8[], $4::float8[])",
        )
        .await?;
    Ok(db
        .execute(&append, &[&merchants, &dates, &events, &sums])
        .await?)
}

/// Merges the rows of up to `limit` (merchant, day) pairs that have several into one each, in one
/// statement; returns how many rows it took. A row appended meanwhile stays a row of its own until the
/// next run: sums are the same either way.
pub async fn merge_scattered_days(db: &impl GenericClient, limit: i64) -> Result<u64, StoreError> {
    let row = db
        .query_one(
            "WITH scattered AS (
                 SELECT merchant_id, day FROM metric_days
                  GROUP BY merchant_id, day HAVING count(*) > 1 LIMIT $1
             ), taken AS (
                 DELETE FROM metric_days d USING scattered s
                  WHERE d.merchant_id = s.merchant_id AND d.day = s.day
                 RETURNING d.merchant_id, d.day, d.events, d.value_sum
             ), merged AS (
                 INSERT INTO metric_days (merchant_id, day, events, value_sum)
                 SELECT merchant_id, day, sum(events), sum(value_sum) FROM taken GROUP BY merchant_id, day
             )
             SELECT count(*) FROM taken",
            &[&limit],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// What the analytics query asks for.
#[derive(Debug, Clone)]
pub struct DailyFilter {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub plan: Option<String>,
    pub merchant_id: Option<Uuid>,
    /// Rows strictly after this (day, merchant) in the page order (newest day first).
    pub after: Option<(NaiveDate, Uuid)>,
    pub limit: i64,
}

const DAILY: &str = "SELECT d.merchant_id, d.day, sum(d.events)::int8, sum(d.value_sum)
       FROM metric_days d
      WHERE d.day BETWEEN $1 AND $2
        AND ($3::uuid IS NULL OR d.merchant_id = $3)
        AND ($4::text IS NULL OR d.merchant_id IN (SELECT id FROM merchants WHERE plan = $4))
        AND ($5::date IS NULL OR (d.day, d.merchant_id) < ($5, $6::uuid))
      GROUP BY d.day, d.merchant_id
      ORDER BY d.day DESC, d.merchant_id DESC
      LIMIT $7";

const DAILY_FROM_EVENTS: &str =
    "SELECT merchant_id, (occurred_at AT TIME ZONE 'UTC')::date AS day, count(*), sum(value)
       FROM metric_events
      WHERE occurred_at >= $1 AND occurred_at < $2
        AND ($3::text IS NULL OR merchant_id IN (SELECT id FROM merchants WHERE plan = $3))
      GROUP BY 1, 2
      ORDER BY day DESC, merchant_id DESC
      LIMIT $4";

/// The analytics statement as served (`raw` false: the rollups) or on the raw table, with its
/// parameters, under `prefix` (empty, or `EXPLAIN …`).
async fn query_daily(
    db: &impl GenericClient,
    filter: &DailyFilter,
    raw: bool,
    prefix: &str,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    Ok(if raw {
        let (start, end) = instants(filter);
        db.query(
            &format!("{prefix}{DAILY_FROM_EVENTS}"),
            &[&start, &end, &filter.plan, &filter.limit],
        )
        .await?
    } else {
        let (after_day, after_merchant) = filter.after.unzip();
        db.query(
            &format!("{prefix}{DAILY}"),
            &[
                &filter.from,
                &filter.to,
                &filter.merchant_id,
                &filter.plan,
                &after_day,
                &after_merchant,
                &filter.limit,
            ],
        )
        .await?
    })
}

fn day_totals(rows: &[tokio_postgres::Row]) -> Vec<DayTotal> {
    rows.iter()
        .map(|r| DayTotal {
            merchant_id: r.get(0),
            day: r.get(1),
            events: r.get(2),
            value_sum: r.get(3),
        })
        .collect()
}

/// Per merchant per day, newest day first, then merchant id descending: the seed's analytics query,
/// answered from `metric_days`.
pub async fn daily(
    db: &impl GenericClient,
    filter: &DailyFilter,
) -> Result<Vec<DayTotal>, StoreError> {
    Ok(day_totals(&query_daily(db, filter, false, "").await?))
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the analytics query as served (`daily`) or on the raw table, with
/// the very statements above: for the benchmark and the ADR.
pub async fn explain_daily(
    db: &impl GenericClient,
    filter: &DailyFilter,
    raw: bool,
) -> Result<String, StoreError> {
    let rows = query_daily(db, filter, raw, "EXPLAIN (ANALYZE, BUFFERS) ").await?;
    Ok(rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Seeded events so far (`make seed-events` gives each a `user_id` starting `seed-`).
pub async fn seeded_events(db: &impl GenericClient) -> Result<i64, StoreError> {
    let row = db
        .query_one(
            "SELECT count(*) FROM metric_events WHERE user_id LIKE 'seed-%'",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Generates seed events number `first..=last` of `total`, spread evenly over `span_seconds` from
/// `start` and over `merchants`, with set-based SQL, and their day totals beside them: one statement, so
/// a chunk is there whole or not at all. Event `n` is the same whichever chunk makes it.
pub async fn seed_events(
    db: &impl GenericClient,
    first: i64,
    last: i64,
    total: i64,
    start: DateTime<Utc>,
    span_seconds: f64,
    merchants: &[Uuid],
) -> Result<u64, StoreError> {
    let row = db
        .query_one(
            "WITH generated AS (
                 SELECT ($3::uuid[])[1 + (g * 7919) % cardinality($3::uuid[])] AS merchant_id,
                        $4::timestamptz + make_interval(secs => (g - 1) * $5::float8 / $6::int8) AS occurred_at,
                        (ARRAY['page_view', 'add_to_cart', 'checkout.step', 'latency'])[1 + g % 4] AS event_type,
                        'seed-' || (g % 100000) AS user_id,
                        ((g * 31) % 1000 + 1)::float8 AS value
                   FROM generate_series($1::int8, $2::int8) AS g
             ), stored AS (
                 INSERT INTO metric_events (merchant_id, occurred_at, event_type, user_id, value, received_at)
                 SELECT merchant_id, occurred_at, event_type, user_id, value, occurred_at FROM generated
                 RETURNING merchant_id, occurred_at, value
             ), days AS (
                 INSERT INTO metric_days (merchant_id, day, events, value_sum)
                 SELECT merchant_id, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(value)
                   FROM stored GROUP BY 1, 2
             )
             SELECT count(*) FROM stored",
            &[&first, &last, &merchants, &start, &span_seconds, &total],
        )
        .await
        .map_err(no_partition)?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

fn instants(filter: &DailyFilter) -> (DateTime<Utc>, DateTime<Utc>) {
    let midnight = |day: NaiveDate| day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    (
        midnight(filter.from),
        midnight(filter.to + chrono::Days::new(1)),
    )
}

/// The seed's analytics query as it reads on the raw table (the baseline the rollups are measured
/// against): per merchant per day on a plan, newest day first. No cursor: it is not served.
pub async fn daily_from_events(
    db: &impl GenericClient,
    filter: &DailyFilter,
) -> Result<Vec<DayTotal>, StoreError> {
    Ok(day_totals(&query_daily(db, filter, true, "").await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;

    fn event(at: &str, value: f64) -> MetricEvent {
        MetricEvent {
            timestamp: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            merchant_id: Uuid::now_v7(),
            user_id: "u-1".into(),
            event_type: "page_view".into(),
            value,
        }
    }

    fn month(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[tokio::test]
    async fn events_land_in_the_partition_of_their_utc_month() {
        let db = fresh_database().await;
        let mut client = db.pool.get().await.unwrap();
        let made = ensure_partitions(&client, month("2030-01-01"), month("2030-02-01"))
            .await
            .unwrap();
        assert_eq!(made, 2);
        let again = ensure_partitions(&client, month("2030-01-01"), month("2030-02-01"))
            .await
            .unwrap();
        assert_eq!(
            again, 0,
            "making partitions twice makes nothing the second time"
        );

        let tx = client.transaction().await.unwrap();
        let events = [
            event("2030-01-31T23:59:59Z", 1.0),
            // 00:30 on 1 February in UTC, still 31 January in New York: the UTC month decides.
            event("2030-01-31T19:30:00-05:00", 2.0),
            event("2030-02-15T12:00:00Z", 3.0),
        ];
        assert_eq!(insert_events(&tx, &events).await.unwrap(), 3);
        tx.commit().await.unwrap();
        let rows = client
            .query(
                "SELECT tableoid::regclass::text, count(*) FROM metric_events GROUP BY 1 ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        let placed: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            placed,
            [
                ("metric_events_2030_01".to_owned(), 1),
                ("metric_events_2030_02".to_owned(), 2)
            ]
        );
    }

    #[tokio::test]
    async fn an_event_in_a_month_without_a_partition_fails_the_whole_batch() {
        let db = fresh_database().await;
        let mut client = db.pool.get().await.unwrap();
        ensure_partitions(&client, month("2030-01-01"), month("2030-01-01"))
            .await
            .unwrap();
        let tx = client.transaction().await.unwrap();
        let batch = [
            event("2030-01-10T00:00:00Z", 1.0),
            event("1999-12-31T23:00:00Z", 2.0),
        ];
        let error = insert_events(&tx, &batch).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::NoPartition(m) if m.contains("metric_events")),
            "{error}"
        );
        drop(tx);
        let count: i64 = client
            .query_one("SELECT count(*) FROM metric_events", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 0, "the good event of the batch was not kept either");
    }

    #[tokio::test]
    async fn partitions_are_made_only_for_a_sane_range() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        for (first, last) in [("2030-02-01", "2030-01-01"), ("2030-01-01", "2045-01-01")] {
            let error = ensure_partitions(&client, month(first), month(last))
                .await
                .unwrap_err();
            let message = match &error {
                StoreError::Query(e) => e.as_db_error().map(|d| d.message().to_owned()),
                _ => None,
            };
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.contains("not a range")),
                "{error:?}"
            );
        }
    }
}

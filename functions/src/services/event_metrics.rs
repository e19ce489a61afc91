//! Event metrics: shops' events in (validated one by one, stored raw and folded per minute in one
//! transaction), aggregates of the last N minutes out, and the upkeep that keeps both cheap.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Timelike, Utc};
use orderly_domain::access::Principal;
use orderly_domain::metrics::intake::{
    MAX_EVENTS_PER_REQUEST, MAX_PAST, Rejection, Sender, TypedEvent, read_event, read_typed,
};
use orderly_domain::metrics::{MAX_FUTURE, MetricEvent, MetricsProcessor, Summary};
use orderly_http::FieldError;
use orderly_store::metrics::{self as store, DayTotal, MinuteFilter};
use orderly_store::{Pool, api_keys, merchants};
use serde_json::Value;
use uuid::Uuid;

use super::{Caller, ServiceError};
use crate::State;

/// Longest span `GET /api/v1/admin/metrics` answers, and how long minutes are kept.
pub const MAX_MINUTES: u32 = 1_440;

/// What became of a request's events.
#[derive(Debug)]
pub struct Ingested {
    pub accepted: usize,
    /// By index, every problem of every event that was not kept.
    pub rejected: Vec<Rejection>,
}

/// Which merchant each API key sends for, as this instance has looked it up. A key's merchant is set
/// when the key is made and never changes, and a revoked key is refused by the front door on every
/// request, so the answer can be kept: it saves each batch a round trip.
static KEY_MERCHANTS: LazyLock<Mutex<HashMap<Uuid, Option<Uuid>>>> = LazyLock::new(Mutex::default);
/// Keys remembered at most; past it the memory starts over (a key is one lookup away).
const KEY_MERCHANTS_HELD: usize = 10_000;

async fn key_merchant(state: &State, key: Uuid) -> Result<Option<Uuid>, ServiceError> {
    let known = KEY_MERCHANTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .copied();
    if let Some(merchant) = known {
        return Ok(merchant);
    }
    let merchant = api_keys::merchant_of(&state.db.get().await?, key)
        .await?
        .ok_or(ServiceError::Unauthorized("this API key was revoked"))?;
    let mut held = KEY_MERCHANTS.lock().unwrap_or_else(|e| e.into_inner());
    if held.len() >= KEY_MERCHANTS_HELD {
        held.clear();
    }
    held.insert(key, merchant);
    Ok(merchant)
}

async fn sender(state: &State, caller: &Caller) -> Result<Sender, ServiceError> {
    match caller.principal {
        Some(Principal::User { id, .. }) => Ok(Sender::User(id)),
        Some(Principal::ApiKey { id }) => Ok(match key_merchant(state, id).await? {
            Some(merchant) => Sender::MerchantKey(merchant),
            None => Sender::PlatformKey,
        }),
        None => Err(ServiceError::Unauthorized("sign in or send an API key")),
    }
}

/// A request's events: read straight into typed events when every one has the right shape (the common
/// case, and much cheaper), else as JSON values, each read field by field.
pub enum Incoming<'a> {
    Typed(Vec<TypedEvent<'a>>),
    Fields(Vec<Value>),
}

impl Incoming<'_> {
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        match self {
            Incoming::Typed(events) => events.len(),
            Incoming::Fields(events) => events.len(),
        }
    }
}

/// Keeps every valid event of `events` and reports the others. When none is valid, nothing is written
/// and the answer is 422 with every problem; otherwise raw rows and minute aggregates are written in one
/// transaction, so they never disagree.
pub async fn ingest(
    state: &State,
    caller: &Caller,
    events: Incoming<'_>,
) -> Result<Ingested, ServiceError> {
    let sender = sender(state, caller).await?;
    if events.is_empty() {
        return Err(ServiceError::invalid("body", "send at least one event"));
    }
    if events.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ServiceError::TooMany {
            limit: MAX_EVENTS_PER_REQUEST,
            what: "events",
        });
    }
    let now = Utc::now();
    let (mut accepted, mut rejected) = (Vec::with_capacity(events.len()), Vec::new());
    let mut read = |index: usize, result: Result<MetricEvent, Vec<Rejection>>| match result {
        Ok(event) => accepted.push((index, event)),
        Err(problems) => rejected.extend(problems),
    };
    match &events {
        Incoming::Typed(typed) => {
            for (index, event) in typed.iter().enumerate() {
                let result = match read_typed(event, sender, now) {
                    Some(event) => Ok(event),
                    // A typed event that breaks a rule is read field by field, for the exact reasons.
                    None => {
                        let fields = serde_json::to_value(event).map_err(ServiceError::internal)?;
                        read_event(index, &fields, sender, now)
                    }
                };
                read(index, result);
            }
        }
        Incoming::Fields(values) => {
            for (index, raw) in values.iter().enumerate() {
                read(index, read_event(index, raw, sender, now));
            }
        }
    }
    if !matches!(sender, Sender::MerchantKey(_)) {
        reject_unknown_merchants(&state.db, &mut accepted, &mut rejected).await?;
    }
    rejected.sort_by_key(|r| r.index);
    if accepted.is_empty() {
        return Err(ServiceError::Invalid(
            rejected
                .into_iter()
                .map(|r| FieldError::new(format!("[{}].{}", r.index, r.field), r.message))
                .collect(),
        ));
    }
    let events: Vec<MetricEvent> = accepted.into_iter().map(|(_, e)| e).collect();
    store_batch(&state.db, &events, now).await?;
    Ok(Ingested {
        accepted: events.len(),
        rejected,
    })
}

/// Events naming a merchant there is not are rejected one by one, like any other bad field.
async fn reject_unknown_merchants(
    db: &Pool,
    accepted: &mut Vec<(usize, MetricEvent)>,
    rejected: &mut Vec<Rejection>,
) -> Result<(), ServiceError> {
    let mut named: Vec<Uuid> = accepted.iter().map(|(_, e)| e.merchant_id).collect();
    named.sort_unstable();
    named.dedup();
    let known = merchants::existing(&db.get().await?, &named).await?;
    accepted.retain(|(index, event)| {
        let ok = known.contains(&event.merchant_id);
        if !ok {
            rejected.push(Rejection {
                index: *index,
                field: "merchant_id".into(),
                message: "no such merchant".into(),
            });
        }
        ok
    });
    Ok(())
}

/// The raw rows by binary `COPY`, and the batch folded per minute and series, appended: one transaction.
pub async fn store_batch(
    db: &Pool,
    events: &[MetricEvent],
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let minutes_back = (MAX_PAST + MAX_FUTURE).num_minutes() as u32 + 1;
    let batch = MetricsProcessor::new(minutes_back, events.len());
    for event in events {
        // Validation already refused what the processor would.
        batch
            .process_event(event, now)
            .map_err(ServiceError::internal)?;
    }
    let parts = batch.take_minutes();
    let days = day_totals(events);
    let mut client = db.get().await?;
    let tx = client.transaction().await?;
    // The three statements go out in one flush, the aggregates first: polled in this order, their
    // requests are queued on the connection before the `COPY`'s, and none waits for another's answer.
    futures::try_join!(
        store::append_minutes(&tx, &parts),
        store::append_days(&tx, &days),
        store::insert_events(&tx, events),
    )?;
    tx.commit().await?;
    Ok(())
}

/// A batch's events per merchant and UTC day.
fn day_totals(events: &[MetricEvent]) -> Vec<DayTotal> {
    let mut days: HashMap<(Uuid, NaiveDate), (i64, f64)> = HashMap::new();
    for e in events {
        let total = days
            .entry((e.merchant_id, e.timestamp.date_naive()))
            .or_default();
        total.0 += 1;
        total.1 += e.value;
    }
    days.into_iter()
        .map(|((merchant_id, day), (events, value_sum))| DayTotal {
            merchant_id,
            day,
            events,
            value_sum,
        })
        .collect()
}

/// What an admin asks of the metrics.
#[derive(Debug, Clone)]
pub struct MetricsQuery {
    /// The last this many minutes, the open one included (1–1,440).
    pub minutes: u32,
    pub merchant_id: Option<Uuid>,
    pub event_type: Option<String>,
    /// Also each minute on its own.
    pub per_minute: bool,
}

/// One event type over the span: merged over every merchant unless the query named one.
#[derive(Debug)]
pub struct EventTypeReport {
    pub event_type: String,
    pub summary: Summary,
    pub per_minute: Option<Vec<(DateTime<Utc>, Summary)>>,
}

#[derive(Debug)]
pub struct MetricsReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub event_types: Vec<EventTypeReport>,
}

fn minute_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

pub async fn report(
    state: &State,
    caller: &Caller,
    query: MetricsQuery,
) -> Result<MetricsReport, ServiceError> {
    caller.admin()?;
    if !(1..=MAX_MINUTES).contains(&query.minutes) {
        return Err(ServiceError::invalid(
            "minutes",
            format!("must be from 1 to {MAX_MINUTES}"),
        ));
    }
    let now = Utc::now();
    let from = minute_start(now) - Duration::minutes(i64::from(query.minutes) - 1);
    let filter = MinuteFilter {
        merchant_id: query.merchant_id,
        event_type: query.event_type.clone(),
    };
    let parts = store::minutes(&state.db.get().await?, from, now, &filter).await?;
    // Merchants are merged unless one was asked for: the series is the event type.
    let span = MetricsProcessor::new(query.minutes, usize::MAX);
    for mut part in parts {
        part.series.merchant_id = query.merchant_id.unwrap_or_default();
        // A part of a minute that closed between the query and now falls out of the window: skip it.
        let _ = span.absorb(&part, now);
    }
    let event_types = span
        .aggregates(query.minutes, now)
        .into_iter()
        .map(|(series, summary)| EventTypeReport {
            per_minute: query
                .per_minute
                .then(|| span.series(&series, query.minutes, now)),
            event_type: series.event_type,
            summary,
        })
        .collect();
    Ok(MetricsReport {
        from,
        to: now,
        event_types,
    })
}

/// What one upkeep run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Upkeep {
    pub partitions_made: i32,
    pub parts_merged: usize,
    pub day_rows_merged: u64,
    pub minutes_forgotten: u64,
}

/// Month partitions from last month to three ahead; the scattered parts of closed minutes, and of days,
/// merged into one row each (a bounded number per run); minutes past the longest span the API answers
/// forgotten.
pub async fn upkeep(db: &Pool, now: DateTime<Utc>) -> Result<Upkeep, ServiceError> {
    let mut done = Upkeep {
        partitions_made: ensure_partitions(db, now).await?,
        ..Upkeep::default()
    };
    let closed_before = minute_start(now) - Duration::minutes(1);
    for _ in 0..MERGE_BATCHES_PER_RUN {
        let merged = merge_scattered_minutes(db, closed_before).await?;
        done.parts_merged += merged;
        if merged == 0 {
            break;
        }
    }
    for _ in 0..MERGE_BATCHES_PER_RUN {
        let merged = store::merge_scattered_days(&db.get().await?, DAYS_PER_MERGE).await?;
        done.day_rows_merged += merged;
        if merged == 0 {
            break;
        }
    }
    done.minutes_forgotten = store::forget_minutes(
        &db.get().await?,
        minute_start(now) - Duration::minutes(i64::from(MAX_MINUTES) + 60),
    )
    .await?;
    Ok(done)
}

const MERGE_BATCHES_PER_RUN: usize = 20;
const MINUTES_PER_MERGE: i64 = 500;
const DAYS_PER_MERGE: i64 = 5_000;

/// Month partitions of `metric_events` from last month to three months ahead.
pub async fn ensure_partitions(db: &Pool, now: DateTime<Utc>) -> Result<i32, ServiceError> {
    let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default();
    let first = this_month - Months::new(1);
    let last = this_month + Months::new(3);
    Ok(store::ensure_partitions(&db.get().await?, first, last).await?)
}

/// One transaction: takes every part of some scattered closed minutes and puts each minute back as one
/// merged row. Returns how many parts it took.
async fn merge_scattered_minutes(
    db: &Pool,
    closed_before: DateTime<Utc>,
) -> Result<usize, ServiceError> {
    let mut client = db.get().await?;
    let tx = client.transaction().await?;
    let parts = store::take_scattered_minutes(&tx, closed_before, MINUTES_PER_MERGE).await?;
    if parts.is_empty() {
        return Ok(0);
    }
    let merged = MetricsProcessor::new(u32::MAX, usize::MAX);
    for part in &parts {
        merged
            .absorb(part, closed_before)
            .map_err(ServiceError::internal)?;
    }
    store::append_minutes(&tx, &merged.take_minutes()).await?;
    tx.commit().await?;
    Ok(parts.len())
}

#[cfg(test)]
mod tests {
    use orderly_domain::metrics::Aggregate;
    use orderly_store::testing::fresh_database;

    use super::*;

    /// 3,000 events over 3 merchants, 2 event types and 10 closed minutes, in 6 batches of 500 (so most
    /// minutes get a part from several batches), with integer values so sums are exact.
    fn events(now: DateTime<Utc>, merchants: &[Uuid]) -> Vec<Vec<MetricEvent>> {
        let all: Vec<MetricEvent> = (0..3_000_i64)
            .map(|i| MetricEvent {
                timestamp: minute_start(now) - Duration::minutes(3 + i % 10)
                    + Duration::seconds(i % 60),
                merchant_id: merchants[(i % 3) as usize],
                user_id: format!("u-{}", i % 17),
                event_type: if i % 7 == 0 { "checkout" } else { "page_view" }.into(),
                value: ((i * 7_919) % 1_000 + 1) as f64,
            })
            .collect();
        all.chunks(500).map(<[MetricEvent]>::to_vec).collect()
    }

    type Figures = Vec<(Uuid, String, DateTime<Utc>, i64, f64, f64, f64)>;

    /// Per merchant, type and minute: count, sum, min, max, as `query` computes them.
    async fn figures(db: &Pool, query: &str) -> Figures {
        let rows = db.get().await.unwrap().query(query, &[]).await.unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                )
            })
            .collect()
    }

    async fn raw_group_by(db: &Pool) -> Figures {
        figures(
            db,
            "SELECT merchant_id, event_type, date_trunc('minute', occurred_at), count(*),
                    sum(value), min(value), max(value)
               FROM metric_events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await
    }

    async fn rolled_up(db: &Pool) -> (Figures, i64) {
        let figures = figures(
            db,
            "SELECT merchant_id, event_type, minute, sum(events)::int8, sum(value_sum),
                    min(value_min), max(value_max)
               FROM metric_minutes GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await;
        let parts: i64 = db
            .get()
            .await
            .unwrap()
            .query_one("SELECT count(*) FROM metric_minutes", &[])
            .await
            .unwrap()
            .get(0);
        (figures, parts)
    }

    #[tokio::test]
    async fn minute_aggregates_match_a_raw_group_by_before_and_after_merging() {
        let db = fresh_database().await;
        let now = Utc::now();
        ensure_partitions(&db.pool, now).await.unwrap();
        let merchants = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        for batch in events(now, &merchants) {
            store_batch(&db.pool, &batch, now).await.unwrap();
        }
        let raw = raw_group_by(&db.pool).await;
        assert_eq!(
            raw.len(),
            3 * 2 * 10,
            "every merchant, type and minute has events"
        );
        let (before, parts_before) = rolled_up(&db.pool).await;
        assert_eq!(before, raw);
        assert!(parts_before > 60, "batches left several parts per minute");

        let done = upkeep(&db.pool, now).await.unwrap();
        assert_eq!(done.parts_merged as i64, parts_before);
        let (after, parts_after) = rolled_up(&db.pool).await;
        assert_eq!(after, raw, "merging changes no figure");
        assert_eq!(
            parts_after, 60,
            "one row per merchant, type and closed minute"
        );

        // The merged sketch of one series agrees with the exact median within the stated error.
        let client = db.pool.get().await.unwrap();
        let exact: f64 = client
            .query_one(
                "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY value) FROM metric_events
                  WHERE merchant_id = $1 AND event_type = 'page_view'",
                &[&merchants[0]],
            )
            .await
            .unwrap()
            .get(0);
        let mut merged = Aggregate::default();
        for part in store::minutes(
            &client,
            now - Duration::hours(1),
            now,
            &MinuteFilter {
                merchant_id: Some(merchants[0]),
                event_type: Some("page_view".into()),
            },
        )
        .await
        .unwrap()
        {
            merged.merge(&part.aggregate);
        }
        let p50 = merged.summary().p50;
        assert!(
            ((p50 - exact) / exact).abs() <= orderly_domain::metrics::RELATIVE_ERROR + 1e-3,
            "sketch p50 {p50} vs exact {exact}"
        );
    }

    async fn days(db: &Pool, query: &str) -> Vec<(Uuid, NaiveDate, i64, f64)> {
        let rows = db.get().await.unwrap().query(query, &[]).await.unwrap();
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    #[tokio::test]
    async fn day_totals_match_a_raw_group_by_before_and_after_merging() {
        let db = fresh_database().await;
        let now = Utc::now();
        ensure_partitions(&db.pool, now).await.unwrap();
        let merchants = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        // Over the last six days, so several UTC days (and possibly two months) are touched.
        let spread: Vec<MetricEvent> = events(now, &merchants)
            .concat()
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.timestamp -= Duration::hours((i % 144) as i64);
                e
            })
            .collect();
        for batch in spread.chunks(700) {
            store_batch(&db.pool, batch, now).await.unwrap();
        }
        let raw = "SELECT merchant_id, (occurred_at AT TIME ZONE 'UTC')::date, count(*), sum(value)
                     FROM metric_events GROUP BY 1, 2 ORDER BY 1, 2";
        let rolled = "SELECT merchant_id, day, sum(events)::int8, sum(value_sum)
                        FROM metric_days GROUP BY 1, 2 ORDER BY 1, 2";
        let expected = days(&db.pool, raw).await;
        assert!(expected.len() >= 3 * 6, "{} merchant days", expected.len());
        assert_eq!(days(&db.pool, rolled).await, expected);

        let done = upkeep(&db.pool, now).await.unwrap();
        assert!(done.day_rows_merged > expected.len() as u64);
        assert_eq!(
            days(&db.pool, rolled).await,
            expected,
            "merging changes no total"
        );
        let rows = days(
            &db.pool,
            "SELECT merchant_id, day, events, value_sum FROM metric_days",
        )
        .await;
        assert_eq!(rows.len(), expected.len(), "one row per merchant and day");
    }

    #[tokio::test]
    async fn the_open_minute_is_not_merged_and_old_minutes_are_forgotten() {
        let db = fresh_database().await;
        let now = Utc::now();
        ensure_partitions(&db.pool, now).await.unwrap();
        let shop = Uuid::now_v7();
        let at = |t: DateTime<Utc>| MetricEvent {
            timestamp: t,
            merchant_id: shop,
            user_id: "u".into(),
            event_type: "x".into(),
            value: 1.0,
        };
        for _ in 0..2 {
            store_batch(&db.pool, &[at(now)], now).await.unwrap();
        }
        // Two days ago, past the longest span the API answers (written as a late import would be).
        let old = now - Duration::days(2);
        store_batch(&db.pool, &[at(old)], now).await.unwrap();

        let done = upkeep(&db.pool, now).await.unwrap();
        assert_eq!(done.parts_merged, 0, "the open minute keeps its parts");
        assert_eq!(done.minutes_forgotten, 1);
        let (_, parts) = rolled_up(&db.pool).await;
        assert_eq!(parts, 2);
    }

    #[tokio::test]
    async fn a_batch_with_a_month_missing_writes_neither_events_nor_aggregates() {
        let db = fresh_database().await;
        let now = Utc::now();
        ensure_partitions(&db.pool, now).await.unwrap();
        let at = |t: DateTime<Utc>| MetricEvent {
            timestamp: t,
            merchant_id: Uuid::now_v7(),
            user_id: "u".into(),
            event_type: "x".into(),
            value: 1.0,
        };
        // Partitions reach three months ahead: a batch across the end of the last one has a row with a
        // partition and one without.
        let this_month = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap();
        let edge = (this_month + Months::new(4))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let batch = [
            at(edge - Duration::minutes(1)),
            at(edge + Duration::seconds(30)),
        ];
        // The aggregates go out before the `COPY` in the same flush; the `COPY` failing must undo them.
        let error = store_batch(&db.pool, &batch, edge + Duration::minutes(1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                ServiceError::Store(orderly_store::StoreError::NoPartition(_))
            ),
            "{error:?}"
        );
        let client = db.pool.get().await.unwrap();
        for table in ["metric_events", "metric_minutes", "metric_days"] {
            let rows: i64 = client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(rows, 0, "{table}");
        }
        // And the connection went back to the pool usable, not inside a failed transaction.
        drop(client);
        store_batch(&db.pool, &[at(now)], now).await.unwrap();
    }
}

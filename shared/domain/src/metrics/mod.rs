//! The event-metrics aggregation core: what shops send (`{timestamp, user_id, event_type, value}` per
//! merchant), folded into one aggregate per minute and (merchant, event type) — count, sum, min, max and a
//! DDSketch of the values — and merged over the last N minutes on request. Pure and thread-safe: the
//! ingest function runs it over each batch, and its benchmark runs it alone.
//!
//! Percentiles come from DDSketch (`sketches-ddsketch`, the sketch `metrics-util` uses): mergeable across
//! minutes, batches and instances, and within `RELATIVE_ERROR` of the true value at every quantile.
//!
//! Memory is bounded twice: minutes older than the retention are dropped as time moves on, and a minute
//! holds at most `max_series_per_minute` (merchant, event type) pairs; an event that would open one more
//! is refused, never silently lost.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

mod aggregate;
pub mod intake;
mod minute;

pub use aggregate::{Aggregate, RELATIVE_ERROR, Summary, Unreadable};
use minute::Minute;

/// How far ahead of the processor's clock an event may be (clock skew between senders and us).
pub const MAX_FUTURE: Duration = Duration::minutes(5);

/// One event as the ingest function hands it over (already validated field by field).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricEvent {
    pub timestamp: DateTime<Utc>,
    pub merchant_id: Uuid,
    /// Who did it, in the shop's own terms (its id for the shopper); kept with the raw event.
    pub user_id: String,
    pub event_type: String,
    pub value: f64,
}

/// One series' aggregate over one minute: what a batch leaves to be stored, and what a read loads.
#[derive(Clone)]
pub struct MinuteAggregate {
    pub minute: DateTime<Utc>,
    pub series: Series,
    pub aggregate: Aggregate,
}

/// Which series an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Series {
    pub merchant_id: Uuid,
    pub event_type: String,
}

/// Why an event was not counted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Refused {
    #[error("the timestamp is older than the last {0} minutes this store keeps")]
    TooOld(u32),
    #[error("the timestamp is more than {} minutes ahead", MAX_FUTURE.num_minutes())]
    InTheFuture,
    #[error("the value must be a finite number")]
    NotFinite,
    #[error("this minute already holds {0} series (merchant, event type); no more are opened")]
    TooManySeries(usize),
}

/// Minute number since the epoch.
fn minute_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

/// Per-minute aggregates for the last `retention_minutes`, behind one lock: an event costs one map
/// lookup and a sketch insert under it (well under a microsecond), so the lock is held too briefly for
/// writers to queue on it at 100,000 events a second.
pub struct MetricsProcessor {
    retention_minutes: u32,
    max_series_per_minute: usize,
    minutes: Mutex<BTreeMap<i64, Minute>>,
}

impl MetricsProcessor {
    pub fn new(retention_minutes: u32, max_series_per_minute: usize) -> Self {
        Self {
            retention_minutes: retention_minutes.max(1),
            max_series_per_minute,
            minutes: Mutex::new(BTreeMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Minute>> {
        // A panic elsewhere while holding the lock leaves whole aggregates behind, never half an update
        // that matters: keep serving.
        self.minutes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first minute still kept at `now`.
    fn oldest_kept(&self, now: DateTime<Utc>) -> i64 {
        minute_of(now) - i64::from(self.retention_minutes) + 1
    }

    /// Counts one event as of `now`, dropping minutes that fell out of the retention on the way.
    pub fn process_event(&self, event: &MetricEvent, now: DateTime<Utc>) -> Result<(), Refused> {
        if !event.value.is_finite() {
            return Err(Refused::NotFinite);
        }
        if event.timestamp > now + MAX_FUTURE {
            return Err(Refused::InTheFuture);
        }
        self.fold_into(
            event.timestamp,
            now,
            event.merchant_id,
            &event.event_type,
            |a| a.add(event.value),
        )
    }

    /// Finds (or opens) the series' aggregate of the minute of `at` and hands it to `fold`, dropping
    /// minutes that fell out of the retention on the way.
    fn fold_into(
        &self,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        merchant_id: Uuid,
        event_type: &str,
        fold: impl FnOnce(&mut Aggregate),
    ) -> Result<(), Refused> {
        let minute = minute_of(at);
        let oldest = self.oldest_kept(now);
        if minute < oldest {
            return Err(Refused::TooOld(self.retention_minutes));
        }
        let mut table = self.table();
        // Dropping whole minutes from the front of an ordered map: cheap, and the bound on memory.
        while table.first_key_value().is_some_and(|(m, _)| *m < oldest) {
            table.pop_first();
        }
        fold(table.entry(minute).or_default().aggregate(
            merchant_id,
            event_type,
            self.max_series_per_minute,
        )?);
        Ok(())
    }

    /// Every series seen in the last `minutes` minutes up to `now` (the open minute included), merged.
    pub fn aggregates(&self, minutes: u32, now: DateTime<Utc>) -> BTreeMap<Series, Summary> {
        let newest = minute_of(now);
        let from = (newest - i64::from(minutes) + 1).max(self.oldest_kept(now));
        let table = self.table();
        let mut merged: BTreeMap<Series, Aggregate> = BTreeMap::new();
        for minute in table.range(from..=newest).map(|(_, m)| m) {
            for (key, aggregate) in minute.iter() {
                merged.entry(key).or_default().merge(aggregate);
            }
        }
        merged.into_iter().map(|(k, a)| (k, a.summary())).collect()
    }

    /// One series minute by minute over the last `minutes` (minutes without events left out).
    pub fn series(
        &self,
        key: &Series,
        minutes: u32,
        now: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, Summary)> {
        let newest = minute_of(now);
        let from = (newest - i64::from(minutes) + 1).max(self.oldest_kept(now));
        self.table()
            .range(from..=newest)
            .filter_map(|(minute, series)| {
                let at = DateTime::from_timestamp(minute * 60, 0)?;
                series.get(key).map(|a| (at, a.summary()))
            })
            .collect()
    }

    /// Merges an aggregate made elsewhere (another batch, another instance, the store) into its minute,
    /// under the same rules as an event.
    pub fn absorb(&self, part: &MinuteAggregate, now: DateTime<Utc>) -> Result<(), Refused> {
        self.fold_into(
            part.minute,
            now,
            part.series.merchant_id,
            &part.series.event_type,
            |a| a.merge(&part.aggregate),
        )
    }

    /// Everything held, minute by minute, leaving the processor empty: what an ingest batch stores.
    pub fn take_minutes(&self) -> Vec<MinuteAggregate> {
        let minutes = std::mem::take(&mut *self.table());
        minutes
            .into_iter()
            .flat_map(|(minute, series)| {
                let at = DateTime::from_timestamp(minute * 60, 0).unwrap_or_default();
                series
                    .into_parts()
                    .map(move |(series, aggregate)| MinuteAggregate {
                        minute: at,
                        series,
                        aggregate,
                    })
            })
            .collect()
    }

    /// Minutes held now (for the memory bound's tests and metrics).
    pub fn minutes_held(&self) -> usize {
        self.table().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64, second: i64) -> DateTime<Utc> {
        // 1,800,000,000 s is a whole minute.
        DateTime::from_timestamp(1_800_000_000 + minute * 60 + second, 0).unwrap()
    }

    fn event(merchant: Uuid, kind: &str, t: DateTime<Utc>, value: f64) -> MetricEvent {
        MetricEvent {
            timestamp: t,
            merchant_id: merchant,
            user_id: "u-1".into(),
            event_type: kind.into(),
            value,
        }
    }

    #[test]
    fn aggregates_merge_the_last_n_minutes_per_merchant_and_type() {
        let processor = MetricsProcessor::new(60, 100);
        let (shop, other) = (Uuid::now_v7(), Uuid::now_v7());
        let now = at(10, 30);
        for (minute, value) in [(8, 1.0), (9, 2.0), (10, 3.0), (10, 4.0)] {
            processor
                .process_event(&event(shop, "page_view", at(minute, 5), value), now)
                .unwrap();
        }
        processor
            .process_event(&event(other, "page_view", at(10, 1), 100.0), now)
            .unwrap();

        let two = processor.aggregates(2, now);
        let mine = &two[&Series {
            merchant_id: shop,
            event_type: "page_view".into(),
        }];
        assert_eq!(
            (mine.count, mine.sum, mine.min, mine.max),
            (3, 9.0, 2.0, 4.0)
        );
        assert_eq!(mine.avg, 3.0);
        assert_eq!(two.len(), 2, "the other merchant is its own series");
        let all = processor.aggregates(60, now);
        assert_eq!(all.values().map(|s| s.count).sum::<u64>(), 5);
    }

    #[test]
    fn percentiles_are_within_the_stated_relative_error() {
        let processor = MetricsProcessor::new(5, 10);
        let shop = Uuid::now_v7();
        let now = at(0, 59);
        // 1..=10,000 ms, every value once: the true p50/p95/p99 are 5,000, 9,500 and 9,900.
        for v in 1..=10_000_i32 {
            processor
                .process_event(
                    &event(shop, "latency", at(0, i64::from(v % 60)), f64::from(v)),
                    now,
                )
                .unwrap();
        }
        let summary = processor.aggregates(1, now).into_values().next().unwrap();
        for (got, want) in [
            (summary.p50, 5_000.0),
            (summary.p95, 9_500.0),
            (summary.p99, 9_900.0),
        ] {
            assert!(
                ((got - want) / want).abs() <= RELATIVE_ERROR + 1e-3,
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn old_minutes_are_dropped_and_old_or_future_events_refused() {
        let processor = MetricsProcessor::new(3, 10);
        let shop = Uuid::now_v7();
        for minute in 0..10 {
            processor
                .process_event(&event(shop, "x", at(minute, 0), 1.0), at(minute, 1))
                .unwrap();
        }
        assert_eq!(processor.minutes_held(), 3, "memory stays bounded");
        let now = at(9, 1);
        assert_eq!(
            processor.process_event(&event(shop, "x", at(5, 0), 1.0), now),
            Err(Refused::TooOld(3))
        );
        assert_eq!(
            processor.process_event(&event(shop, "x", at(20, 0), 1.0), now),
            Err(Refused::InTheFuture)
        );
        assert_eq!(
            processor.process_event(&event(shop, "x", at(9, 0), f64::NAN), now),
            Err(Refused::NotFinite)
        );
        assert_eq!(
            processor
                .aggregates(1_440, now)
                .into_values()
                .next()
                .unwrap()
                .count,
            3
        );
    }

    #[test]
    fn a_minute_opens_at_most_so_many_series() {
        let processor = MetricsProcessor::new(5, 2);
        let now = at(0, 30);
        let shop = Uuid::now_v7();
        for kind in ["a", "b"] {
            processor
                .process_event(&event(shop, kind, now, 1.0), now)
                .unwrap();
        }
        assert_eq!(
            processor.process_event(&event(shop, "c", now, 1.0), now),
            Err(Refused::TooManySeries(2))
        );
        processor
            .process_event(&event(shop, "a", now, 2.0), now)
            .expect("an existing series still counts");
    }

    #[test]
    fn a_series_is_reported_minute_by_minute() {
        let processor = MetricsProcessor::new(60, 10);
        let shop = Uuid::now_v7();
        let now = at(5, 0);
        for minute in [1, 3, 3, 5] {
            processor
                .process_event(&event(shop, "x", at(minute, 0), 2.0), now)
                .unwrap();
        }
        let key = Series {
            merchant_id: shop,
            event_type: "x".into(),
        };
        let counts: Vec<(DateTime<Utc>, u64)> = processor
            .series(&key, 4, now)
            .into_iter()
            .map(|(t, s)| (t, s.count))
            .collect();
        assert_eq!(counts, vec![(at(3, 0), 2), (at(5, 0), 1)]);
    }

    #[test]
    fn minutes_taken_from_one_processor_and_absorbed_by_another_report_the_same() {
        let batch = MetricsProcessor::new(60, 100);
        let (shop, now) = (Uuid::now_v7(), at(10, 30));
        for (minute, value) in [(8, 1.0), (9, 2.0), (10, 3.0), (10, 40.0)] {
            batch
                .process_event(&event(shop, "x", at(minute, 5), value), now)
                .unwrap();
        }
        let expected = batch.aggregates(60, now);
        let parts = batch.take_minutes();
        assert_eq!(parts.len(), 3, "one part per minute and series");
        assert_eq!(batch.minutes_held(), 0, "taking empties the batch");

        let reader = MetricsProcessor::new(2, 100);
        let refused: Vec<_> = parts.iter().map(|p| reader.absorb(p, now)).collect();
        assert_eq!(
            refused.iter().filter(|r| r.is_err()).count(),
            1,
            "minute 8 is past a two-minute reader's window"
        );
        let two = reader.aggregates(2, now);
        let (summary, all) = (
            two.values().next().unwrap(),
            expected.values().next().unwrap(),
        );
        assert_eq!((summary.count, summary.sum), (3, 45.0));
        assert_eq!((all.count, all.sum), (4, 46.0));
    }

    #[test]
    fn writers_on_many_threads_lose_nothing() {
        let processor = std::sync::Arc::new(MetricsProcessor::new(5, 100));
        let now = at(0, 30);
        let shop = Uuid::now_v7();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let processor = processor.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        processor
                            .process_event(&event(shop, "x", now, f64::from(i)), now)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            processor
                .aggregates(1, now)
                .into_values()
                .next()
                .unwrap()
                .count,
            40_000
        );
    }
}

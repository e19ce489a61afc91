//! The metrics aggregation core on its own (`--metrics-only`): events per second and the time one
//! `process_event` takes, two writer threads (the machine's two cores), next to the same events folded
//! into a bare `count, sum, min, max` map behind the same kind of lock, measured alternately in the same
//! run. Also the memory an hour of minutes takes at the row's series count.

use crate::summary::named;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{Duration, Utc};
use hdrhistogram::Histogram;
use orderly_domain::metrics::{MetricEvent, MetricsProcessor, Series};
use uuid::Uuid;

const EVENTS: usize = 1_000_000;
const THREADS: usize = 2;
const MERCHANTS: usize = 100;
const EVENT_TYPES: usize = 10;
const ROUNDS: usize = 3;

/// The events of a run: spread over the last ten minutes, 1,000 series, values from 1 to 10,000.
fn events() -> Vec<MetricEvent> {
    let now = Utc::now();
    let merchants: Vec<Uuid> = (0..MERCHANTS).map(|_| Uuid::now_v7()).collect();
    let types: Vec<String> = (0..EVENT_TYPES).map(|t| format!("event_{t}")).collect();
    (0..EVENTS)
        .map(|i| MetricEvent {
            timestamp: now - Duration::seconds((i % 600) as i64),
            merchant_id: merchants[(i * 31) % MERCHANTS],
            user_id: format!("u-{}", i % 5_000),
            event_type: types[(i * 7) % EVENT_TYPES].clone(),
            value: ((i * 7919) % 10_000 + 1) as f64,
        })
        .collect()
}

/// Runs `fold` over the events on `THREADS` threads; (events per second, per-event nanoseconds).
fn measure(
    events: &Arc<Vec<MetricEvent>>,
    fold: Arc<dyn Fn(&MetricEvent) + Send + Sync>,
) -> (f64, Histogram<u64>) {
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (events, fold) = (events.clone(), fold.clone());
            std::thread::spawn(move || {
                let mut histogram = Histogram::<u64>::new(3).expect("a histogram");
                for event in events.iter().skip(t).step_by(THREADS) {
                    let one = Instant::now();
                    fold(event);
                    histogram.saturating_record(one.elapsed().as_nanos() as u64);
                }
                histogram
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).expect("a histogram");
    for t in threads {
        all.add(t.join().expect("a writer")).expect("same bounds");
    }
    (events.len() as f64 / started.elapsed().as_secs_f64(), all)
}

type Bare = Mutex<HashMap<Series, (u64, f64, f64, f64)>>;

fn bare_fold(map: &Bare, event: &MetricEvent) {
    let key = Series {
        merchant_id: event.merchant_id,
        event_type: event.event_type.clone(),
    };
    let mut map = map.lock().expect("lock");
    let entry = map
        .entry(key)
        .or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
    entry.0 += 1;
    entry.1 += event.value;
    entry.2 = entry.2.min(event.value);
    entry.3 = entry.3.max(event.value);
}

/// `VmRSS` (now) or `VmHWM` (the peak so far) of this process, in bytes.
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

pub fn bench() {
    let events = Arc::new(events());
    println!(
        "\nmetrics aggregation core: {EVENTS} events, {} series, {THREADS} writer threads, {ROUNDS} rounds alternating",
        MERCHANTS * EVENT_TYPES
    );
    let (mut core, mut bare) = (Vec::new(), Vec::new());
    let mut core_latency = Histogram::<u64>::new(3).expect("a histogram");
    let mut bare_latency = Histogram::<u64>::new(3).expect("a histogram");
    for _ in 0..ROUNDS {
        let processor = Arc::new(MetricsProcessor::new(1_440, 10_000));
        let now = Utc::now();
        let (rate, latency) = measure(
            &events,
            Arc::new(move |e: &MetricEvent| {
                processor.process_event(e, now).expect("a valid event");
            }),
        );
        core.push(rate);
        core_latency.add(latency).expect("same bounds");
        let map: Arc<Bare> = Arc::default();
        let (rate, latency) = measure(&events, Arc::new(move |e: &MetricEvent| bare_fold(&map, e)));
        bare.push(rate);
        bare_latency.add(latency).expect("same bounds");
    }
    let (core_rate, bare_rate) = (crate::median(&core), crate::median(&bare));
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "  MetricsProcessor        {:>10.0} events/s ({:.0} per core)  p50 {:>6.2} µs  p99 {:>6.2} µs  (goals: 2,000,000/s per core, p99 < 1 µs)",
        core_rate,
        core_rate / THREADS as f64,
        us(&core_latency, 0.5),
        us(&core_latency, 0.99)
    );
    println!(
        "  count/sum/min/max map   {:>10.0} events/s  p50 {:>6.2} µs  p99 {:>6.2} µs  ratio {:.2}× (the sketch and minutes' cost)",
        bare_rate,
        us(&bare_latency, 0.5),
        us(&bare_latency, 0.99),
        bare_rate / core_rate
    );
    println!("  rounds: processor {core:.0?} events/s, map {bare:.0?} events/s");

    // Memory: an hour of minutes, every series in each.
    let before = status_bytes("VmRSS:");
    let processor = MetricsProcessor::new(60, 10_000);
    let now = Utc::now();
    for minute in 0..60 {
        for (i, event) in events.iter().take(20_000).enumerate() {
            let mut e = event.clone();
            e.timestamp = now - Duration::minutes(minute) - Duration::seconds((i % 50) as i64);
            let _ = processor.process_event(&e, now);
        }
    }
    let grown = status_bytes("VmRSS:").saturating_sub(before);
    println!(
        "  memory: 60 minutes × {} series held {:.0} MB ({:.1} KB per minute and series); 1,440 minutes at this density would take {:.1} GB",
        MERCHANTS * EVENT_TYPES,
        grown as f64 / 1e6,
        grown as f64 / 1e3 / (60 * MERCHANTS * EVENT_TYPES) as f64,
        grown as f64 * 24.0 / 1e9
    );
    let peak = status_bytes("VmHWM:");
    println!(
        "  peak RSS of this run: {:.0} MB (the events, both folds and the hour of minutes; goal: under 1 GB)",
        peak as f64 / 1e6
    );
    write(core_rate, &core_latency, bare_rate, grown, peak);
}

/// `target/bench/metrics.csv`: one line per figure.
fn write(core_rate: f64, latency: &Histogram<u64>, bare_rate: f64, hour_bytes: u64, peak: u64) {
    let figures = [
        ("processor_events_per_s", core_rate),
        (
            "processor_p50_us",
            latency.value_at_quantile(0.5) as f64 / 1000.0,
        ),
        (
            "processor_p99_us",
            latency.value_at_quantile(0.99) as f64 / 1000.0,
        ),
        ("map_events_per_s", bare_rate),
        ("hour_of_minutes_bytes", hour_bytes as f64),
        ("peak_rss_bytes", peak as f64),
        (
            "processor_events_per_s_per_core",
            core_rate / THREADS as f64,
        ),
    ];
    // In memory: no database, so no durability to state.
    crate::summary::write_row("metrics", &named(&figures), "in memory");
}

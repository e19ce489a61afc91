//! Event ingest (`--ingest-only`): `POST /api/v1/events` through the whole stack (gateway, authorizer, rate
//! limit, validation, binary `COPY` and the minute aggregates in one transaction), 1,000 events a request,
//! next to a bare binary `COPY` of the same rows by the store's own `insert_events`, one transaction per
//! 1,000 rows, as many connections as the stack has clients. Each side runs for a fixed time after a
//! warm-up, after a checkpoint, alternating A/B/A/B; medians and the spread are printed.

use crate::summary::named;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use orderly_domain::metrics::MetricEvent;
use serde_json::{Value, json};

use crate::median;
use crate::{env, post};

const BATCH: usize = 1_000;
/// Two cores: four clients keep both busy without queueing most of the time in the gateway.
const CLIENTS: usize = 4;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
const ROUNDS: usize = 3;

pub struct Row {
    stack: Vec<f64>,
    /// The events function called in this process with the proxy event API Gateway would send: the
    /// function's own cost, without the local gateway's HTTP and event building.
    direct: Vec<f64>,
    bare: Vec<f64>,
    latency: Histogram<u64>,
    failures: usize,
}

fn batch(merchant: uuid::Uuid) -> Vec<MetricEvent> {
    let now = Utc::now();
    (0..BATCH)
        .map(|i| MetricEvent {
            timestamp: now - chrono::Duration::milliseconds((i * 37) as i64),
            merchant_id: merchant,
            user_id: format!("shopper-{}", i % 250),
            event_type: ["page_view", "add_to_cart", "checkout.step", "latency"][i % 4].into(),
            value: ((i * 7_919) % 2_000 + 1) as f64,
        })
        .collect()
}

fn body(events: &[MetricEvent]) -> String {
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"timestamp": e.timestamp.to_rfc3339(), "user_id": e.user_id,
                   "event_type": e.event_type, "value": e.value})
        })
        .collect();
    Value::Array(list).to_string()
}

/// Runs `CLIENTS` workers calling `once` (which stores one batch) for the warm-up and the measured time;
/// returns events per second over the measured time only, and each measured call's latency.
async fn phase<F, Fut>(once: F) -> (f64, Histogram<u64>, usize)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let once = Arc::new(once);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let stored = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (once, measuring, stop, stored) = (
                once.clone(),
                measuring.clone(),
                stop.clone(),
                stored.clone(),
            );
            tokio::spawn(async move {
                let mut latency =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                let mut failures = 0;
                while !stop.load(Ordering::Relaxed) {
                    let counted = measuring.load(Ordering::Relaxed);
                    let at = Instant::now();
                    let ok = once(n).await;
                    // A call that began in the warm-up or ended after the stop is not counted.
                    if counted && !stop.load(Ordering::Relaxed) {
                        if ok {
                            stored.fetch_add(BATCH, Ordering::Relaxed);
                            latency.saturating_record(at.elapsed().as_micros() as u64);
                        } else {
                            failures += 1;
                        }
                    }
                }
                (latency, failures)
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(MEASURE).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.expect("a worker");
        latency.add(l).expect("same bounds");
        failures += f;
    }
    (
        stored.load(Ordering::Relaxed) as f64 / elapsed,
        latency,
        failures,
    )
}

async fn connect() -> tokio_postgres::Client {
    let (db, connection) = tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("the database");
    tokio::spawn(connection);
    db
}

/// Each side starts from the same state: dirty pages of the previous one written out first.
async fn settle(db: &tokio_postgres::Client) {
    let _ = db.batch_execute("CHECKPOINT").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

pub async fn bench(client: &reqwest::Client, api: &str, admin_token: &str) -> Row {
    let ip = "198.18.255.4";
    let merchant = post(
        client,
        &format!("{api}/api/v1/admin/merchants"),
        Some(admin_token),
        ip,
        json!({"name": format!("Bench events {}", uuid::Uuid::now_v7())}),
    )
    .await;
    let merchant_id: uuid::Uuid = merchant["id"].as_str().unwrap().parse().unwrap();
    let control = connect().await;
    let state = crate::direct_state().await;
    let handler = orderly_functions::lookup("events-ingest").expect("registered");
    let (mut stack, mut direct, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let mut all_latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut all_failures = 0;
    for _ in 0..ROUNDS {
        // A key per round and side keeps each inside the key's 10,000 requests a minute.
        let new_key = || async {
            post(
                client,
                &format!("{api}/api/v1/admin/api-keys"),
                Some(admin_token),
                ip,
                json!({"name": "bench shop front", "merchant_id": merchant_id}),
            )
            .await
        };
        let key = new_key().await["api_key"].as_str().unwrap().to_owned();
        settle(&control).await;
        let body = Arc::new(body(&batch(merchant_id)));
        let (c, url) = (client.clone(), format!("{api}/api/v1/events"));
        let (rate, latency, failures) = phase(move |n| {
            let (c, url, body, key) = (c.clone(), url.clone(), body.clone(), key.clone());
            async move {
                c.post(&url)
                    .header("authorization", format!("ApiKey {key}"))
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", format!("198.18.254.{}", n + 1))
                    .body(body.as_bytes().to_vec())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 202)
            }
        })
        .await;
        stack.push(rate);
        all_latency.add(latency).expect("same bounds");
        all_failures += failures;

        settle(&control).await;
        let key_id = new_key().await["id"].as_str().unwrap().to_owned();
        let mut event = crate::proxy_event(
            "POST",
            "/api/v1/events",
            "/api/v1/events",
            Value::Null,
            json!({"user_id": "", "role": "", "session_id": "", "api_key_id": key_id, "access_expires_at": ""}),
        );
        event["headers"] = json!({"content-type": "application/json"});
        event["body"] = Value::String(self::body(&batch(merchant_id)));
        let event = Arc::new(event);
        let (rate, _, failures) = phase(move |_| {
            let event = (*event).clone();
            async move {
                handler(event, orderly_functions::Invocation::default(), state)
                    .await
                    .is_ok_and(|r| r["statusCode"] == 202)
            }
        })
        .await;
        direct.push(rate);
        all_failures += failures;

        settle(&control).await;
        let rows = Arc::new(batch(merchant_id));
        // A connection of its own per client, held for the whole phase (no pool check per batch), with
        // the store's statement cache like the function's.
        let pool = orderly_store::connect(
            &env("DATABASE_URL"),
            orderly_store::PoolSettings {
                max_size: CLIENTS,
                ..Default::default()
            },
        )
        .expect("a pool");
        let mut connections = Vec::new();
        for _ in 0..CLIENTS {
            connections.push(Arc::new(tokio::sync::Mutex::new(
                pool.get().await.expect("a connection"),
            )));
        }
        let connections = Arc::new(connections);
        let (rate, _, _) = phase(move |n| {
            let (rows, connections) = (rows.clone(), connections.clone());
            async move {
                let mut db = connections[n].lock().await;
                let Ok(tx) = db.transaction().await else {
                    return false;
                };
                orderly_store::metrics::insert_events(&tx, &rows)
                    .await
                    .is_ok()
                    && tx.commit().await.is_ok()
            }
        })
        .await;
        bare.push(rate);
    }
    Row {
        stack,
        direct,
        bare,
        latency: all_latency,
        failures: all_failures,
    }
}

pub fn print(row: &Row) {
    let (stack, direct, bare) = (median(&row.stack), median(&row.direct), median(&row.bare));
    println!(
        "\nevent ingest: {CLIENTS} clients, {BATCH} events a request, {} s measured after {} s warm-up, {ROUNDS} rounds alternating",
        MEASURE.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "  POST /api/v1/events (whole stack)  {stack:>9.0} events/s  p50 {:>5.1} ms  p99 {:>5.1} ms per request  rounds {:.0?}  failures {}",
        row.latency.value_at_quantile(0.5) as f64 / 1000.0,
        row.latency.value_at_quantile(0.99) as f64 / 1000.0,
        row.stack,
        row.failures
    );
    println!(
        "  events function, direct (no HTTP) {direct:>9.0} events/s  rounds {:.0?}  ratio {:.2}× of the bare COPY",
        row.direct,
        direct / bare
    );
    println!(
        "  bare binary COPY, same rows        {bare:>9.0} events/s  rounds {:.0?}",
        row.bare
    );
    println!(
        "  ratio {:.2}× of the bare COPY through the stack (goals: ≥ 0.5× and ≥ 100,000 events/s)",
        stack / bare
    );
}

pub fn write(row: &Row, durability: &str) {
    let (stack, direct, bare) = (median(&row.stack), median(&row.direct), median(&row.bare));
    let figures = [
        ("stack_events_per_s", stack),
        ("direct_events_per_s", direct),
        ("bare_copy_events_per_s", bare),
        ("ratio", stack / bare),
        (
            "request_p50_ms",
            row.latency.value_at_quantile(0.5) as f64 / 1000.0,
        ),
        (
            "request_p99_ms",
            row.latency.value_at_quantile(0.99) as f64 / 1000.0,
        ),
        ("failures", row.failures as f64),
    ];
    crate::summary::write_row("ingest", &named(&figures), durability);
}

//! The pipeline's drain (`--pipeline-only`): 16 clients place single-line orders over 1,000 products for a
//! fixed time, and the row prints, from the same run, how fast orders were placed, how fast they reached
//! COMPLETED while the load lasted, the backlog left when it stopped, how long that took to drain, and
//! order → PAID and order → COMPLETED p50/p99. The pipeline keeps up when completions match placements and the backlog
//! does not grow.

use crate::summary::named;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio_postgres::Client;

use crate::cpu::Cpu;
use crate::orders::bench_tables;
use crate::{CONCURRENCY, env, user};

/// How long the clients place orders.
const LOAD: Duration = Duration::from_secs(20);
/// How long the row waits for the backlog to drain before it reports what is left.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

pub struct Row {
    placed: usize,
    placed_per_second: f64,
    completed_during_load: usize,
    backlog_at_end: usize,
    drain_seconds: Option<f64>,
    latency: Histogram<u64>,
    to_paid: Histogram<u64>,
    /// The machine's CPU while the backlog drained (no orders placed then): what the pipeline alone
    /// costs, and the orders it finished in that time.
    drain_cpu: Cpu,
    drained: usize,
}

impl Row {
    /// What the drain cost an order: every part together, and the emulator alone (ms of CPU).
    fn drain_per_order(&self) -> (f64, f64) {
        let drained = self.drained as f64;
        (
            self.drain_cpu.per_total(drained),
            self.drain_cpu.part_per("emulator", drained),
        )
    }
}

/// How many orders of this run are COMPLETED. Polled while the backlog drains, so it is counted from
/// `orders` alone: fetching every completion's latency with its history on each poll cost Postgres about
/// 0.4 ms of CPU per drained order (pg_stat_statements over one run), charged to the pipeline's figure.
async fn completed(db: &Client, since: chrono::DateTime<chrono::Utc>) -> usize {
    let row = db
        .query_one(
            "SELECT count(*) FROM orders WHERE status = 'COMPLETED' AND created_at >= $1",
            &[&since],
        )
        .await
        .expect("completed orders");
    row.get::<_, i64>(0) as usize
}

/// Orders of this run that reached `status`, and the latency of each (ms, from placement).
async fn reached(db: &Client, since: chrono::DateTime<chrono::Utc>, status: &str) -> Vec<i64> {
    db.query(
        "SELECT (extract(epoch FROM h.changed_at - o.created_at) * 1000)::bigint
           FROM orders o JOIN order_status_history h ON h.order_id = o.id AND h.to_status = $2
          WHERE o.created_at >= $1",
        &[&since, &status],
    )
    .await
    .expect("completions")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

pub async fn bench(client: &reqwest::Client, api: &str) -> Row {
    let (db, connection) = tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(connection);
    let mut buyers = Vec::new();
    for n in 0..CONCURRENCY {
        buyers.push(user(client, api, 700 + n).await.1);
    }
    // Paid in EUR: the simulated provider captures them, so every order runs the whole pipeline.
    let products = Arc::new(bench_tables(&db, 1_000, "EUR", &[]).await);
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let placed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = buyers
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, url) = (client.clone(), format!("{api}/api/v1/orders"));
            let (products, placed) = (products.clone(), placed.clone());
            tokio::spawn(async move {
                let mut n = i;
                while started.elapsed() < LOAD {
                    let product = &products[(n * 7919) % products.len()];
                    let body = json!({"items": [{"product_id": product, "quantity": 1}]});
                    let answer = client
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    if answer.is_ok_and(|r| r.status() == 201) {
                        placed.fetch_add(1, Ordering::Relaxed);
                    }
                    n += CONCURRENCY;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("a client");
    }
    let load = started.elapsed().as_secs_f64();
    let placed = placed.load(Ordering::Relaxed);
    let completed_during_load = completed(&db, started_at).await;

    let drain_started = Instant::now();
    let drain_cpu_start = Cpu::sample();
    let mut done = completed_during_load;
    while done < placed && drain_started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(500)).await;
        done = completed(&db, started_at).await;
    }
    let drain_seconds = (done >= placed).then(|| drain_started.elapsed().as_secs_f64());
    let drain_cpu = Cpu::sample().since(&drain_cpu_start);
    let drained = done.saturating_sub(completed_during_load);
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    for ms in reached(&db, started_at, "COMPLETED").await {
        latency.record(ms.max(0) as u64).expect("in range");
    }
    let mut to_paid = Histogram::<u64>::new(3).expect("a histogram");
    for ms in reached(&db, started_at, "PAID").await {
        to_paid.record(ms.max(0) as u64).expect("in range");
    }
    Row {
        placed,
        placed_per_second: placed as f64 / load,
        completed_during_load,
        backlog_at_end: placed - completed_during_load.min(placed),
        drain_seconds,
        latency,
        to_paid,
        drain_cpu,
        drained,
    }
}

pub fn print(row: &Row) {
    let load = LOAD.as_secs_f64();
    println!(
        "\npipeline drain: {CONCURRENCY} clients placing single-line orders over 1,000 products for {load:.0} s"
    );
    println!(
        "  placed                          {:>7.1} orders/s ({} orders)",
        row.placed_per_second, row.placed
    );
    println!(
        "  reached COMPLETED during load   {:>7.1} orders/s  ratio {:.2}× of placement (goal: 1, no growing backlog)",
        row.completed_during_load as f64 / load,
        row.completed_during_load as f64 / row.placed.max(1) as f64
    );
    match row.drain_seconds {
        Some(s) => println!(
            "  backlog when the load stopped   {} orders, drained in {s:.1} s",
            row.backlog_at_end
        ),
        None => println!(
            "  backlog when the load stopped   {} orders, NOT drained within {} s",
            row.backlog_at_end,
            DRAIN_LIMIT.as_secs()
        ),
    }
    // On two cores the pipeline keeps up only if placement and pipeline together fit: what the drain
    // cost an order says how far that is, and the emulator, one Python process, is held to one core.
    println!(
        "  pipeline CPU per order (drain)  {}",
        row.drain_cpu.per(row.drained as f64)
    );
    let (total_ms, emulator_ms) = row.drain_per_order();
    if total_ms > 0.0 && emulator_ms > 0.0 {
        println!(
            "  so at most                      {:>7.1} orders/s on two cores, {:.1} orders/s through the emulator's one",
            2000.0 / total_ms,
            1000.0 / emulator_ms
        );
    }
    println!(
        "  order → PAID                    p50 {:>7.0} ms  p99 {:>7.0} ms",
        row.to_paid.value_at_quantile(0.5),
        row.to_paid.value_at_quantile(0.99)
    );
    println!(
        "  order → COMPLETED               p50 {:>7.0} ms  p99 {:>7.0} ms",
        row.latency.value_at_quantile(0.5),
        row.latency.value_at_quantile(0.99)
    );
}

/// `target/bench/pipeline.csv`: one line per figure.
pub fn write(row: &Row, durability: &str) {
    let load = LOAD.as_secs_f64();
    let (total_ms, emulator_ms) = row.drain_per_order();
    let figures = [
        ("placed_per_s", row.placed_per_second),
        (
            "completed_during_load_per_s",
            row.completed_during_load as f64 / load,
        ),
        ("backlog_at_end", row.backlog_at_end as f64),
        ("drain_s", row.drain_seconds.unwrap_or(f64::NAN)),
        ("drain_cpu_ms_per_order", total_ms),
        ("drain_emulator_cpu_ms_per_order", emulator_ms),
        ("to_paid_p50_ms", row.to_paid.value_at_quantile(0.5) as f64),
        ("to_paid_p99_ms", row.to_paid.value_at_quantile(0.99) as f64),
        (
            "to_completed_p50_ms",
            row.latency.value_at_quantile(0.5) as f64,
        ),
        (
            "to_completed_p99_ms",
            row.latency.value_at_quantile(0.99) as f64,
        ),
    ];
    crate::summary::write_row("pipeline", &named(&figures), durability);
}

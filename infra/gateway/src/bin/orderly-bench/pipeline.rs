//! The pipeline's drain (`--pipeline-only`): 16 clients place single-line orders over 1,000 products for a
//! fixed time, and the row prints, from the same run, how fast orders were placed, how fast they reached
//! COMPLETED while the load lasted, the backlog left when it stopped, how long that took to drain, and
//! order → PAID and order → COMPLETED p50/p99. The pipeline keeps up when completions match placements and the backlog
//! does not grow. The load and its drain run `ROUNDS` times, each after the last has drained, and each
//! figure is the median of the rounds with their spread: one round's CPU per drained order moved by a
//! third between runs on the same commit (11.5 to 15.9 ms, ADR 0030).

use crate::summary::named;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio_postgres::Client;

use crate::cpu::Cpu;
use crate::orders::bench_tables;
use crate::{CONCURRENCY, env, median, relative_spread, user};

/// How long the clients place orders in a round.
const LOAD: Duration = Duration::from_secs(20);
/// How long a round waits for the backlog to drain before it reports what is left.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// How many times the row places and drains.
const ROUNDS: usize = 3;

/// One load and its drain.
struct Round {
    placed: usize,
    placed_per_second: f64,
    completed_during_load: usize,
    drain_seconds: Option<f64>,
    /// The machine's CPU while the backlog drained (no orders placed then): what the pipeline alone
    /// costs, and the orders it finished in that time.
    drain_cpu: Cpu,
    drained: usize,
}

impl Round {
    fn completed_per_second(&self) -> f64 {
        self.completed_during_load as f64 / LOAD.as_secs_f64()
    }

    fn backlog_at_end(&self) -> usize {
        self.placed - self.completed_during_load.min(self.placed)
    }

    /// Completions during the load per placement: 1 when the pipeline keeps up.
    fn keeping_up(&self) -> f64 {
        self.completed_during_load as f64 / self.placed.max(1) as f64
    }

    /// What the drain cost an order: every part together (ms of CPU).
    fn drain_ms_per_order(&self) -> f64 {
        self.drain_cpu.per_total(self.drained as f64)
    }

    fn drain_emulator_ms_per_order(&self) -> f64 {
        self.drain_cpu.part_per("emulator", self.drained as f64)
    }
}

pub struct Row {
    rounds: Vec<Round>,
    /// Every round's orders, placement to COMPLETED and to PAID (ms).
    latency: Histogram<u64>,
    to_paid: Histogram<u64>,
}

impl Row {
    /// The median and the spread ((max − min) ÷ median) of a figure over the rounds.
    fn figure(&self, of: impl Fn(&Round) -> f64) -> (f64, f64) {
        let values: Vec<f64> = self.rounds.iter().map(of).collect();
        (median(&values), relative_spread(&values))
    }

    /// The round whose drain cost per order is the median, for its cost by part.
    fn median_drain(&self) -> &Round {
        let mut rounds: Vec<&Round> = self.rounds.iter().collect();
        rounds.sort_by(|a, b| a.drain_ms_per_order().total_cmp(&b.drain_ms_per_order()));
        rounds[rounds.len() / 2]
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
    let first_started_at = chrono::Utc::now();
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let round = round(client, api, &db, &buyers, &products).await;
        let drained = round.drain_seconds.is_some();
        rounds.push(round);
        // A backlog left over would be drained by the next round's load and counted as its work.
        if !drained {
            break;
        }
    }
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    for ms in reached(&db, first_started_at, "COMPLETED").await {
        latency.record(ms.max(0) as u64).expect("in range");
    }
    let mut to_paid = Histogram::<u64>::new(3).expect("a histogram");
    for ms in reached(&db, first_started_at, "PAID").await {
        to_paid.record(ms.max(0) as u64).expect("in range");
    }
    Row {
        rounds,
        latency,
        to_paid,
    }
}

/// Places orders for `LOAD` from every buyer at once, then waits for the backlog to drain.
async fn round(
    client: &reqwest::Client,
    api: &str,
    db: &Client,
    buyers: &[String],
    products: &Arc<Vec<String>>,
) -> Round {
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let placed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = buyers
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, url) = (client.clone(), format!("{api}/api/v1/orders"));
            let (products, placed, token) = (products.clone(), placed.clone(), token.clone());
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
    let completed_during_load = completed(db, started_at).await;

    let drain_started = Instant::now();
    let drain_cpu_start = Cpu::sample();
    let mut done = completed_during_load;
    while done < placed && drain_started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(500)).await;
        done = completed(db, started_at).await;
    }
    let drain_seconds = (done >= placed).then(|| drain_started.elapsed().as_secs_f64());
    let drain_cpu = Cpu::sample().since(&drain_cpu_start);
    Round {
        placed,
        placed_per_second: placed as f64 / load,
        completed_during_load,
        drain_seconds,
        drain_cpu,
        drained: done.saturating_sub(completed_during_load),
    }
}

pub fn print(row: &Row) {
    let load = LOAD.as_secs_f64();
    println!(
        "\npipeline drain: {CONCURRENCY} clients placing single-line orders over 1,000 products for {load:.0} s, \
         {} rounds, each after the last drained; medians (spread: (max − min) ÷ median)",
        row.rounds.len()
    );
    for (n, r) in row.rounds.iter().enumerate() {
        let drained = match r.drain_seconds {
            Some(s) => format!("drained in {s:.1} s"),
            None => format!("NOT drained within {} s", DRAIN_LIMIT.as_secs()),
        };
        println!(
            "  round {}: placed {:.1}/s, COMPLETED during load {:.1}/s, backlog {} {drained}, drain {:.2} ms CPU/order (emulator {:.2})",
            n + 1,
            r.placed_per_second,
            r.completed_per_second(),
            r.backlog_at_end(),
            r.drain_ms_per_order(),
            r.drain_emulator_ms_per_order()
        );
    }
    let (placed, placed_spread) = row.figure(|r| r.placed_per_second);
    println!(
        "  placed                          {placed:>7.1} orders/s (±{:.0} %)",
        placed_spread * 100.0
    );
    let (completed, _) = row.figure(Round::completed_per_second);
    let (keeping_up, keeping_up_spread) = row.figure(Round::keeping_up);
    println!(
        "  reached COMPLETED during load   {completed:>7.1} orders/s  ratio {keeping_up:.2}× (±{:.0} %) of placement (goal: 1, no growing backlog)",
        keeping_up_spread * 100.0
    );
    // On two cores the pipeline keeps up only if placement and pipeline together fit: what the drain
    // cost an order says how far that is, and the emulator, one Python process, is held to one core.
    let (total_ms, total_spread) = row.figure(Round::drain_ms_per_order);
    let (emulator_ms, _) = row.figure(Round::drain_emulator_ms_per_order);
    let middle = row.median_drain();
    println!(
        "  pipeline CPU per order (drain)  {total_ms:.2} ms (±{:.0} %); the median round's: {}",
        total_spread * 100.0,
        middle.drain_cpu.per(middle.drained as f64)
    );
    if total_ms > 0.0 && emulator_ms > 0.0 {
        println!(
            "  so at most                      {:>7.1} orders/s on two cores, {:.1} orders/s through the emulator's one",
            2000.0 / total_ms,
            1000.0 / emulator_ms
        );
    }
    println!(
        "  order → PAID                    p50 {:>7.0} ms  p99 {:>7.0} ms (every round's orders)",
        row.to_paid.value_at_quantile(0.5),
        row.to_paid.value_at_quantile(0.99)
    );
    println!(
        "  order → COMPLETED               p50 {:>7.0} ms  p99 {:>7.0} ms",
        row.latency.value_at_quantile(0.5),
        row.latency.value_at_quantile(0.99)
    );
}

/// `target/bench/pipeline.csv`: one line per figure, each the median of the rounds.
pub fn write(row: &Row, durability: &str) {
    let (total_ms, total_spread) = row.figure(Round::drain_ms_per_order);
    let drain_seconds = row.figure(|r| r.drain_seconds.unwrap_or(f64::NAN)).0;
    let figures = [
        ("rounds", row.rounds.len() as f64),
        ("placed_per_s", row.figure(|r| r.placed_per_second).0),
        (
            "completed_during_load_per_s",
            row.figure(Round::completed_per_second).0,
        ),
        ("completed_per_placed", row.figure(Round::keeping_up).0),
        (
            "backlog_at_end",
            row.figure(|r| r.backlog_at_end() as f64).0,
        ),
        ("drain_s", drain_seconds),
        ("drain_cpu_ms_per_order", total_ms),
        ("drain_cpu_spread", total_spread),
        (
            "drain_emulator_cpu_ms_per_order",
            row.figure(Round::drain_emulator_ms_per_order).0,
        ),
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

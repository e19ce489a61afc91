//! The pipeline's drain (`--pipeline-only`): 16 clients place single-line orders over 1,000 products for a
//! fixed time, and the row prints, from the same run, how fast orders were placed, how fast they reached
//! COMPLETED while the load lasted, the backlog left when it stopped, how long it took until every order
//! was COMPLETED and until every queue was empty (the WebSocket pusher and the report are not on the way
//! to COMPLETED: a drain counted to COMPLETED alone left 60,000 of the pusher's messages to the next
//! round), and order → PAID and order → COMPLETED p50/p99. The load and its drain run `ROUNDS` times,
//! each after the last has drained, and each figure is the median of the rounds with their spread: one
//! round's CPU per drained order moved by a third between runs on the same commit (11.5 to 15.9 ms,
//! ADR 0030).
//!
//! Placing as fast as 16 clients can is a surge: on two cores placement takes what the pipeline would
//! need. So the row ends with a steady load at half the two-core ceiling the drain's cost sets (the
//! rate a shop would plan for on this machine), paced, not as fast as possible: whether the orders not
//! yet COMPLETED and the messages queued stay flat while it lasts, the machine's CPU per order at that
//! pace (small batches cost more an order than a drain's full ones), and order → COMPLETED p50/p99 when
//! nothing waits in a backlog.

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
/// The steady load: its rate is this share of the two-core ceiling the rounds' drain cost puts on the
/// pipeline (leaving placement, which shares the cores, the rest), and it runs for `STEADY_WARM_UP`
/// before the backlog is sampled each second for `STEADY_MEASURED`.
const STEADY_SHARE: f64 = 0.5;
const STEADY_WARM_UP: Duration = Duration::from_secs(10);
const STEADY_MEASURED: Duration = Duration::from_secs(40);
/// The backlog keeps up when it grows by no more than this share of the rate a second: a pipeline that
/// fell behind by 2 % would be 80 orders further back at the end of the window, one that keeps up stays
/// where it was give or take a batch.
const STEADY_GROWTH_LIMIT: f64 = 0.02;
/// The queue messages an order makes (payment, fulfilment, notification and report one each, the
/// WebSocket pusher five): the queues' growth is held to the same share of the messages they receive.
const DELIVERIES_PER_ORDER: f64 = 9.0;

/// One load and its drain.
struct Round {
    placed: usize,
    placed_per_second: f64,
    completed_during_load: usize,
    /// From the load's end until every order was COMPLETED.
    completed_seconds: Option<f64>,
    /// From the load's end until every queue was empty and the outbox published: the pusher and the
    /// report are not on the way to COMPLETED, and what they leave would be worked off in the next round.
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

/// Orders placed at a fixed rate the machine can carry, placement and pipeline together: whether the
/// backlog stays where it is, and how long an order takes to complete when it does.
struct Steady {
    rate: f64,
    placed_per_second: f64,
    completed_per_second: f64,
    /// The least-squares slope of the backlog (placed − COMPLETED) over the measured window, per second.
    backlog_growth: f64,
    /// The slope's standard error: the backlog moves by a batch or two from one sample to the next.
    backlog_growth_error: f64,
    backlog_first: i64,
    backlog_last: i64,
    /// The same for the messages in the pipeline's queues (visible and in flight).
    queued_growth: f64,
    queued_growth_error: f64,
    queued_first: i64,
    queued_last: i64,
    drained: bool,
    /// The machine's CPU over the measured window, placement and pipeline together.
    cpu: Cpu,
    /// Placement to COMPLETED (ms) of the steady load's orders.
    latency: Histogram<u64>,
}

impl Steady {
    fn keeps_up(&self) -> bool {
        self.drained
            && self.backlog_growth <= STEADY_GROWTH_LIMIT * self.rate
            && self.queued_growth <= self.queued_growth_limit()
    }

    fn queued_growth_limit(&self) -> f64 {
        STEADY_GROWTH_LIMIT * self.rate * DELIVERIES_PER_ORDER
    }
}

pub struct Row {
    rounds: Vec<Round>,
    steady: Option<Steady>,
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
    let sqs = crate::local_stack::sqs_client().await;
    // From empty queues: the products' creation published events of its own.
    if let Err(left) = crate::local_stack::drain(&db, &sqs, &crate::control(), DRAIN_LIMIT).await {
        println!(
            "  the pipeline did not drain before the first round ({left:?}); measuring anyway"
        );
    }
    let first_started_at = chrono::Utc::now();
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let round = round(client, api, &db, &sqs, &buyers, &products).await;
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
    let mut row = Row {
        rounds,
        steady: None,
        latency,
        to_paid,
    };
    let (total_ms, _) = row.figure(Round::drain_ms_per_order);
    if row.rounds.iter().all(|r| r.drain_seconds.is_some()) && total_ms > 0.0 {
        let rate = STEADY_SHARE * 2000.0 / total_ms;
        row.steady = Some(steady(client, api, &db, &sqs, &buyers, &products, rate).await);
    }
    row
}

/// Every buyer places orders at `rate ÷ CONCURRENCY` a second, staggered, for the warm-up and the
/// measured window; the backlog is sampled each second of the window, then left to drain.
async fn steady(
    client: &reqwest::Client,
    api: &str,
    db: &Client,
    sqs: &aws_sdk_sqs::Client,
    buyers: &[String],
    products: &Arc<Vec<String>>,
    rate: f64,
) -> Steady {
    let started_at = chrono::Utc::now();
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs_f64(CONCURRENCY as f64 / rate);
    let length = STEADY_WARM_UP + STEADY_MEASURED;
    let placed = Arc::new(AtomicUsize::new(0));
    let pace = Pace::Steady {
        start,
        period,
        length,
    };
    let clients = buyers_placing(client, api, buyers, products, &placed, pace);
    // The window's CPU (and, with `ORDERLY_BENCH_PROFILE`, a profile of it as side `pipeline-steady`).
    let cpu = crate::cpu::window(
        STEADY_WARM_UP,
        STEADY_MEASURED,
        "pipeline-steady".to_owned(),
    );
    tokio::time::sleep_until(start + STEADY_WARM_UP).await;
    let queues = crate::local_stack::queues(sqs, false).await;
    let mut samples = Vec::new();
    let mut second = tokio::time::interval(Duration::from_secs(1));
    while start.elapsed() < length {
        second.tick().await;
        let so_far = placed.load(Ordering::Relaxed);
        let done = completed(db, started_at).await;
        let backlog = so_far as i64 - done as i64;
        let mut queued = 0;
        for url in &queues {
            queued += crate::local_stack::messages(sqs, url).await;
        }
        samples.push((start.elapsed().as_secs_f64(), so_far, done, backlog, queued));
    }
    let cpu = cpu.await.expect("the CPU window");
    for c in clients {
        c.await.expect("a client");
    }
    let placed = placed.load(Ordering::Relaxed);
    let drain_started = Instant::now();
    let mut done = completed(db, started_at).await;
    while done < placed && drain_started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(500)).await;
        done = completed(db, started_at).await;
    }
    let left = DRAIN_LIMIT.saturating_sub(drain_started.elapsed());
    let queues_drained = crate::local_stack::drain(db, sqs, &crate::control(), left)
        .await
        .is_ok();
    let mut latency = Histogram::<u64>::new(3).expect("a histogram");
    for ms in reached(db, started_at, "COMPLETED").await {
        latency.record(ms.max(0) as u64).expect("in range");
    }
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let window = last.0 - first.0;
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.0, s.3 as f64)).collect();
    let (backlog_growth, backlog_growth_error) = slope(&points);
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.0, s.4 as f64)).collect();
    let (queued_growth, queued_growth_error) = slope(&points);
    Steady {
        rate,
        placed_per_second: (last.1 - first.1) as f64 / window,
        completed_per_second: (last.2 - first.2) as f64 / window,
        backlog_growth,
        backlog_growth_error,
        backlog_first: first.3,
        backlog_last: last.3,
        queued_growth,
        queued_growth_error,
        queued_first: first.4,
        queued_last: last.4,
        drained: done >= placed && queues_drained,
        cpu,
        latency,
    }
}

/// The least-squares slope of y over x, and its standard error.
fn slope(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (mean_x, mean_y) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let slope = covariance / variance;
    let residuals: f64 = points
        .iter()
        .map(|p| (p.1 - mean_y - slope * (p.0 - mean_x)).powi(2))
        .sum();
    (slope, (residuals / (n - 2.0) / variance).sqrt())
}

/// A buyer's `n`th order: one unit of a product picked so that the buyers spread over all of them;
/// counted in `placed` when it is accepted.
async fn place(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    products: &[String],
    n: usize,
    placed: &AtomicUsize,
) {
    let product = &products[(n * 7919) % products.len()];
    let body = json!({"items": [{"product_id": product, "quantity": 1}]});
    let answer = client.post(url).bearer_auth(token).json(&body).send().await;
    if answer.is_ok_and(|r| r.status() == 201) {
        placed.fetch_add(1, Ordering::Relaxed);
    }
}

/// How each buyer places its orders.
#[derive(Clone, Copy)]
enum Pace {
    /// As fast as the stack answers, until `LOAD` has passed since `started`.
    Surge { started: Instant },
    /// One every `period`, the buyers staggered across it, until `length` has passed since `start`.
    Steady {
        start: tokio::time::Instant,
        period: Duration,
        length: Duration,
    },
}

/// One task per buyer placing orders at `pace`, counting the placed ones in `placed`.
fn buyers_placing(
    client: &reqwest::Client,
    api: &str,
    buyers: &[String],
    products: &Arc<Vec<String>>,
    placed: &Arc<AtomicUsize>,
    pace: Pace,
) -> Vec<tokio::task::JoinHandle<()>> {
    buyers
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (client, url) = (client.clone(), format!("{api}/api/v1/orders"));
            let (products, placed, token) = (products.clone(), placed.clone(), token.clone());
            tokio::spawn(async move {
                let mut n = i;
                match pace {
                    Pace::Surge { started } => {
                        while started.elapsed() < LOAD {
                            place(&client, &url, &token, &products, n, &placed).await;
                            n += CONCURRENCY;
                        }
                    }
                    Pace::Steady {
                        start,
                        period,
                        length,
                    } => {
                        let first = start + period * i as u32 / CONCURRENCY as u32;
                        let mut tick = tokio::time::interval_at(first, period);
                        // A buyer the stack kept waiting skips the orders it missed: the rate placed
                        // is then below the rate asked, which the row prints.
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                        loop {
                            tick.tick().await;
                            if start.elapsed() >= length {
                                break;
                            }
                            place(&client, &url, &token, &products, n, &placed).await;
                            n += CONCURRENCY;
                        }
                    }
                }
            })
        })
        .collect()
}

/// Places orders for `LOAD` from every buyer at once, then waits for the backlog to drain.
async fn round(
    client: &reqwest::Client,
    api: &str,
    db: &Client,
    sqs: &aws_sdk_sqs::Client,
    buyers: &[String],
    products: &Arc<Vec<String>>,
) -> Round {
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let placed = Arc::new(AtomicUsize::new(0));
    let clients = buyers_placing(
        client,
        api,
        buyers,
        products,
        &placed,
        Pace::Surge { started },
    );
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
    let completed_seconds = (done >= placed).then(|| drain_started.elapsed().as_secs_f64());
    let left = DRAIN_LIMIT.saturating_sub(drain_started.elapsed());
    let drain_seconds = match crate::local_stack::drain(db, sqs, &crate::control(), left).await {
        Ok(_) if completed_seconds.is_some() => Some(drain_started.elapsed().as_secs_f64()),
        _ => None,
    };
    let drain_cpu = Cpu::sample().since(&drain_cpu_start);
    Round {
        placed,
        placed_per_second: placed as f64 / load,
        completed_during_load,
        completed_seconds,
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
        let drained = match (r.completed_seconds, r.drain_seconds) {
            (Some(c), Some(s)) => format!("COMPLETED in {c:.1} s, queues empty in {s:.1} s"),
            (Some(c), None) => format!(
                "COMPLETED in {c:.1} s, queues NOT empty within {} s",
                DRAIN_LIMIT.as_secs()
            ),
            _ => format!("NOT drained within {} s", DRAIN_LIMIT.as_secs()),
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
    let Some(steady) = &row.steady else {
        println!("  steady load: not run (a round did not drain)");
        return;
    };
    println!(
        "  steady load at {:.1} orders/s ({:.0} % of that two-core ceiling, placement sharing the cores), \
         {} s warm-up, {} s sampled each second:",
        steady.rate,
        STEADY_SHARE * 100.0,
        STEADY_WARM_UP.as_secs(),
        STEADY_MEASURED.as_secs()
    );
    println!(
        "    placed {:.1}/s, COMPLETED {:.1}/s, orders not COMPLETED {} → {} (growth {:+.2} ± {:.2} orders/s, \
         limit {:.2}), messages queued {} → {} (growth {:+.2} ± {:.2} messages/s, limit {:.2}): {}",
        steady.placed_per_second,
        steady.completed_per_second,
        steady.backlog_first,
        steady.backlog_last,
        steady.backlog_growth,
        steady.backlog_growth_error,
        STEADY_GROWTH_LIMIT * steady.rate,
        steady.queued_first,
        steady.queued_last,
        steady.queued_growth,
        steady.queued_growth_error,
        steady.queued_growth_limit(),
        if steady.keeps_up() {
            "keeps up"
        } else {
            "falls behind"
        }
    );
    let window = STEADY_MEASURED.as_secs_f64();
    println!(
        "    the machine busy {:.2} of 2 cores; CPU per order placed and completed: {}",
        steady.cpu.per_total(window) / 1000.0,
        steady.cpu.per(steady.placed_per_second * window)
    );
    println!(
        "    order → COMPLETED             p50 {:>7.0} ms  p99 {:>7.0} ms",
        steady.latency.value_at_quantile(0.5),
        steady.latency.value_at_quantile(0.99)
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
        (
            "completed_s",
            row.figure(|r| r.completed_seconds.unwrap_or(f64::NAN)).0,
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
    let mut figures = figures.to_vec();
    if let Some(steady) = &row.steady {
        figures.extend([
            ("steady_rate_per_s", steady.rate),
            ("steady_placed_per_s", steady.placed_per_second),
            ("steady_completed_per_s", steady.completed_per_second),
            ("steady_backlog_growth_per_s", steady.backlog_growth),
            ("steady_backlog_growth_error", steady.backlog_growth_error),
            ("steady_queued_growth_per_s", steady.queued_growth),
            ("steady_queued_growth_error", steady.queued_growth_error),
            (
                "steady_cores_busy",
                steady.cpu.per_total(STEADY_MEASURED.as_secs_f64()) / 1000.0,
            ),
            ("steady_keeps_up", f64::from(u8::from(steady.keeps_up()))),
            (
                "steady_to_completed_p50_ms",
                steady.latency.value_at_quantile(0.5) as f64,
            ),
            (
                "steady_to_completed_p99_ms",
                steady.latency.value_at_quantile(0.99) as f64,
            ),
        ]);
    }
    crate::summary::write_row("pipeline", &named(&figures), durability);
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn a_flat_backlog_has_no_slope_and_a_growing_one_its_rate() {
        let flat: Vec<(f64, f64)> = (0..30).map(|t| (t as f64, 40.0 + (t % 3) as f64)).collect();
        let (growth, error) = slope(&flat);
        assert!(growth.abs() < 0.05 && error > 0.0, "{growth} ± {error}");
        let growing: Vec<(f64, f64)> = (0..30).map(|t| (t as f64, 10.0 + 7.5 * t as f64)).collect();
        let (growth, error) = slope(&growing);
        assert!(
            (growth - 7.5).abs() < 1e-9 && error < 1e-9,
            "{growth} ± {error}"
        );
    }
}

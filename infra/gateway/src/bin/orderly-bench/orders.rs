//! Order placement (`--orders-only`, and the end of a full run): `POST /api/v1/orders` through the whole
//! stack, next to pgbench running the placement's own statements (`store::orders::READ_STOCK`, then
//! `LOCK_STOCK` and `PLACE` pipelined with the `COMMIT`, the very text the store sends, parameters filled
//! in by SQL) and next to the bare reservation, for one hot product and for 1,000 products. Each side
//! starts after the pipeline has drained (outbox published, queues empty) and Postgres has vacuumed and
//! checkpointed (`settle`), runs `CLIENTS` clients for `MEASURE` after `WARM_UP`, and the three sides
//! alternate `ROUNDS` times; medians and the spread are printed. Last, the stack is offered half its
//! median rate at a steady pace, for the latency a shop sees below capacity, and then the same after a
//! moment above capacity (`SURGE`), for whether it recovers from a queue. While the stack places, the
//! events' consumers are switched off (`consumers`): their queues fill, and the drain after the side
//! works through them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::backends::{self, Busiest};
use crate::cpu::{self, Cpu};
use crate::summary::named;
use crate::{control, control_summary, env, median, ms, relative_spread, user};

const CLIENTS: usize = 16;
/// The per-user limit is 1,000 requests a minute: 64 buyers keep 16 clients far below it at any rate
/// this machine reaches.
pub(crate) const BUYERS: usize = 64;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
const ROUNDS: usize = 2;
/// The surge before the second paced run, as a multiple of the stack's measured rate.
const SURGE: f64 = 1.5;
/// An order slower than this is slow (issue 12's p99 goal at half the rate).
const SLOW: Duration = Duration::from_millis(50);
/// How long pgbench keeps running after a side's measured window (`pgbench`).
const OUTLIVE_THE_WINDOW: Duration = Duration::from_secs(1);
/// How long a side waits for the pipeline to drain before it starts anyway (and says so). Locally the
/// emulator publishes and the consumers work through a side's orders at a fraction of placement's pace
/// (issues 12 and 13), so a drain takes minutes.
const DRAIN_AT_MOST: Duration = Duration::from_secs(300);

/// One side of a scenario: a rate per round, and the latency of every measured call.
pub struct Side {
    rates: Vec<f64>,
    latency: Histogram<u64>,
    failures: usize,
    /// The machine's CPU over each round's measured window, by part.
    rounds_cpu: Vec<Cpu>,
}

impl Side {
    fn new() -> Self {
        Self {
            rates: Vec::new(),
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
            failures: 0,
            rounds_cpu: Vec::new(),
        }
    }

    fn add(&mut self, (rate, latency, failures): (f64, Histogram<u64>, usize), cpu: Cpu) {
        self.rates.push(rate);
        self.latency.add(latency).expect("same bounds");
        self.failures += failures;
        self.rounds_cpu.push(cpu);
    }

    /// The machine's CPU over all the measured windows, by part.
    fn cpu(&self) -> Cpu {
        let mut all = Cpu::default();
        for round in &self.rounds_cpu {
            all.add(round);
        }
        all
    }

    /// Each round's rate and, in brackets, the CPU an order (or transaction) cost in it.
    fn rounds(&self) -> String {
        self.rates
            .iter()
            .zip(&self.rounds_cpu)
            .map(|(rate, cpu)| {
                format!(
                    "{rate:.0} ({:.2} ms)",
                    cpu.per_total(rate * MEASURE.as_secs_f64())
                )
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// The orders (or transactions) the measured windows finished.
    fn done(&self) -> f64 {
        self.rates.iter().sum::<f64>() * MEASURE.as_secs_f64()
    }

    /// Milliseconds of CPU per order, by part.
    fn cpu_per_order(&self) -> String {
        self.cpu().per(self.done())
    }

    fn median(&self) -> f64 {
        median(&self.rates)
    }

    /// (max − min) ÷ median of the rounds.
    fn spread(&self) -> f64 {
        relative_spread(&self.rates)
    }
}

pub struct Scenario {
    name: &'static str,
    key: &'static str,
    stack: Side,
    placement: Side,
    reservation: Side,
    drains: Vec<f64>,
    /// The stack offered half its measured rate, steadily.
    half: Paced,
    /// The same, right after a surge: 1.5× the measured rate through the warm-up.
    after_surge: Paced,
}

/// An open-loop run: orders offered at a pace, whatever the stack's latency, as buyers arrive.
pub struct Paced {
    /// Orders/s offered in the measured window.
    offered: f64,
    /// Orders/s answered `201` in the measured window, their latency, and the failures.
    done: (f64, Histogram<u64>, usize),
    /// Each measured second, by when its orders were due.
    seconds: Vec<Second>,
    /// The machine's CPU over the measured window.
    cpu: Cpu,
    /// Each measured second: Postgres's backends at their busiest.
    backends: Vec<Busiest>,
}

impl Paced {
    fn new() -> Self {
        Self {
            offered: 0.0,
            done: (0.0, Histogram::new(3).expect("a histogram"), 0),
            seconds: Vec::new(),
            cpu: Cpu::default(),
            backends: Vec::new(),
        }
    }

    /// The measured seconds it took until the p99 of the orders due in each second was under `SLOW`
    /// from that second on: 0 when it always was, `None` when the window ended slow. (A p99, not the
    /// slowest: a stable stack has a slow order every few seconds, a queue makes a whole second slow.)
    fn back_under_slow_after(&self) -> Option<usize> {
        let slow_until = self.seconds.iter().rposition(|second| second.p99 >= SLOW);
        match slow_until {
            None => Some(0),
            Some(last) if last + 1 < self.seconds.len() => Some(last + 1),
            Some(_) => None,
        }
    }

    fn timeline(&self) -> String {
        self.seconds
            .iter()
            .map(|second| {
                format!(
                    "{}:{:.0}/{:.0}",
                    second.due,
                    second.p99.as_secs_f64() * 1000.0,
                    second.slowest.as_secs_f64() * 1000.0
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One measured second of a paced run: the orders due in it, and how long they took.
#[derive(Clone, Copy, Debug, Default)]
pub struct Second {
    due: usize,
    p99: Duration,
    slowest: Duration,
}

impl Second {
    fn of(mut took: Vec<Duration>) -> Self {
        took.sort();
        let at = |q: f64| {
            took.get(((took.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Self {
            due: took.len(),
            p99: at(0.99),
            slowest: at(1.0),
        }
    }
}

/// The bare reservation every order makes: lock the line's stock row, then take the unit.
const RESERVATION_SQL: &str = "\\set n random(1, :products)
BEGIN;
SELECT i.available FROM inventory i JOIN products p ON p.id = i.product_id
 WHERE i.product_id = (SELECT product_id FROM bench_products WHERE n = :n) AND p.deleted_at IS NULL
   FOR UPDATE OF i;
UPDATE inventory SET available = available - 1, reserved = reserved + 1
 WHERE product_id = (SELECT product_id FROM bench_products WHERE n = :n) AND available >= 1;
END;
";

/// The placement as the store runs it, for pgbench: the `BEGIN` and the read (`store::orders::READ_STOCK`)
/// in one flight, then the lock, `PLACE` and the `COMMIT` in another, as the store sends them
/// (`Transaction::begin_along`, `store::orders::place_and_commit`),
/// with each `$n` replaced by SQL that makes the value (fresh ids from a random seed, one line of one
/// unit). The event type is one no queue subscribes to; the rows are marked published after the side
/// (`forget_baseline_events`): their publishing is not placement's work, and the emulator would take
/// minutes over it.
pub(crate) fn placement_script() -> String {
    let product = "(SELECT product_id FROM bench_products WHERE n = :n)";
    let fill = |statement: &str, values: &[(usize, String)]| {
        // Highest first, so that `$1` does not eat the start of `$10`.
        let mut filled = statement.to_owned();
        for (n, value) in values.iter().rev() {
            filled = filled.replace(&format!("${n}"), value);
        }
        filled
    };
    let read = fill(
        orderly_store::orders::READ_STOCK,
        &[(1, format!("ARRAY[{product}]"))],
    );
    let lock = fill(
        orderly_store::orders::LOCK_STOCK,
        &[(1, format!("ARRAY[{product}]"))],
    );
    let place = fill(
        &orderly_store::orders::PLACE,
        &[
            (1, "md5(:seed || 'order')::uuid".into()),
            (2, format!("ARRAY[{product}]")),
            (3, "ARRAY[1]".into()),
            (4, "ARRAY[1000]".into()),
            (5, "(SELECT user_id FROM bench_buyers WHERE n = :b)".into()),
            (6, "1000".into()),
            (7, "'XTS'".into()),
            (8, "now() + interval '15 minutes'".into()),
            (9, "md5(:seed || 'payment')::uuid".into()),
            (10, "md5(:seed || 'event')::uuid".into()),
            (11, "'bench.placed'".into()),
            (12, "'{}'::jsonb".into()),
            (13, "NULL".into()),
        ],
    );
    assert!(
        ![&read, &lock, &place].iter().any(|s| s.contains('$')),
        "every parameter of the store's placement is filled"
    );
    format!(
        "\\set n random(1, :products)\n\\set b random(1, :buyers)\n\\set seed random(1, 9000000000000000000)\n\\startpipeline\nBEGIN;\n{read};\n\\endpipeline\n\\startpipeline\n{lock};\n{place};\nEND;\n\\endpipeline\n"
    )
}

/// Products with ample stock, numbered 1..=count in `bench_products`, and the buyers numbered in
/// `bench_buyers`, for pgbench. Placement uses XTS, so the simulated provider leaves its charges pending
/// and payment stays quiet; the pipeline row pays in a real currency.
pub async fn bench_tables(
    db: &tokio_postgres::Client,
    count: i32,
    currency: &str,
    buyers: &[String],
) -> Vec<String> {
    db.batch_execute(
        "DROP TABLE IF EXISTS bench_products, bench_buyers;
         CREATE TABLE bench_products (n integer PRIMARY KEY, product_id uuid NOT NULL);
         CREATE TABLE bench_buyers (n integer PRIMARY KEY, user_id uuid NOT NULL);",
    )
    .await
    .expect("bench tables");
    for (n, id) in buyers.iter().enumerate() {
        let id: uuid::Uuid = id.parse().expect("a user id");
        db.execute(
            "INSERT INTO bench_buyers (n, user_id) VALUES ($1, $2)",
            &[&(n as i32 + 1), &id],
        )
        .await
        .expect("a buyer");
    }
    let merchant = uuid::Uuid::now_v7();
    db.execute(
        "INSERT INTO merchants (id, name) VALUES ($1, $2)",
        &[&merchant, &format!("Bench {merchant}")],
    )
    .await
    .expect("merchant");
    let mut ids = Vec::new();
    for n in 1..=count {
        let id = uuid::Uuid::now_v7();
        db.execute(
            "WITH p AS (INSERT INTO products (id, merchant_id, sku, name, price_cents, currency) VALUES ($1, $2, $3, 'Bench item', 1000, $4))
             INSERT INTO inventory (product_id, available) VALUES ($1, 10000000)",
            &[&id, &merchant, &format!("BENCH-{}", id.simple()), &currency],
        )
        .await
        .expect("product");
        db.execute(
            "INSERT INTO bench_products (n, product_id) VALUES ($1, $2)",
            &[&n, &id],
        )
        .await
        .expect("number");
        ids.push(id.to_string());
    }
    ids
}

/// Runs a pgbench script through `WARM_UP + MEASURE` and counts only what finished in the measured
/// window, from pgbench's per-transaction log.
///
/// pgbench runs `OUTLIVE_THE_WINDOW` past the side's CPU window: its backends end with it, and a process
/// that has ended takes its CPU time out of `/proc` before the window's last sample. Run for exactly the
/// window, pgbench's Postgres CPU per transaction read anywhere from 0.23 to 0.77 ms for the same
/// placement, in consecutive runs, and the stack looked that much dearer next to it.
pub(crate) fn pgbench(script: &str, products: usize) -> (f64, Histogram<u64>, usize) {
    let dir =
        std::env::temp_dir().join(format!("orderly-pgbench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("script.sql");
    std::fs::write(&file, script).expect("the script");
    let started = SystemTime::now();
    let output = std::process::Command::new(env("PGBENCH"))
        .current_dir(&dir)
        // As the functions' role, not as the superuser the benchmark connects with: a superuser skips
        // the permission checks (EXECUTE on every function `PLACE` calls) that the stack pays.
        .env("PGOPTIONS", "-c role=orderly_runtime")
        // Prepared, as the store runs its placement statements (`prepare_cached`, docs/adr/0016): the
        // baseline does not pay a parse the stack does not pay.
        .args([
            "-n",
            "-M",
            "prepared",
            "-j",
            "2",
            "-c",
            &CLIENTS.to_string(),
            "-T",
        ])
        .arg(
            (WARM_UP + MEASURE + OUTLIVE_THE_WINDOW)
                .as_secs()
                .to_string(),
        )
        .args(["-D", &format!("products={products}")])
        .args(["-D", &format!("buyers={BUYERS}"), "-f"])
        .arg(&file)
        .args(["-l", "--log-prefix", "tx"])
        .arg(env("DATABASE_URL"))
        .output()
        .expect("pgbench runs");
    assert!(
        output.status.success(),
        "pgbench failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let since_epoch = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    };
    let from = since_epoch(started + WARM_UP);
    let to = from + MEASURE.as_secs_f64();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut done = 0usize;
    for log in std::fs::read_dir(&dir)
        .expect("logs")
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with("tx"))
    {
        // client, transaction, latency µs, script, end (s), end (µs)
        for line in std::fs::read_to_string(log.path())
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(micros), Some(s), Some(us)) = (
                f.get(2).and_then(|v| v.parse::<u64>().ok()),
                f.get(4).and_then(|v| v.parse::<f64>().ok()),
                f.get(5).and_then(|v| v.parse::<f64>().ok()),
            ) else {
                continue;
            };
            let end = s + us / 1e6;
            if end >= from && end < to {
                done += 1;
                latency.saturating_record(micros.max(1));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    (done as f64 / MEASURE.as_secs_f64(), latency, 0)
}

/// Places orders from `CLIENTS` clients for `WARM_UP + MEASURE`; counts what finished in the window.
async fn stack(
    client: &reqwest::Client,
    api: &str,
    tokens: &[String],
    products: &[String],
) -> (f64, Histogram<u64>, usize) {
    let url = format!("{api}/api/v1/orders");
    let (tokens, products) = (Arc::new(tokens.to_vec()), Arc::new(products.to_vec()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (c, url, tokens, products, next) = (
                client.clone(),
                url.clone(),
                tokens.clone(),
                products.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut latency =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
                let (mut done, mut failures) = (0usize, 0usize);
                while started.elapsed() < WARM_UP + MEASURE {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let body = json!({"items": [{"product_id": products[(n * 7919) % products.len()], "quantity": 1}]});
                    let at = Instant::now();
                    let ok = c
                        .post(&url)
                        .bearer_auth(&tokens[n % tokens.len()])
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 201);
                    let end = started.elapsed();
                    if end >= WARM_UP && end < WARM_UP + MEASURE {
                        if ok {
                            done += 1;
                            latency.saturating_record(at.elapsed().as_micros() as u64);
                        } else {
                            failures += 1;
                        }
                    }
                }
                (done, latency, failures)
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut done, mut failures) = (0, 0);
    for w in workers {
        let (d, l, f) = w.await.expect("a client");
        done += d;
        latency.add(l).expect("same bounds");
        failures += f;
    }
    (done as f64 / MEASURE.as_secs_f64(), latency, failures)
}

/// Offers orders at a fixed `rate` for `MEASURE` after `WARM_UP`, each sent at its own moment whatever
/// the others are doing (an open loop: a slow answer does not hold back the next order, so the latency
/// includes any queueing it causes); latency counts from the moment an order was due.
async fn paced(
    client: &reqwest::Client,
    api: &str,
    tokens: &[String],
    products: &[String],
    warm_up_rate: f64,
    rate: f64,
) -> ((f64, Histogram<u64>, usize), Vec<Second>) {
    let url = Arc::new(format!("{api}/api/v1/orders"));
    let started = tokio::time::Instant::now();
    let mut due = started;
    let mut sent = Vec::new();
    let mut n = 0usize;
    while due.duration_since(started) < WARM_UP + MEASURE {
        let measured = due.duration_since(started) >= WARM_UP;
        // Each order is due a fixed interval after the one before, at the rate of the part of the run it
        // falls in; one that falls behind is sent at once, so a slow moment does not thin the load.
        tokio::time::sleep_until(due).await;
        let body = json!({"items": [{"product_id": products[(n * 7919) % products.len()], "quantity": 1}]});
        let (c, url, token) = (
            client.clone(),
            url.clone(),
            tokens[n % tokens.len()].clone(),
        );
        sent.push(tokio::spawn(async move {
            let ok = c
                .post(url.as_str())
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .is_ok_and(|r| r.status() == 201);
            (measured, ok, due.duration_since(started), due.elapsed())
        }));
        n += 1;
        let pace = if measured { rate } else { warm_up_rate };
        due += Duration::from_secs_f64(1.0 / pace.max(1.0));
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut done, mut failures) = (0usize, 0usize);
    // Per measured second, by when orders were due: how many, and the slowest. A p99 far above the
    // p50 is a stall of a moment or a slope over the whole window; this says which, and when.
    let seconds = MEASURE.as_secs() as usize;
    let mut by_second = vec![Vec::new(); seconds];
    for order in sent {
        let (measured, ok, due, took) = order.await.expect("an order");
        match (measured, ok) {
            (false, _) => {}
            (true, true) => {
                done += 1;
                latency.saturating_record(took.as_micros() as u64);
            }
            (true, false) => failures += 1,
        }
        if measured {
            let second = ((due - WARM_UP).as_secs() as usize).min(seconds - 1);
            by_second[second].push(took);
        }
    }
    (
        (done as f64 / MEASURE.as_secs_f64(), latency, failures),
        by_second.into_iter().map(Second::of).collect(),
    )
}

/// A paced run with its CPU window and the backends' watch; `label` names its CPU window.
async fn paced_run(
    client: &reqwest::Client,
    api: &str,
    tokens: &[String],
    products: &[String],
    label: String,
    warm_up_rate: f64,
    rate: f64,
) -> Paced {
    consumers(false).await;
    let window = cpu::window(WARM_UP, MEASURE, label);
    let backends = backends::watch(WARM_UP, MEASURE);
    let (done, seconds) = paced(client, api, tokens, products, warm_up_rate, rate).await;
    let paced = Paced {
        offered: rate,
        done,
        seconds,
        cpu: window.await.expect("the CPU window"),
        backends: backends.await.expect("the backends' watch"),
    };
    consumers(true).await;
    paced
}

/// Waits until the pipeline has drained (at most `DRAIN_AT_MOST`), then `settle`s; returns the seconds
/// the drain took.
pub(crate) async fn drain(db: &tokio_postgres::Client, sqs: &aws_sdk_sqs::Client) -> f64 {
    let control = control();
    let drained = match crate::local_stack::drain(db, sqs, &control, DRAIN_AT_MOST).await {
        Ok(seconds) => seconds,
        Err(left) => {
            println!(
                "  not drained after {} s ({} events unpublished, {} messages queued); measuring anyway",
                DRAIN_AT_MOST.as_secs(),
                left.unpublished,
                left.queued
            );
            DRAIN_AT_MOST.as_secs_f64()
        }
    };
    settle(db).await;
    drained
}

/// The tables a placement writes.
const PLACEMENT_TABLES: &str =
    "inventory, orders, order_items, order_status_history, payments, outbox, rate_limits";

/// Starts the next side from the same state as every other: the placement's tables vacuumed and a
/// checkpoint just taken. Autovacuum is off on those tables while the row runs (`autovacuum`): it
/// woke about a minute into the 1,000-product row and took a core for seconds, in whichever side was
/// running. With `full_page_writes` on, the first change to a page after a checkpoint writes the whole
/// page to the WAL, and the checkpointer starts one every five minutes: a side it fell into wrote several
/// times the WAL per order of the side before. One 1,000-product run's pgbench sides were 61 % apart.
/// Both sides write the same rows, so the vacuuming they leave behind is the same for both, done between
/// them.
pub(crate) async fn settle(db: &tokio_postgres::Client) {
    for statement in [
        format!("VACUUM (ANALYZE) {PLACEMENT_TABLES}"),
        "CHECKPOINT".into(),
    ] {
        if let Err(e) = db.batch_execute(&statement).await {
            println!(
                "  could not run {statement} before the side ({e}): the side may share the machine with it"
            );
        }
    }
}

/// Turns autovacuum on the placement's tables off while the row runs (`settle` vacuums between sides),
/// and back on after.
async fn autovacuum(db: &tokio_postgres::Client, on: bool) {
    for table in PLACEMENT_TABLES.split(", ") {
        db.batch_execute(&format!(
            "ALTER TABLE {table} SET (autovacuum_enabled = {on})"
        ))
        .await
        .expect("autovacuum setting");
    }
}

/// `PUT` to the control API; it must succeed.
async fn put_control(http: &reqwest::Client, path: &str, body: serde_json::Value) {
    let answer = http
        .put(format!("{}{path}", control()))
        .json(&body)
        .send()
        .await
        .expect("the control API");
    assert!(answer.status().is_success(), "{path}: {}", answer.status());
}

/// Throttles a function (reserved concurrency 0, which also ends what it runs), or lifts that.
pub(crate) async fn throttle(function: &str, throttled: bool) {
    let reserved = if throttled { json!(0) } else { json!(null) };
    put_control(
        &reqwest::Client::new(),
        &format!("/functions/{function}/concurrency"),
        json!({ "reserved": reserved }),
    )
    .await;
}

/// Switches every SQS-fed function's event source off, or on again. A placement side measures what a
/// placement is (the request, its transaction, the relay publishing its event into the queues), not the
/// consumers that act on the events afterwards: on this machine they share the two cores with it, the
/// baseline does none of their work, and the pipeline row measures them. The drain after the side
/// processes everything the side queued.
pub(crate) async fn consumers(on: bool) {
    let http = reqwest::Client::new();
    let summary = control_summary(&http).await;
    let mappings = summary["sqs_mappings"]
        .as_array()
        .expect("the SQS mappings");
    for mapping in mappings {
        let function = mapping
            .as_str()
            .and_then(|m| m.split(" → ").nth(1))
            .expect("queue → function");
        put_control(
            &http,
            &format!("/functions/{function}/event-source"),
            json!({ "enabled": on }),
        )
        .await;
    }
}

/// Stops the outbox relay while pgbench measures, so that the baseline has the machine to itself; and
/// starts it again after. The relay's work is the stack's, not the baseline's.
pub(crate) async fn relay(running: bool) {
    throttle("OutboxRelayFunction", !running).await;
    if running {
        // The schedule's next tick may be a minute away: start a run now (it lasts about a minute).
        let control = control();
        tokio::spawn(async move {
            let _ = reqwest::Client::new()
                .post(format!("{control}/schedules/OutboxRelayFunction/fire"))
                .send()
                .await;
        });
    }
}

/// The placement baseline's outbox rows, marked published: nothing subscribes to them.
pub(crate) async fn forget_baseline_events(db: &tokio_postgres::Client) {
    db.execute(
        "UPDATE outbox SET published_at = now() WHERE event_type = 'bench.placed' AND published_at IS NULL",
        &[],
    )
    .await
    .expect("the baseline's events");
}

pub async fn bench(client: &reqwest::Client, api: &str) -> Vec<Scenario> {
    let (db, connection) = tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(connection);
    let sqs = crate::local_stack::sqs_client().await;
    autovacuum(&db, false).await;
    let offset = if std::env::args().any(|a| a == "--orders-only") {
        600
    } else {
        500
    };
    let placement = placement_script();
    let mut scenarios = Vec::new();
    for (scenario_number, (name, key, count)) in [
        ("one hot product", "hot", 1),
        ("1,000 products", "spread", 1_000),
    ]
    .into_iter()
    .enumerate()
    {
        // Buyers of their own per scenario: a scenario outlasts an access token's 15 minutes.
        let mut ids = Vec::new();
        let mut tokens = Vec::new();
        for n in 0..BUYERS {
            let (id, token) = user(client, api, offset + scenario_number * BUYERS + n).await;
            ids.push(id);
            tokens.push(token);
        }
        let products = bench_tables(&db, count, "XTS", &ids).await;
        let mut scenario = Scenario {
            name,
            key,
            stack: Side::new(),
            placement: Side::new(),
            reservation: Side::new(),
            drains: Vec::new(),
            half: Paced::new(),
            after_surge: Paced::new(),
        };
        for round in 1..=ROUNDS {
            scenario.drains.push(drain(&db, &sqs).await);
            consumers(false).await;
            let window = cpu::window(WARM_UP, MEASURE, format!("{key}-stack-{round}"));
            let measured = stack(client, api, &tokens, &products).await;
            scenario
                .stack
                .add(measured, window.await.expect("the CPU window"));
            consumers(true).await;
            scenario.drains.push(drain(&db, &sqs).await);
            relay(false).await;
            let script = placement.clone();
            let window = cpu::window(WARM_UP, MEASURE, format!("{key}-placement-{round}"));
            let measured = tokio::task::spawn_blocking(move || pgbench(&script, count as usize))
                .await
                .expect("pgbench");
            scenario
                .placement
                .add(measured, window.await.expect("the CPU window"));
            forget_baseline_events(&db).await;
            settle(&db).await;
            let window = cpu::window(WARM_UP, MEASURE, format!("{key}-reservation-{round}"));
            let measured =
                tokio::task::spawn_blocking(move || pgbench(RESERVATION_SQL, count as usize))
                    .await
                    .expect("pgbench");
            scenario
                .reservation
                .add(measured, window.await.expect("the CPU window"));
            relay(true).await;
        }
        scenario.drains.push(drain(&db, &sqs).await);
        let capacity = scenario.stack.median();
        let at_half_rate = |label: &str, warm_up_rate: f64| {
            let label = format!("{key}-{label}");
            paced_run(
                client,
                api,
                &tokens,
                &products,
                label,
                warm_up_rate,
                capacity / 2.0,
            )
        };
        scenario.half = at_half_rate("half-rate", capacity / 2.0).await;
        scenario.drains.push(drain(&db, &sqs).await);
        // A moment above capacity queues orders; a stack that is stable works the queue off and is back
        // to its half-rate latency within seconds. One that is not stays slow at the same offered load
        // (ADR 0031: every queued placement waiting on the hot row inside Postgres).
        scenario.after_surge = at_half_rate("after-surge", capacity * SURGE).await;
        scenarios.push(scenario);
    }
    autovacuum(&db, true).await;
    scenarios
}

pub fn print(scenarios: &[Scenario], mode: &str) {
    println!(
        "\norder placement: {CLIENTS} clients, {} s measured after {} s warm-up, {ROUNDS} rounds alternating stack / pgbench placement / pgbench reservation, each after the pipeline drained, a VACUUM and a CHECKPOINT (autovacuum off on the placement's tables); {mode}; the consumers' event sources off while the stack places (the pipeline row measures them)",
        MEASURE.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "{:<18} {:>24} {:>24} {:>24} | {:>9} {:>9} | failures",
        "",
        "stack orders/s (spread)",
        "pgbench placement tps",
        "pgbench reservation tps",
        "÷ place",
        "÷ reserve"
    );
    for s in scenarios {
        let side = |x: &Side| format!("{:.0} (±{:.0} %)", x.median(), x.spread() * 50.0);
        println!(
            "{:<18} {:>24} {:>24} {:>24} | {:>8.2}× {:>8.2}× | {}",
            s.name,
            side(&s.stack),
            side(&s.placement),
            side(&s.reservation),
            s.stack.median() / s.placement.median(),
            s.stack.median() / s.reservation.median(),
            s.stack.failures
        );
        println!(
            "{:<18} stack p50 {:.1} ms p99 {:.1} ms; placement p50 {:.1} ms p99 {:.1} ms; drained in {:.0}–{:.0} s before each side",
            "",
            ms(&s.stack.latency, 0.5),
            ms(&s.stack.latency, 0.99),
            ms(&s.placement.latency, 0.5),
            ms(&s.placement.latency, 0.99),
            s.drains.iter().copied().fold(f64::MAX, f64::min),
            s.drains.iter().copied().fold(f64::MIN, f64::max),
        );
        // Each round's rate, in the order measured: a spread says how far apart they are, this says
        // which one was off (the first side of a run, or a later one), and whether it was off because
        // an order cost more CPU in it or because something else held the machine.
        println!(
            "{:<18} rounds (CPU per order): stack {}; pgbench placement {}; reservation {}",
            "",
            s.stack.rounds(),
            s.placement.rounds(),
            s.reservation.rounds(),
        );
        // Where the rate is won or lost: on two cores a side's rate is about 2 s of CPU a second
        // divided by what an order costs, summed over every process it runs in.
        println!(
            "{:<18} CPU per order: stack {}; pgbench placement {}",
            "",
            s.stack.cpu_per_order(),
            s.placement.cpu_per_order(),
        );
        for (round, (rate, cpu)) in s.stack.rates.iter().zip(&s.stack.rounds_cpu).enumerate() {
            println!(
                "{:<18}   stack round {}: {}",
                "",
                round + 1,
                cpu.per(rate * MEASURE.as_secs_f64())
            );
        }
        let half = &s.half;
        println!(
            "{:<18} at half that rate ({:.0} orders/s offered, open loop): p50 {:.1} ms p99 {:.1} ms, {} failures (goal: p99 < 50 ms)",
            "",
            half.offered,
            ms(&half.done.1, 0.5),
            ms(&half.done.1, 0.99),
            half.done.2
        );
        print_seconds(half);
        let surge = &s.after_surge;
        println!(
            "{:<18} the same after {SURGE}× for the {} s warm-up: p50 {:.1} ms p99 {:.1} ms, {} failures; {}",
            "",
            WARM_UP.as_secs(),
            ms(&surge.done.1, 0.5),
            ms(&surge.done.1, 0.99),
            surge.done.2,
            match surge.back_under_slow_after() {
                Some(n) => format!(
                    "each second's p99 under {} ms from second {n} on",
                    SLOW.as_millis()
                ),
                None => format!("the last second's p99 still ≥ {} ms", SLOW.as_millis()),
            }
        );
        print_seconds(surge);
    }
    println!(
        "÷ place: the stack's orders/s over pgbench running the store's own placement statements (issue 12's goal: ≥ 0.6× hot, ≥ 0.5× 1,000 products)"
    );
}

fn print_seconds(run: &Paced) {
    println!(
        "{:<18} each second, orders due:p99/slowest ms: {}; CPU per order: {}",
        "",
        run.timeline(),
        run.cpu.per(run.done.0 * MEASURE.as_secs_f64())
    );
    println!(
        "{:<18} each second, Postgres backends at their busiest, running/waiting on a lock: {}",
        "",
        backends::timeline(&run.backends)
    );
}

pub fn write(scenarios: &[Scenario], durability: &str, row: &str) {
    let mut figures: Vec<(String, f64)> = Vec::new();
    for s in scenarios {
        let k = s.key;
        figures.extend(
            named(&[
                ("stack_orders_per_s", s.stack.median()),
                ("stack_spread", s.stack.spread()),
                ("stack_p50_ms", ms(&s.stack.latency, 0.5)),
                ("stack_p99_ms", ms(&s.stack.latency, 0.99)),
                ("placement_tps", s.placement.median()),
                ("placement_spread", s.placement.spread()),
                ("reservation_tps", s.reservation.median()),
                ("reservation_spread", s.reservation.spread()),
                (
                    "ratio_to_placement",
                    s.stack.median() / s.placement.median(),
                ),
                ("failures", s.stack.failures as f64),
                ("half_rate_orders_per_s", s.half.done.0),
                ("half_rate_p50_ms", ms(&s.half.done.1, 0.5)),
                ("half_rate_p99_ms", ms(&s.half.done.1, 0.99)),
                ("after_surge_p99_ms", ms(&s.after_surge.done.1, 0.99)),
                (
                    "after_surge_back_under_50_ms_after_s",
                    s.after_surge
                        .back_under_slow_after()
                        .map_or(f64::NAN, |n| n as f64),
                ),
            ])
            .into_iter()
            .chain(cpu::PARTS.iter().map(|part| {
                (
                    format!("stack_cpu_{part}_ms"),
                    s.stack.cpu().part_per(part, s.stack.done()),
                )
            }))
            .map(|(n, v)| (format!("{k}_{n}"), v)),
        );
    }
    crate::summary::write_row(row, &figures, durability);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: &[u64]) -> Vec<Duration> {
        ms.iter().map(|ms| Duration::from_millis(*ms)).collect()
    }

    fn run(p99_ms: &[u64]) -> Paced {
        let mut paced = Paced::new();
        paced.seconds = ms(p99_ms)
            .into_iter()
            .map(|p99| Second {
                due: 100,
                p99,
                slowest: p99,
            })
            .collect();
        paced
    }

    #[test]
    fn a_second_has_the_p99_and_the_slowest_of_its_orders() {
        let mut took: Vec<u64> = (1..=200).collect();
        took.reverse();
        let second = Second::of(ms(&took));
        assert_eq!(second.due, 200);
        assert_eq!(second.p99, Duration::from_millis(198));
        assert_eq!(second.slowest, Duration::from_millis(200));
        assert_eq!(Second::of(Vec::new()).p99, Duration::ZERO);
    }

    #[test]
    fn a_run_that_was_never_slow_is_under_slow_from_its_first_second() {
        assert_eq!(run(&[12, 49, 20]).back_under_slow_after(), Some(0));
    }

    #[test]
    fn a_run_is_back_under_slow_after_its_last_slow_second() {
        // A second under the line between slow ones does not count as recovered.
        assert_eq!(run(&[900, 30, 50, 20, 15]).back_under_slow_after(), Some(3));
    }

    #[test]
    fn a_run_that_ends_slow_never_recovered() {
        assert_eq!(run(&[10, 10, 2_000]).back_under_slow_after(), None);
    }
}

//! `make chaos`: orders from many clients over a few hundred products of limited stock, with cancels and
//! restocks, while execution environments are killed at random moments, Postgres crashes once, the
//! payment provider turns slow, down and declining, and queue messages are delivered twice. Then the
//! system settles and the invariants are checked: the table it prints says what held, and it exits
//! non-zero on any violation. Run by infra/scripts/chaos.sh against a stack of its own (process mode).

mod check;
mod faults;
mod load;
mod tamper;

#[path = "../common/local_stack.rs"]
mod local_stack;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

pub struct Stack {
    pub http: reqwest::Client,
    pub api: String,
    pub control: String,
    pub provider: String,
    pub database_url: String,
    pub admin_email: String,
    pub admin_password: String,
    /// infra/scripts/postgres.sh, whose `crash` is the Postgres fault.
    pub postgres_script: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run `make chaos`"))
}

impl Stack {
    fn from_env() -> Self {
        let port = |name: &str| format!("http://127.0.0.1:{}", env(name));
        Self {
            http: reqwest::Client::new(),
            api: port("ORDERLY_API_PORT"),
            control: port("ORDERLY_CONTROL_PORT"),
            provider: port("ORDERLY_PROVIDER_PORT"),
            database_url: env("DATABASE_URL"),
            admin_email: env("ORDERLY_ADMIN_EMAIL"),
            admin_password: env("ORDERLY_ADMIN_PASSWORD"),
            postgres_script: env("ORDERLY_POSTGRES_SCRIPT"),
        }
    }

    pub async fn database(&self) -> tokio_postgres::Client {
        let (db, connection) = tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
            .await
            .expect("the database");
        tokio::spawn(connection);
        db
    }
}

struct Options {
    orders: usize,
    clients: usize,
    products: usize,
    kill_waves: usize,
    settle: Duration,
    prove_checks: bool,
}

impl Options {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |flag: &str, default: usize| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{flag} takes a number"))
                })
                .unwrap_or(default)
        };
        Self {
            orders: value("--orders", 10_000),
            clients: value("--clients", 32),
            products: value("--products", 300),
            kill_waves: value("--kill-waves", 3),
            settle: Duration::from_secs(value("--settle-seconds", 300) as u64),
            prove_checks: args.iter().any(|a| a == "--prove-checks"),
        }
    }
}

/// Waits for the pipeline to finish what the load started: outbox published, working queues empty, no
/// order between payment and completion. A payment whose messages all failed (its worker killed after
/// the provider charged, Postgres down) is left to the reconciliation schedule, every 5 minutes in AWS:
/// once every such payment has been idle past its minute, the run fires it, twice at most. False when
/// `at_most` passed first.
async fn settle(stack: &Stack, at_most: Duration) -> bool {
    let db = stack.database().await;
    let sqs = local_stack::sqs_client().await;
    let started = Instant::now();
    let mut reconciled = 0;
    loop {
        let left = at_most.saturating_sub(started.elapsed());
        if local_stack::drain(&db, &sqs, &stack.control, left)
            .await
            .is_err()
        {
            return false;
        }
        let counts = db
            .query_one(
                "SELECT (SELECT count(*) FROM orders WHERE status IN ('PAID', 'FULFILLED')),
                        count(*),
                        count(*) FILTER (WHERE p.updated_at < now() - interval '65 seconds')
                   FROM payments p JOIN orders o ON o.id = p.order_id
                  WHERE p.status = 'PENDING' AND p.attempts > 0 AND o.status = 'PENDING_PAYMENT'",
                &[],
            )
            .await
            .expect("orders");
        let (moving, unreconciled, idle): (i64, i64, i64) =
            (counts.get(0), counts.get(1), counts.get(2));
        if moving == 0 && (unreconciled == 0 || reconciled >= 2) {
            return true;
        }
        if started.elapsed() > at_most {
            return false;
        }
        if moving == 0 && unreconciled > 0 && idle == unreconciled {
            let fired = stack
                .http
                .post(format!(
                    "{}/schedules/PaymentsReconcileFunction/fire",
                    stack.control
                ))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            assert!(fired, "the reconciliation schedule could not be fired");
            reconciled += 1;
            println!("  reconciliation fired for {unreconciled} payments left pending");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[tokio::main]
async fn main() {
    orderly_cloud::use_ring_for_tls();
    let options = Options::from_args();
    let stack = Arc::new(Stack::from_env());
    let durability = local_stack::durability(&stack.database().await).await;
    println!(
        "Chaos: {} orders from {} clients over {} products; Postgres: {durability}",
        options.orders, options.clients, options.products
    );
    let world = Arc::new(load::setup(&stack, options.products, options.clients).await);
    let started = Instant::now();
    let progress = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn(faults::run(
        stack.clone(),
        faults::Plan {
            orders: options.orders,
            kill_waves: options.kill_waves,
            postgres_restarts: 1,
            redelivery_rate: 0.05,
        },
        progress.clone(),
        done.clone(),
    ));
    let mut outcome = load::run(stack.clone(), world.clone(), options.orders, progress).await;
    let load_seconds = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let log = faults.await.expect("the faults");
    println!(
        "  load: {:.0} s, {} placed, {} out of stock, {} without an answer, {} retries; faults: {} single kills, {} kill waves ({} invocations ended), {} Postgres crash ({:.1} s to restart), provider phases {}, {:.0} % of handled messages redelivered",
        load_seconds,
        outcome.placed.len(),
        outcome.out_of_stock,
        outcome.ambiguous_orders,
        outcome.retries,
        log.single_kills,
        log.kill_waves,
        log.invocations_killed,
        log.postgres_restarts,
        log.postgres_down_seconds,
        log.provider_phases.len(),
        log.redelivery_rate * 100.0,
    );
    let settle_started = Instant::now();
    let settled = settle(&stack, options.settle).await;
    println!(
        "  settled: {} after {:.0} s",
        if settled { "yes" } else { "NO" },
        settle_started.elapsed().as_secs_f64()
    );
    let rows = check::run(&stack, &world, &outcome).await;
    println!("\n| invariant | figure | violations | note |\n|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.name, r.figure, r.violations, r.detail
        );
    }
    let violations: usize =
        rows.iter().map(|r| r.violations).sum::<usize>() + usize::from(!settled);
    if violations > 0 {
        println!("\nchaos: {violations} violation(s)");
        std::process::exit(1);
    }
    println!("\nchaos: every invariant held");
    if options.prove_checks {
        let blind = tamper::prove_checks_can_fail(&stack, &world, &mut outcome).await;
        if !blind.is_empty() {
            println!("chaos: these checks missed the breakage made for them: {blind:?}");
            std::process::exit(1);
        }
        println!(
            "chaos: and each check reports a violation when its invariant is broken on purpose"
        );
    }
}

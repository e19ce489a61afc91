//! Flash sales (`--flash-sale-only`): how fast the reservation function accepts a backlog of queued
//! orders for one product, next to pgbench running the store's own placement statements on one hot
//! product (what a product sells at most without flash-sale mode: every order waits on its row).
//!
//! A round: with the reservation function throttled, `CLIENTS` clients queue `BACKLOG` orders through the
//! stack (`POST /api/v1/orders` → `202 QUEUED`; that rate is printed too); once the outbox has published
//! them, the throttle is lifted and the function is invoked once through the control API, with a real
//! `order.queued` as its SQS record: it decides the whole backlog (passes of 1,000) before it returns.
//! Accepted orders per second = backlog ÷ that invocation's duration. Then, after the pipeline drained
//! the accepted orders, pgbench measures the placement ceiling. `ROUNDS` rounds alternate the two.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::orders::{
    BUYERS, bench_tables, drain, forget_baseline_events, pgbench, placement_script, relay, throttle,
};
use crate::summary::named;
use crate::{env, median, relative_spread, user};

const BACKLOG: usize = 5_000;
const ROUNDS: usize = 2;
const CLIENTS: usize = 16;
const FUNCTION: &str = "FlashSaleReservationFunction";

pub struct Row {
    /// Orders accepted per second from a queued backlog, per round.
    accepted: Vec<f64>,
    /// Orders queued per second through the stack (`202`), per round.
    intake: Vec<f64>,
    /// pgbench placement on one hot product, tps per round.
    placement: Vec<f64>,
    failures: usize,
}

/// Queues `BACKLOG` orders for `product` from `CLIENTS` clients; returns (orders/s, failures).
async fn queue_backlog(
    client: &reqwest::Client,
    api: &str,
    tokens: &[String],
    product: &str,
) -> (f64, usize) {
    let url = Arc::new(format!("{api}/api/v1/orders"));
    let tokens = Arc::new(tokens.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (c, url, tokens, next) =
                (client.clone(), url.clone(), tokens.clone(), next.clone());
            let body = json!({"items": [{"product_id": product, "quantity": 1}]});
            tokio::spawn(async move {
                let mut failures = 0;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= BACKLOG {
                        return failures;
                    }
                    let queued = c
                        .post(url.as_str())
                        .bearer_auth(&tokens[n % tokens.len()])
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 202);
                    failures += usize::from(!queued);
                }
            })
        })
        .collect();
    let mut failures = 0;
    for w in workers {
        failures += w.await.expect("a client");
    }
    (BACKLOG as f64 / started.elapsed().as_secs_f64(), failures)
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.expect("a count").get(0)
}

/// Wakes the reservation function once, as its queue would, with one real `order.queued` of the backlog,
/// and returns when it has decided everything (the invocation loops until its product's queue is empty).
async fn decide_backlog(db: &tokio_postgres::Client) -> f64 {
    let envelope: Value = db
        .query_one(
            "SELECT payload FROM outbox WHERE event_type = 'order.queued' ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .expect("a queued order's event")
        .get(0);
    let event = json!({"Records": [{
        "messageId": format!("bench-{}", uuid::Uuid::now_v7()), "receiptHandle": "bench",
        "body": envelope.to_string(), "attributes": {}, "messageAttributes": {},
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
    }]});
    let control = crate::control();
    let started = Instant::now();
    let answer: Value = reqwest::Client::new()
        .post(format!("{control}/functions/{FUNCTION}/invoke"))
        .json(&event)
        .send()
        .await
        .expect("the control API")
        .json()
        .await
        .expect("its answer");
    let took = started.elapsed().as_secs_f64();
    assert!(
        answer["payload"]["batchItemFailures"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "the backlog was decided in one invocation: {answer}"
    );
    took
}

pub async fn bench(client: &reqwest::Client, api: &str, admin_token: &str) -> Row {
    let (db, connection) = tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("database");
    tokio::spawn(connection);
    let sqs = crate::local_stack::sqs_client().await;
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for n in 0..BUYERS {
        let (id, token) = user(client, api, 800 + n).await;
        ids.push(id);
        tokens.push(token);
    }
    // The first product is pgbench's hot product; the second goes on sale. Stock for every round.
    let products = bench_tables(&db, 2, "XTS", &ids).await;
    let sale = &products[1];
    let switched = client
        .put(format!("{api}/api/v1/products/{sale}/inventory"))
        .bearer_auth(admin_token)
        .json(&json!({"flash_sale": true}))
        .send()
        .await
        .expect("the inventory API");
    assert_eq!(switched.status(), 200, "flash-sale mode switched on");

    let mut row = Row {
        accepted: Vec::new(),
        intake: Vec::new(),
        placement: Vec::new(),
        failures: 0,
    };
    for _ in 0..ROUNDS {
        drain(&db, &sqs).await;
        throttle(FUNCTION, true).await;
        let (intake, failures) = queue_backlog(client, api, &tokens, sale).await;
        row.intake.push(intake);
        row.failures += failures;
        while count(
            &db,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND event_type = 'order.queued'",
        )
        .await
            > 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        throttle(FUNCTION, false).await;
        let queued = count(&db, "SELECT count(*) FROM flash_sale_queue").await;
        let took = decide_backlog(&db).await;
        assert_eq!(
            count(&db, "SELECT count(*) FROM flash_sale_queue").await,
            0,
            "the backlog is decided"
        );
        row.accepted.push(queued as f64 / took);

        drain(&db, &sqs).await;
        relay(false).await;
        let script = placement_script();
        let (tps, _, _) = tokio::task::spawn_blocking(move || pgbench(&script, 1))
            .await
            .expect("pgbench");
        row.placement.push(tps);
        forget_baseline_events(&db).await;
        relay(true).await;
    }
    row
}

pub fn print(row: &Row) {
    let (accepted, intake, placement) = (
        median(&row.accepted),
        median(&row.intake),
        median(&row.placement),
    );
    println!(
        "\nflash sale, one product: {BACKLOG} orders queued by {CLIENTS} clients, then decided by the reservation function; {ROUNDS} rounds alternating with pgbench placement on one hot product ({CLIENTS} clients), each after the pipeline drained"
    );
    println!(
        "  accepted orders/s from the backlog {accepted:.0} (±{:.0} %) | pgbench placement, hot product {placement:.0} tps (±{:.0} %) | {:.1}× (goal ≥ 5×)",
        relative_spread(&row.accepted) * 50.0,
        relative_spread(&row.placement) * 50.0,
        accepted / placement
    );
    println!(
        "  queued through the stack (202) {intake:.0} orders/s (±{:.0} %), {:.2}× the placement ceiling; {} requests not answered 202",
        relative_spread(&row.intake) * 50.0,
        intake / placement,
        row.failures
    );
}

pub fn write(row: &Row, durability: &str) {
    let figures = named(&[
        ("accepted_per_s", median(&row.accepted)),
        ("accepted_spread", relative_spread(&row.accepted)),
        ("queued_per_s", median(&row.intake)),
        ("queued_spread", relative_spread(&row.intake)),
        ("hot_placement_tps", median(&row.placement)),
        ("hot_placement_spread", relative_spread(&row.placement)),
        (
            "ratio_to_placement",
            median(&row.accepted) / median(&row.placement),
        ),
        ("failures", row.failures as f64),
    ]);
    crate::summary::write_row("flash-sale", &figures, durability);
}

//! `make bench`: requests per second and latency of the catalogue's product GET and an authorized
//! `GET /me` through the local gateway (HTTP, routing, authorizer, proxy event), next to the same
//! handlers invoked directly in this process against the same database, in the same run. The ratio is
//! the gateway's overhead; absolute numbers drift on a shared machine, the ratio much less.

// mimalloc, as in the functions' binaries (docs/adr/0025-mimalloc.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod analytics;
mod backends;
mod cold_start;
mod cpu;
mod flash_sale;
mod ingest;
#[path = "../common/local_stack.rs"]
mod local_stack;
mod metrics;
mod orders;
mod pipeline;
mod settlement;
mod summary;
mod websocket;

use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use orderly_functions::{Config, Invocation, State, lookup};
use serde_json::{Value, json};

const CONCURRENCY: usize = 16;
const REQUESTS: usize = 4_000;
/// Per-user limit is 1,000 a minute: spread `GET /me` over enough users to stay under it.
const USERS_PER_PHASE: usize = 16;

struct Measured {
    rps: f64,
    histogram: Histogram<u64>,
    failures: usize,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run `make bench`"))
}

/// The local stack's control API.
fn control() -> String {
    format!("http://127.0.0.1:{}", env("ORDERLY_CONTROL_PORT"))
}

/// The control API's summary of the stack (`GET /`).
async fn control_summary(client: &reqwest::Client) -> serde_json::Value {
    client
        .get(format!("{}/", control()))
        .send()
        .await
        .expect("the control API")
        .json()
        .await
        .expect("its summary")
}

async fn run<F, Fut>(label: &str, requests: usize, call: F) -> Measured
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let progress = ProgressBar::new(requests as u64).with_style(
        ProgressStyle::with_template("  {prefix:<34} {bar:30} {pos}/{len} {per_sec}")
            .expect("a valid template"),
    );
    progress.set_prefix(label.to_owned());
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..CONCURRENCY).map(|_| {
        let (call, next, progress) = (call.clone(), next.clone(), progress.clone());
        tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut failures = 0;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                let at = Instant::now();
                if !call(n).await {
                    failures += 1;
                }
                histogram.saturating_record(at.elapsed().as_micros() as u64);
                progress.inc(1);
            }
            (histogram, failures)
        })
    });
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let mut failures = 0;
    for worker in futures::future::join_all(workers).await {
        let (h, f) = worker.expect("a worker");
        histogram.add(h).expect("same bounds");
        failures += f;
    }
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    Measured {
        rps: requests as f64 / elapsed.as_secs_f64(),
        histogram,
        failures,
    }
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// One row: the measured path, its baseline from the same run, and their ratios.
fn report(name: &str, gateway: &Measured, direct: &Measured) {
    println!(
        "{name:<22} {:>9.0} {:>7.2} {:>7.2} | {:>9.0} {:>7.2} {:>7.2} | {:>6.2}x {:>6.2}x | {}",
        gateway.rps,
        ms(&gateway.histogram, 0.5),
        ms(&gateway.histogram, 0.99),
        direct.rps,
        ms(&direct.histogram, 0.5),
        ms(&direct.histogram, 0.99),
        direct.rps / gateway.rps,
        ms(&gateway.histogram, 0.5) / ms(&direct.histogram, 0.5).max(0.001),
        gateway.failures + direct.failures,
    );
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    ip: &str,
    body: Value,
) -> Value {
    let mut request = client.post(url).header("x-forwarded-for", ip).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the stack answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

/// Registers and signs in a user; returns (user id, access token).
async fn user(client: &reqwest::Client, api: &str, n: usize) -> (String, String) {
    let email = format!("bench-{n}-{}@example.test", uuid::Uuid::now_v7().simple());
    let ip = format!("198.18.{}.{}", n / 250, n % 250 + 1);
    let created = post(
        client,
        &format!("{api}/api/v1/users"),
        None,
        &ip,
        json!({"email": email, "password": "bench password 123", "name": "Bench"}),
    )
    .await;
    let login = post(
        client,
        &format!("{api}/api/v1/auth/login"),
        None,
        &ip,
        json!({"email": email, "password": "bench password 123"}),
    )
    .await;
    (
        created["id"].as_str().unwrap().to_owned(),
        login["access_token"].as_str().unwrap().to_owned(),
    )
}

/// The median of some measurements (the mean of the middle two when there is an even number).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) && middle > 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// (max − min) ÷ median of some measurements: how far the rounds of one figure disagree.
fn relative_spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    (max - min) / median(values)
}

/// Function state in this process, on the stack's database, for calling handlers directly (the
/// handlers measured this way need no AWS service).
async fn direct_state() -> &'static State {
    let database_url = env("DATABASE_URL");
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(database_url.clone()),
        "DATABASE_POOL_SIZE" => Some("32".into()),
        "JWT_SIGNING_KEY" => std::env::var(key).ok(),
        "ORDER_EVENTS_TOPIC_ARN" | "ARTIFACTS_BUCKET" | "WEBSOCKET_MANAGEMENT_ENDPOINT" => {
            Some("unused-by-these-handlers".into())
        }
        _ => None,
    })
    .expect("configuration");
    State::new(config).await.expect("state").leak()
}

fn proxy_event(
    method: &str,
    resource: &str,
    path: &str,
    path_parameters: Value,
    authorizer: Value,
) -> Value {
    json!({
        "resource": resource, "path": path, "httpMethod": method, "headers": {}, "multiValueHeaders": {},
        "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": path_parameters,
        "stageVariables": null, "body": null, "isBase64Encoded": false,
        "requestContext": {"requestId": "bench", "httpMethod": method, "stage": "prod", "resourcePath": resource,
                           "identity": {"sourceIp": "127.0.0.1"}, "authorizer": authorizer},
    })
}

#[tokio::main]
async fn main() {
    orderly_cloud::use_ring_for_tls();
    if std::env::args().any(|a| a == "--summary") {
        summary::write();
        return;
    }
    if std::env::args().any(|a| a == "--metrics-only") {
        // In memory: no stack, no database.
        tokio::task::spawn_blocking(metrics::bench)
            .await
            .expect("the metrics row");
        return;
    }
    let api = env("ORDERLY_BENCH_API");
    let client = reqwest::Client::new();
    if std::env::args().any(|a| a == "--orders-only") {
        orders(&client, &api).await;
        return;
    }
    if std::env::args().any(|a| a == "--websocket-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let token = admin_token(&client, &api, "198.18.255.3").await;
        let row = websocket::bench(&client, &api, &token).await;
        websocket::print(&row);
        websocket::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--analytics-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let token = admin_token(&client, &api, "198.18.255.5").await;
        let row = analytics::bench(&client, &api, &token).await;
        analytics::print(&row);
        analytics::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--ingest-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let token = admin_token(&client, &api, "198.18.255.4").await;
        let row = ingest::bench(&client, &api, &token).await;
        ingest::print(&row);
        ingest::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--flash-sale-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let token = admin_token(&client, &api, "198.18.255.6").await;
        let row = flash_sale::bench(&client, &api, &token).await;
        flash_sale::print(&row);
        flash_sale::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--cold-start-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let row = cold_start::bench(&client, &api).await;
        cold_start::print(&row);
        cold_start::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--pipeline-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let row = pipeline::bench(&client, &api).await;
        pipeline::print(&row);
        pipeline::write(&row, &durability);
        return;
    }
    if std::env::args().any(|a| a == "--settlement-only") {
        let durability = durability().await;
        println!("Postgres durability for this row: {durability}");
        let token = admin_token(&client, &api, "198.18.255.2").await;
        let row = settlement::bench(&client, &api, &token).await;
        settlement::print(&row);
        settlement::write(&row, &durability);
        return;
    }
    println!(
        "Orderly gateway benchmark: {REQUESTS} requests per measurement, {CONCURRENCY} concurrent, against {api}"
    );

    let state = direct_state().await;

    let admin_token = admin_token(&client, &api, "198.18.255.1").await;
    let merchant = post(
        &client,
        &format!("{api}/api/v1/admin/merchants"),
        Some(&admin_token),
        "198.18.255.1",
        json!({"name": format!("Bench {}", uuid::Uuid::now_v7())}),
    )
    .await;
    let product = post(
        &client,
        &format!("{api}/api/v1/products"),
        Some(&admin_token),
        "198.18.255.1",
        json!({"merchant_id": merchant["id"], "sku": format!("BENCH-{}", uuid::Uuid::now_v7().simple()), "name": "Bench lamp",
               "price_cents": 1000, "currency": "EUR", "stock": 10}),
    )
    .await;
    let product_id = product["id"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for n in 0..USERS_PER_PHASE * 2 {
        users.push(user(&client, &api, n).await);
    }
    let (gateway_users, direct_users) = users.split_at(USERS_PER_PHASE);
    println!("  warmed up: 1 product, {} users\n", users.len());

    let product_url = format!("{api}/api/v1/products/{product_id}");
    let c = client.clone();
    let gateway_product = run("GET /products/{id} via gateway", REQUESTS, move |_| {
        let (c, url) = (c.clone(), product_url.clone());
        async move { c.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let products_get = lookup("products-get").expect("registered");
    let event = proxy_event(
        "GET",
        "/api/v1/products/{id}",
        &format!("/api/v1/products/{product_id}"),
        json!({"id": product_id}),
        json!({}),
    );
    let direct_product = run("GET /products/{id} direct", REQUESTS, move |_| {
        let event = event.clone();
        async move {
            products_get(event, Invocation::default(), state)
                .await
                .is_ok_and(|r| r["statusCode"] == 200)
        }
    })
    .await;

    let tokens: Vec<String> = gateway_users.iter().map(|(_, t)| t.clone()).collect();
    let (c, me_url) = (client.clone(), format!("{api}/api/v1/me"));
    let gateway_me = run("GET /me via gateway (authorizer)", REQUESTS, move |n| {
        let (c, url, token) = (c.clone(), me_url.clone(), tokens[n % tokens.len()].clone());
        async move {
            c.get(&url)
                .bearer_auth(token)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    let users_me = lookup("users-me").expect("registered");
    let events: Vec<Value> = direct_users
        .iter()
        .map(|(id, _)| {
            proxy_event(
                "GET",
                "/api/v1/me",
                "/api/v1/me",
                Value::Null,
                json!({"user_id": id, "role": "customer", "api_key_id": ""}),
            )
        })
        .collect();
    let direct_me = run("GET /me direct", REQUESTS, move |n| {
        let event = events[n % events.len()].clone();
        async move {
            users_me(event, Invocation::default(), state)
                .await
                .is_ok_and(|r| r["statusCode"] == 200)
        }
    })
    .await;

    println!(
        "{:<22} {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7} | {:>7} {:>7} | failures",
        "", "gateway", "p50 ms", "p99 ms", "direct", "p50 ms", "p99 ms", "rps", "p50"
    );
    println!(
        "{:<22} {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7} | {:>7} {:>7} |",
        "", "req/s", "", "", "req/s", "", "", "ratio", "ratio"
    );
    report("GET /products/{id}", &gateway_product, &direct_product);
    report("GET /me (authorized)", &gateway_me, &direct_me);
    println!(
        "\nratio = direct ÷ gateway for req/s, gateway ÷ direct for p50: how much the gateway path costs."
    );

    // A failed login must not tell whether the email exists: both cases cost one argon2 verification.
    // Every attempt comes from its own address and emails rotate, so the login limits never interfere.
    let known: Vec<String> = {
        let mut emails = Vec::new();
        for n in 0..40 {
            let email = format!("timing-{n}-{}@example.test", uuid::Uuid::now_v7().simple());
            let ip = format!("198.19.0.{}", n + 1);
            post(
                &client,
                &format!("{api}/api/v1/users"),
                None,
                &ip,
                json!({"email": email, "password": "the real password", "name": "T"}),
            )
            .await;
            emails.push(email);
        }
        emails
    };
    let attempt = |c: reqwest::Client, url: String, email: String, n: usize| async move {
        let ip = format!("198.19.{}.{}", 1 + n / 250, n % 250 + 1);
        let body = json!({"email": email, "password": "a wrong password"});
        c.post(&url)
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status() == 401)
    };
    let (c, login_url) = (client.clone(), format!("{api}/api/v1/auth/login"));
    let known_failures = run("login, known email, wrong password", 200, move |n| {
        attempt(
            c.clone(),
            login_url.clone(),
            known[n % known.len()].clone(),
            n,
        )
    })
    .await;
    let (c, login_url) = (client.clone(), format!("{api}/api/v1/auth/login"));
    let unknown_failures = run("login, unknown email", 200, move |n| {
        attempt(
            c.clone(),
            login_url.clone(),
            format!("nobody-{n}-{}@example.test", uuid::Uuid::now_v7().simple()),
            n + 200,
        )
    })
    .await;
    println!(
        "\nfailed login p50/p99 ms: known email {:.1}/{:.1}, unknown email {:.1}/{:.1}; p50 ratio {:.2} (1.00 = indistinguishable); failures {}",
        ms(&known_failures.histogram, 0.5),
        ms(&known_failures.histogram, 0.99),
        ms(&unknown_failures.histogram, 0.5),
        ms(&unknown_failures.histogram, 0.99),
        ms(&known_failures.histogram, 0.5) / ms(&unknown_failures.histogram, 0.5).max(0.001),
        known_failures.failures + unknown_failures.failures,
    );

    orders(&client, &api).await;
}

/// Placement through the stack next to pgbench running the store's placement, in this run's mode.
async fn orders(client: &reqwest::Client, api: &str) {
    let sweeper = std::env::var("OUTBOX_PUBLISH").is_ok_and(|m| m == "sweeper");
    let mode = if sweeper {
        "events left to the outbox sweeper (no SNS publish in the request)"
    } else {
        "events published by the outbox relay as they commit (PublishBatch to the emulator)"
    };
    let durability = durability().await;
    println!("Postgres durability for this row: {durability}");
    let scenarios = orders::bench(client, api).await;
    orders::print(&scenarios, mode);
    orders::write(
        &scenarios,
        &durability,
        if sweeper { "orders-sweeper" } else { "orders" },
    );
}

/// The server's durability settings, as the figures must be read with them.
/// The first admin's access token, signed in from `ip` (each row its own address: logins are limited).
async fn admin_token(client: &reqwest::Client, api: &str, ip: &str) -> String {
    let admin = post(
        client,
        &format!("{api}/api/v1/auth/login"),
        None,
        ip,
        json!({"email": env("ORDERLY_ADMIN_EMAIL"), "password": env("ORDERLY_ADMIN_PASSWORD")}),
    )
    .await;
    admin["access_token"]
        .as_str()
        .expect("an admin token")
        .to_owned()
}

async fn durability() -> String {
    let (db, connection) = tokio_postgres::connect(&env("DATABASE_URL"), tokio_postgres::NoTls)
        .await
        .expect("the database");
    tokio::spawn(connection);
    local_stack::durability(&db).await
}

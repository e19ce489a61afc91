//! Cold start (`--cold-start-only`): spawn to first response of the real `bootstrap-api` as two REST
//! functions next to a hello-world `lambda_runtime` binary (`infra/hello-lambda`), both as deployed: built
//! with the release profile (`make bench` builds them into `target/release` and names the directory in
//! `ORDERLY_COLD_START_DIR`; without it, this binary's own directory). Each is started with its function's
//! own variables against a one-invocation Runtime API in this process:
//! - `CorsPreflightFunction` (`OPTIONS`, a browser's preflight): no secret, no database, an answer as small
//!   as hello-world's; what our binary and its state cost over the smallest runtime (the goal, ≤ 1.2×);
//! - `OpenApiFunction` (`GET /openapi.json`): no I/O either, but a 100 KB answer to copy and escape;
//! - `ProductsGetFunction` (`GET /api/v1/products/{id}`): its init reads the database secret from the
//!   emulator, its first request opens a connection and reads a product; I/O no binary can avoid.
//!
//! Rounds alternate the three after a warm-up (the page cache holds the binaries, as a Lambda host's
//! would); medians and spread are printed, and the stripped sizes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::summary::named;
use crate::{admin_token, median, post as api_post, proxy_event};

const WARM_UP: usize = 2;
const ROUNDS: usize = 15;

/// One binary-and-function's rounds, ms: spawn to first response, and spawn to first `next` (init).
#[derive(Default)]
struct Series {
    first_response: Vec<f64>,
    init: Vec<f64>,
}

pub struct Row {
    hello: Series,
    /// No I/O, a small answer: the binary's own cost.
    preflight: Series,
    /// No I/O, a 100 KB answer.
    openapi: Series,
    /// A database read behind a secret.
    product: Series,
    function_bytes: u64,
    hello_bytes: u64,
    /// Each deployed artifact's size (opt-level s, fat LTO, stripped), for those built in `target/release`.
    release_bytes: Vec<(&'static str, u64)>,
}

/// The Lambda artifacts (`functions/src/bin/`), each built as its functions' `bootstrap`.
const ARTIFACTS: [&str; 4] = ["api", "events", "docs", "migrate"];

/// The one-invocation Runtime API a measured process talks to.
struct OneInvocation {
    event: String,
    next: Mutex<Option<oneshot::Sender<Instant>>>,
    done: Mutex<Option<oneshot::Sender<Result<Instant, String>>>>,
}

impl OneInvocation {
    fn finish(&self, outcome: Result<Instant, String>) -> axum::http::StatusCode {
        if let Some(done) = self.done.lock().unwrap().take() {
            let _ = done.send(outcome);
        }
        axum::http::StatusCode::ACCEPTED
    }
}

async fn next(State(api): State<Arc<OneInvocation>>) -> impl IntoResponse {
    let first = api.next.lock().unwrap().take();
    match first {
        Some(next) => {
            let _ = next.send(Instant::now());
        }
        // One invocation per process: a second `next` waits until the process is killed.
        None => std::future::pending::<()>().await,
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 10_000;
    (
        [
            ("lambda-runtime-aws-request-id", "cold-start".to_owned()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:cold-start".to_owned(),
            ),
        ],
        api.event.clone(),
    )
}

async fn response(State(api): State<Arc<OneInvocation>>, body: Bytes) -> impl IntoResponse {
    // Stamped when the whole response has arrived, before this side reads it: parsing a large answer
    // (the 180 KB OpenAPI document) is the benchmark's cost, not the function's.
    let arrived = Instant::now();
    let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.finish(
        if answer["statusCode"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s))
        {
            Ok(arrived)
        } else {
            Err(format!("answered {answer}"))
        },
    )
}

async fn error(State(api): State<Arc<OneInvocation>>, body: Bytes) -> impl IntoResponse {
    api.finish(Err(String::from_utf8_lossy(&body).into_owned()))
}

/// Times, in ms since spawn: (first `next`, the response). Panics when the runtime answers an error.
async fn one_cold_start(binary: &Path, variables: &Value, event: &Value) -> (f64, f64) {
    let (next_tx, next_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let api = Arc::new(OneInvocation {
        event: event.to_string(),
        next: Mutex::new(Some(next_tx)),
        done: Mutex::new(Some(done_tx)),
    });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut command = tokio::process::Command::new(binary);
    command.env_clear().kill_on_drop(true);
    for (name, value) in variables.as_object().expect("variables") {
        command.env(name, value.as_str().unwrap_or_default());
    }
    let started = Instant::now();
    let mut child = command
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let done = tokio::time::timeout(Duration::from_secs(30), done_rx)
        .await
        .expect("a first response within 30 s")
        .expect("an answer")
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    let next = next_rx.await.expect("a first next");
    let _ = child.kill().await;
    server.abort();
    (
        (next - started).as_secs_f64() * 1000.0,
        (done - started).as_secs_f64() * 1000.0,
    )
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Where the measured binaries are: `ORDERLY_COLD_START_DIR`, else beside this benchmark.
fn measured(name: &str) -> PathBuf {
    match std::env::var_os("ORDERLY_COLD_START_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => std::env::current_exe()
            .expect("this binary")
            .with_file_name(name),
    }
}

async fn variables(client: &reqwest::Client, function: &str) -> Value {
    let control = format!(
        "http://127.0.0.1:{}",
        std::env::var("ORDERLY_CONTROL_PORT").unwrap_or_else(|_| "3302".into())
    );
    client
        .get(format!("{control}/functions/{function}/variables"))
        .send()
        .await
        .expect("the control API")
        .json()
        .await
        .expect("the function's variables")
}

pub async fn bench(client: &reqwest::Client, api: &str) -> Row {
    let ip = "198.18.254.1";
    let token = admin_token(client, api, ip).await;
    let merchant = api_post(
        client,
        &format!("{api}/api/v1/admin/merchants"),
        Some(&token),
        ip,
        json!({"name": format!("Cold start {}", uuid::Uuid::now_v7())}),
    )
    .await;
    let product = api_post(
        client,
        &format!("{api}/api/v1/products"),
        Some(&token),
        ip,
        json!({"merchant_id": merchant["id"], "sku": format!("COLD-{}", uuid::Uuid::now_v7().simple()),
               "name": "Cold lamp", "price_cents": 1000, "currency": "EUR", "stock": 1}),
    )
    .await;
    let id = product["id"].as_str().expect("a product id");
    let product_event = proxy_event(
        "GET",
        "/api/v1/products/{id}",
        &format!("/api/v1/products/{id}"),
        json!({"id": id}),
        Value::Null,
    );
    let openapi_event = proxy_event(
        "GET",
        "/openapi.json",
        "/openapi.json",
        Value::Null,
        Value::Null,
    );
    let mut preflight_event = proxy_event(
        "OPTIONS",
        "/api/v1/products/{id}",
        &format!("/api/v1/products/{id}"),
        json!({"id": id}),
        Value::Null,
    );
    preflight_event["headers"] = json!({"origin": "https://shop.example.com",
        "access-control-request-method": "PUT", "access-control-request-headers": "authorization,content-type"});
    let (mut preflight_variables, openapi_variables, product_variables) = (
        variables(client, "CorsPreflightFunction").await,
        variables(client, "OpenApiFunction").await,
        variables(client, "ProductsGetFunction").await,
    );
    // A shop's origin, allowed as a deployment allows it, so the preflight answers with its headers.
    preflight_variables["CORS_ALLOWED_ORIGINS"] = json!("https://shop.example.com");
    let (bootstrap, hello) = (measured("bootstrap-api"), measured("orderly-hello-lambda"));
    println!(
        "Cold start: {} as CorsPreflightFunction, OpenApiFunction and ProductsGetFunction next to {}, {WARM_UP} warm-up + {ROUNDS} rounds each, alternating",
        bootstrap.display(),
        hello.display()
    );
    let mut row = Row {
        hello: Series::default(),
        preflight: Series::default(),
        openapi: Series::default(),
        product: Series::default(),
        function_bytes: size(&bootstrap).expect("the bootstrap binary"),
        hello_bytes: size(&hello).expect("the hello-world binary"),
        release_bytes: ARTIFACTS
            .iter()
            .filter_map(|artifact| {
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("../../target/release/bootstrap-{artifact}"));
                size(&path).map(|bytes| (*artifact, bytes))
            })
            .collect(),
    };
    for round in 0..WARM_UP + ROUNDS {
        let measured = [
            (
                &mut row.hello,
                one_cold_start(&hello, &openapi_variables, &openapi_event).await,
            ),
            (
                &mut row.preflight,
                one_cold_start(&bootstrap, &preflight_variables, &preflight_event).await,
            ),
            (
                &mut row.openapi,
                one_cold_start(&bootstrap, &openapi_variables, &openapi_event).await,
            ),
            (
                &mut row.product,
                one_cold_start(&bootstrap, &product_variables, &product_event).await,
            ),
        ];
        if round >= WARM_UP {
            for (series, (init, first_response)) in measured {
                series.init.push(init);
                series.first_response.push(first_response);
            }
        }
    }
    row
}

fn spread(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    (min, max)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn describe(name: &str, series: &Series) -> String {
    let (min, max) = spread(&series.first_response);
    format!(
        "{name} {:.1} (min {min:.1}, max {max:.1}; init {:.1})",
        median(&series.first_response),
        median(&series.init)
    )
}

fn ratio(series: &Series, baseline: &Series) -> f64 {
    median(&series.first_response) / median(&baseline.first_response)
}

pub fn print(row: &Row) {
    println!(
        "  first response, ms (median): {} | {} | {} | {}",
        describe("hello-world", &row.hello),
        describe("bootstrap-api as CorsPreflightFunction", &row.preflight),
        describe("as OpenApiFunction", &row.openapi),
        describe("as ProductsGetFunction", &row.product),
    );
    println!(
        "  ratio to hello-world: CorsPreflightFunction {:.2}x (goal <= 1.2x), OpenApiFunction {:.2}x (a 100 KB answer), ProductsGetFunction {:.2}x (a secret read and a database connection)",
        ratio(&row.preflight, &row.hello),
        ratio(&row.openapi, &row.hello),
        ratio(&row.product, &row.hello),
    );
    println!(
        "  measured binaries' size: bootstrap-api {:.1} MB | hello-world {:.1} MB",
        mb(row.function_bytes),
        mb(row.hello_bytes),
    );
    if row.release_bytes.is_empty() {
        println!(
            "  release artifacts not built (cargo build --release -p orderly-functions --bins): no size to hold to the goal"
        );
    }
    for (artifact, bytes) in &row.release_bytes {
        println!(
            "  release artifact bootstrap-{artifact}: {:.1} MB stripped (goal <= 9 MB)",
            mb(*bytes)
        );
    }
}

pub fn write(row: &Row, durability: &str) {
    let mut figures = named(&[
        (
            "hello_first_response_ms_p50",
            median(&row.hello.first_response),
        ),
        (
            "preflight_first_response_ms_p50",
            median(&row.preflight.first_response),
        ),
        ("preflight_init_ms_p50", median(&row.preflight.init)),
        (
            "openapi_first_response_ms_p50",
            median(&row.openapi.first_response),
        ),
        ("openapi_init_ms_p50", median(&row.openapi.init)),
        (
            "product_first_response_ms_p50",
            median(&row.product.first_response),
        ),
        ("product_init_ms_p50", median(&row.product.init)),
        ("preflight_ratio", ratio(&row.preflight, &row.hello)),
        ("openapi_ratio", ratio(&row.openapi, &row.hello)),
        ("product_ratio", ratio(&row.product, &row.hello)),
        ("bootstrap_mb", mb(row.function_bytes)),
        ("hello_mb", mb(row.hello_bytes)),
    ]);
    for (artifact, bytes) in &row.release_bytes {
        figures.push((format!("{artifact}_release_mb"), mb(*bytes)));
    }
    crate::summary::write_row("cold_start", &figures, durability);
}

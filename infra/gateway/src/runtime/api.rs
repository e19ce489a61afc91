//! The Lambda Runtime API one execution environment polls (`AWS_LAMBDA_RUNTIME_API`): `next` hands it
//! the invocation its lease sent, `response` and `error` answer that invocation, `init/error` records why
//! the environment could not start. Each environment has its own listener, so the gateway always knows
//! which process holds which invocation (and can kill exactly that one).

use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

use super::Failure;

/// Where an invocation's outcome goes: the lease that waits for it.
pub type Reply = oneshot::Sender<Result<Value, Failure>>;

/// One invocation on its way to the environment.
pub struct Job {
    pub request_id: String,
    pub event: Value,
    /// Lambda's `Lambda-Runtime-Deadline-Ms`: milliseconds since the epoch.
    pub deadline_ms: u128,
    pub reply: Reply,
}

pub struct Shared {
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// The invocation the environment took with its last `next`, answered by `response` or `error`.
    current: Mutex<Option<(String, Reply)>>,
    init_error: Mutex<Option<Failure>>,
    /// Signalled on every `next`: the first one means the environment finished its init.
    pub ready: Notify,
    function_arn: String,
}

impl Shared {
    pub fn new(jobs: mpsc::Receiver<Job>, function_arn: String) -> Self {
        Self {
            jobs: tokio::sync::Mutex::new(jobs),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            ready: Notify::new(),
            function_arn,
        }
    }

    /// What the environment reported with `init/error`, if it did.
    pub fn init_error(&self) -> Option<Failure> {
        self.init_error.lock().expect("init error lock").clone()
    }

    fn answer(&self, request_id: &str, outcome: Result<Value, Failure>) -> Response {
        let mut current = self.current.lock().expect("current lock");
        match current.take() {
            Some((id, reply)) if id == request_id => {
                // The lease may have given up (timeout, kill): then nobody waits for the answer.
                let _ = reply.send(outcome);
                (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
            }
            other => {
                *current = other;
                runtime_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestID",
                    "no such invocation in progress",
                )
            }
        }
    }
}

pub fn router(shared: std::sync::Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .fallback(|| async {
            runtime_error(StatusCode::NOT_FOUND, "NotFound", "not a Runtime API route")
        })
        .with_state(shared)
}

async fn next(State(shared): State<std::sync::Arc<Shared>>) -> Response {
    shared.ready.notify_one();
    let Some(job) = shared.jobs.lock().await.recv().await else {
        return runtime_error(
            StatusCode::GONE,
            "EnvironmentStopped",
            "the environment is being stopped",
        );
    };
    let body = job.event.to_string();
    let headers = [
        ("lambda-runtime-aws-request-id", job.request_id.clone()),
        ("lambda-runtime-deadline-ms", job.deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            shared.function_arn.clone(),
        ),
        (
            "lambda-runtime-trace-id",
            format!("Root=1-{}", job.request_id.replace('-', "")),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    *shared.current.lock().expect("current lock") = Some((job.request_id, job.reply));
    (StatusCode::OK, headers, body).into_response()
}

async fn response(
    State(shared): State<std::sync::Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    // Our handlers answer JSON; anything else is passed on as a string, as Lambda's Invoke does bytes.
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    shared.answer(&request_id, Ok(value))
}

async fn error(
    State(shared): State<std::sync::Arc<Shared>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message) = diagnostic(&headers, &body);
    shared.answer(
        &request_id,
        Err(Failure::Function {
            error_type,
            message,
        }),
    )
}

async fn init_error(
    State(shared): State<std::sync::Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message) = diagnostic(&headers, &body);
    *shared.init_error.lock().expect("init error lock") = Some(Failure::Init {
        error_type,
        message,
    });
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// The error a runtime reports, as type and message: the body's `errorType`/`errorMessage`, the header's
/// type when the body has none (as Lambda reads them).
fn diagnostic(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok());
    (
        parsed["errorType"]
            .as_str()
            .or(header_type)
            .unwrap_or("Unhandled")
            .to_owned(),
        parsed["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

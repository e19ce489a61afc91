//! The local stack's own control API on 127.0.0.1:$ORDERLY_CONTROL_PORT, for people and tests: what runs,
//! what was invoked with which outcome, firing a schedule now, switchable faults on the management API, and
//! killing a function's next invocation mid-run, slowing its invocations' starts, throttling a function
//! (reserved concurrency 0), switching a function's SQS event source off and on, killing execution
//! environments now, leaving handled SQS messages to be redelivered, one WebSocket connection's idle and
//! duration clocks.
//! It has no counterpart in AWS and is never deployed.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde_json::json;

use orderly_domain::access::is_admin_only;

use crate::Gateway;
use crate::schedule;
use crate::websocket::{Limits, PushFault};

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(summary))
        .route("/invocations", get(invocations))
        .route("/schedules/{function}/fire", post(fire))
        .route("/functions/{function}/invoke", post(invoke))
        .route("/faults/functions/{function}/kill", post(arm_kill))
        .route("/functions/{function}/concurrency", put(set_concurrency))
        .route("/functions/{function}/event-source", put(set_event_source))
        .route("/environments", get(environments))
        .route("/functions/{function}/variables", get(variables))
        .route("/faults/environments/kill", post(kill_environments))
        .route("/faults/functions/{function}/slow-start", post(slow_start))
        .route(
            "/faults/post-to-connection",
            get(push_fault)
                .post(set_push_fault)
                .delete(clear_push_fault),
        )
        .route(
            "/faults/sqs/redelivery",
            post(set_redelivery_fault).delete(clear_redelivery_fault),
        )
        .route("/connections/{id}/limits", put(set_connection_limits))
        .with_state(gateway)
}

/// Shortens (or lengthens) one WebSocket connection's idle timeout and duration limit, so a test can see
/// them act in seconds without changing them for every other connection of the stack.
async fn set_connection_limits(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    Json(limits): Json<Limits>,
) -> StatusCode {
    if gateway.sockets.set_limits(&id, limits) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn summary(State(gateway): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    let t = &gateway.template;
    let resources: HashMap<&String, &String> = gateway
        .resolver
        .physical
        .iter()
        .map(|(id, p)| (id, &p.reference))
        .collect();
    Json(json!({
        "functions": t.functions.values().map(|f| json!({"name": f.logical_id, "handler": f.handler})).collect::<Vec<_>>(),
        "rest_routes": t.rest_routes.iter().map(|r| json!({
            "method": r.method,
            "path": r.path,
            "function": r.function,
            "authorizer": r.authorizer,
            // What the authorizer's policy keeps customers and API keys off.
            "admin_only": r.authorizer.is_some() && is_admin_only(&r.method, &r.path),
        })).collect::<Vec<_>>(),
        "websocket_routes": t.websocket.as_ref().map(|w| w.routes.clone()),
        // Every function runs in this process: its memory bounds any one function's.
        "process": process_memory(),
        "sqs_mappings": t.sqs_mappings.iter().map(|m| format!("{} → {}", m.queue, m.function)).collect::<Vec<_>>(),
        "schedules": t.schedules.iter().map(|s| format!("{} {}", s.function, s.expression)).collect::<Vec<_>>(),
        "resources": resources,
    }))
}

async fn invocations(
    State(gateway): State<Arc<Gateway>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<serde_json::Value> {
    Json(json!(
        gateway
            .invoker
            .history(query.get("function").map(String::as_str))
    ))
}

async fn fire(State(gateway): State<Arc<Gateway>>, Path(function): Path<String>) -> Response {
    let Some(schedule) = gateway
        .template
        .schedules
        .iter()
        .find(|s| s.function == function)
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("{function} has no Schedule event")})),
        )
            .into_response();
    };
    match schedule::fire(&gateway, schedule).await {
        Ok(result) => Json(json!({"result": result})).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"message": e.to_string()})),
        )
            .into_response(),
    }
}

async fn push_fault(State(gateway): State<Arc<Gateway>>) -> Json<Option<PushFault>> {
    Json(gateway.push_fault.lock().expect("fault lock").clone())
}

/// Invokes a function directly with any event, as `aws lambda invoke` would.
async fn invoke(
    State(gateway): State<Arc<Gateway>>,
    Path(function): Path<String>,
    Json(event): Json<serde_json::Value>,
) -> Response {
    let request_id = crate::invoke::new_request_id();
    let result = gateway
        .invoker
        .invoke_as_service(&function, event, &request_id)
        .await;
    gateway.invoker.record(
        &function,
        &request_id,
        crate::invoke::outcome_name(&result),
        None,
    );
    match result {
        Ok(payload) => Json(json!({"payload": payload})).into_response(),
        Err(crate::invoke::InvokeError::UnknownFunction(_)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("no function {function}")})),
        )
            .into_response(),
        Err(e) => Json(json!({"error": e.to_string()})).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Kill {
    after_ms: u64,
}

/// Kills the function's next invocation `after_ms` after it starts (its messages are redelivered, as
/// after a crash in Lambda).
async fn arm_kill(
    State(gateway): State<Arc<Gateway>>,
    Path(function): Path<String>,
    Json(kill): Json<Kill>,
) -> StatusCode {
    let after = std::time::Duration::from_millis(kill.after_ms);
    if gateway.invoker.arm_kill(&function, after) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

#[derive(serde::Deserialize)]
struct RedeliveryFault {
    /// Share of handled messages left undeleted, 0.0 to 1.0.
    rate: f64,
    for_ms: u64,
}

/// Leaves handled messages undeleted at `rate` for `for_ms`: each comes back after its visibility timeout
/// and is handled again (the same message id), as SQS may always do.
async fn set_redelivery_fault(
    State(gateway): State<Arc<Gateway>>,
    Json(fault): Json<RedeliveryFault>,
) -> Response {
    if !(0.0..=1.0).contains(&fault.rate) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "rate is a share, 0.0 to 1.0"})),
        )
            .into_response();
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(fault.for_ms);
    *gateway.redelivery_fault.lock().expect("fault lock") = Some((fault.rate, until));
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_redelivery_fault(State(gateway): State<Arc<Gateway>>) -> StatusCode {
    *gateway.redelivery_fault.lock().expect("fault lock") = None;
    StatusCode::NO_CONTENT
}

/// Where functions run, and in process mode how many environments each has alive.
async fn environments(State(gateway): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    Json(match gateway.invoker.environments() {
        Some(environments) => json!({"runtime": "process", "alive": environments.alive()}),
        None => json!({"runtime": "in-process", "alive": {}}),
    })
}

/// The environment variables an execution environment of the function gets (but its Runtime API address
/// and log stream). Secret values are not among them: the template passes secrets' ARNs.
async fn variables(State(gateway): State<Arc<Gateway>>, Path(function): Path<String>) -> Response {
    match gateway.function_variables.get(&function) {
        Some(variables) => Json(variables).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct KillEnvironments {
    /// Every function's when absent.
    function: Option<String>,
}

/// Kills execution environments now, as a failing host would (chaos runs call it at random moments).
async fn kill_environments(
    State(gateway): State<Arc<Gateway>>,
    Json(kill): Json<KillEnvironments>,
) -> Response {
    if let Some(function) = &kill.function
        && !gateway.invoker.functions().contains_key(function)
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let ended = gateway.invoker.kill_environments(kill.function.as_deref());
    Json(json!({"invocations_ended": ended})).into_response()
}

#[derive(serde::Deserialize)]
struct Concurrency {
    reserved: Option<u32>,
}

/// Lambda's `PutFunctionConcurrency` / `DeleteFunctionConcurrency`, as far as the local gateway keeps
/// it: `{"reserved": 0}` throttles the function (and ends its invocations in progress), `{"reserved":
/// null}` lifts that. Other values are not enforced locally and are refused.
async fn set_concurrency(
    State(gateway): State<Arc<Gateway>>,
    Path(function): Path<String>,
    Json(concurrency): Json<Concurrency>,
) -> Response {
    let throttle = match concurrency.reserved {
        Some(0) => true,
        None => false,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "only 0 (throttle) or null (lift it) are enforced locally"})),
            )
                .into_response();
        }
    };
    if gateway.invoker.throttle(&function, throttle) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[derive(serde::Deserialize)]
struct EventSource {
    enabled: bool,
}

/// Lambda's `UpdateEventSourceMapping` with `Enabled`: `{"enabled": false}` stops the function's SQS
/// pollers from receiving (a batch already received is still handled), so messages wait in the queue;
/// `{"enabled": true}` resumes. A benchmark measuring the producers alone switches the consumers off.
async fn set_event_source(
    State(gateway): State<Arc<Gateway>>,
    Path(function): Path<String>,
    Json(source): Json<EventSource>,
) -> StatusCode {
    if !gateway
        .template
        .sqs_mappings
        .iter()
        .any(|m| m.function == function)
    {
        return StatusCode::NOT_FOUND;
    }
    gateway.event_sources_off.send_modify(|off| {
        if source.enabled {
            off.remove(&function);
        } else {
            off.insert(function);
        }
    });
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct SlowStart {
    delay_ms: u64,
    for_ms: u64,
}

/// Every invocation of the function that starts in the next `for_ms` waits `delay_ms` before its handler
/// runs: deliveries that arrive close together are then in flight together, as after a cold start.
async fn slow_start(
    State(gateway): State<Arc<Gateway>>,
    Path(function): Path<String>,
    Json(slow): Json<SlowStart>,
) -> StatusCode {
    let (delay, window) = (
        std::time::Duration::from_millis(slow.delay_ms),
        std::time::Duration::from_millis(slow.for_ms),
    );
    if gateway.invoker.slow_start(&function, delay, window) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn set_push_fault(
    State(gateway): State<Arc<Gateway>>,
    Json(fault): Json<PushFault>,
) -> StatusCode {
    *gateway.push_fault.lock().expect("fault lock") = Some(fault);
    StatusCode::NO_CONTENT
}

async fn clear_push_fault(State(gateway): State<Arc<Gateway>>) -> StatusCode {
    *gateway.push_fault.lock().expect("fault lock") = None;
    StatusCode::NO_CONTENT
}

/// The gateway's resident memory now and at its peak (Linux's `VmRSS` and `VmHWM`), in bytes.
fn process_memory() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    json!({"rss_bytes": field("VmRSS:"), "peak_rss_bytes": field("VmHWM:")})
}

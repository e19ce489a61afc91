//! The simulated payment provider the local stack runs on 127.0.0.1:$ORDERLY_PROVIDER_PORT: the one
//! external system, as an HTTP service. Charges are idempotent per `Idempotency-Key` (a repeated key
//! replays the first answer and never charges again). Latency, decline rate and an outage switch at run
//! time through `PUT /_control`. Like real providers' test modes, some charges always behave one way: an
//! amount ending in …666 (minor units) is declined, one ending in …503 always meets an outage (503), and
//! an amount ending in …777 takes `SLOW_CHARGE` to answer (so a test can hold one charge in flight while
//! something else happens), a charge in XTS (ISO 4217's code for testing) stays pending, as an
//! asynchronous payment method would until it settles (`POST /_control/charges/settle` settles it). `GET /v1/charges/by-key/{key}` tells
//! where a charge stands, as providers' look-ups do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How long a charge of an amount ending in …777 takes.
const SLOW_CHARGE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    pub latency_ms: u64,
    /// Share of charges declined at random, 0.0 to 1.0.
    pub decline_rate: f64,
    /// Every call answers 503 while true.
    pub outage: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Charge {
    id: String,
    idempotency_key: String,
    reference: String,
    amount_cents: i64,
    currency: String,
    status: &'static str,
    reason: Option<&'static str>,
    /// How often the key came back after the first charge (each got the stored answer).
    replays: u32,
    refunded: bool,
}

#[derive(Default)]
pub struct Simulator {
    settings: Mutex<Settings>,
    charges: Mutex<HashMap<String, Charge>>,
}

pub fn router(simulator: Arc<Simulator>) -> Router {
    Router::new()
        .route("/v1/charges", post(charge))
        .route("/v1/charges/by-key/{key}", get(charge_by_key))
        .route("/v1/refunds", post(refund))
        .route("/_control", get(settings).put(set_settings))
        .route("/_control/charges", get(charges))
        .route("/_control/charges/settle", post(settle))
        .with_state(simulator)
}

#[derive(Deserialize)]
struct ChargeRequest {
    amount_cents: i64,
    currency: String,
    reference: String,
}

fn answer(charge: &Charge) -> Response {
    let (status, body) = answer_parts(charge);
    (status, Json(body)).into_response()
}

fn answer_parts(charge: &Charge) -> (StatusCode, Value) {
    match charge.status {
        "captured" => (
            StatusCode::CREATED,
            json!({"id": charge.id, "status": "captured"}),
        ),
        "pending" => (
            StatusCode::ACCEPTED,
            json!({"id": charge.id, "status": "pending"}),
        ),
        _ => (
            StatusCode::PAYMENT_REQUIRED,
            json!({"id": charge.id, "status": "declined", "reason": charge.reason}),
        ),
    }
}

async fn before_each_call(simulator: &Simulator) -> Option<Response> {
    let settings = simulator.settings.lock().expect("settings lock").clone();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    settings.outage.then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "provider outage (simulated)"})),
        )
            .into_response()
    })
}

async fn charge(
    State(simulator): State<Arc<Simulator>>,
    headers: HeaderMap,
    Json(request): Json<ChargeRequest>,
) -> Response {
    if let Some(outage) = before_each_call(&simulator).await {
        return outage;
    }
    if request.amount_cents % 1000 == 777 {
        tokio::time::sleep(SLOW_CHARGE).await;
    }
    if request.amount_cents % 1000 == 503 {
        let body = json!({"error": "this amount always meets an outage (test trigger)"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .map(str::to_owned)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Idempotency-Key is required"})),
        )
            .into_response();
    };
    let mut charges = simulator.charges.lock().expect("charges lock");
    if let Some(existing) = charges.get_mut(&key) {
        existing.replays += 1;
        return answer(existing);
    }
    let decline_rate = simulator
        .settings
        .lock()
        .expect("settings lock")
        .decline_rate;
    let (status, reason) = match request.amount_cents % 1000 {
        _ if request.currency == "XTS" => ("pending", None),
        666 => ("declined", Some("insufficient_funds")),
        _ if rand::random::<f64>() < decline_rate => ("declined", Some("card_declined")),
        _ => ("captured", None),
    };
    let charge = Charge {
        id: format!("ch_{}", uuid::Uuid::now_v7().simple()),
        idempotency_key: key.clone(),
        reference: request.reference,
        amount_cents: request.amount_cents,
        currency: request.currency,
        status,
        reason,
        replays: 0,
        refunded: false,
    };
    let response = answer(&charge);
    charges.insert(key, charge);
    response
}

async fn charge_by_key(
    State(simulator): State<Arc<Simulator>>,
    Path(key): Path<String>,
) -> Response {
    if let Some(outage) = before_each_call(&simulator).await {
        return outage;
    }
    let charges = simulator.charges.lock().expect("charges lock");
    match charges.get(&key) {
        // A look-up answers 200 whatever the charge's state; the body says which.
        Some(charge) => {
            let (_, body) = answer_parts(charge);
            (StatusCode::OK, Json(body)).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no charge with this idempotency key"})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct SettleRequest {
    /// The order id the charge was made for.
    reference: String,
    /// `captured` or `declined`.
    outcome: String,
}

/// Settles a pending charge, as the payment method eventually does.
async fn settle(
    State(simulator): State<Arc<Simulator>>,
    Json(request): Json<SettleRequest>,
) -> Response {
    let (status, reason) = match request.outcome.as_str() {
        "captured" => ("captured", None),
        "declined" => ("declined", Some("payment_method_failed")),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "outcome is captured or declined"})),
            )
                .into_response();
        }
    };
    let mut charges = simulator.charges.lock().expect("charges lock");
    match charges
        .values_mut()
        .find(|c| c.reference == request.reference && c.status == "pending")
    {
        Some(charge) => {
            charge.status = status;
            charge.reason = reason;
            (StatusCode::OK, Json(json!(charge))).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no pending charge for this reference"})),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct RefundRequest {
    charge_id: String,
}

async fn refund(
    State(simulator): State<Arc<Simulator>>,
    Json(request): Json<RefundRequest>,
) -> Response {
    if let Some(outage) = before_each_call(&simulator).await {
        return outage;
    }
    let mut charges = simulator.charges.lock().expect("charges lock");
    match charges
        .values_mut()
        .find(|c| c.id == request.charge_id && c.status == "captured")
    {
        Some(charge) => {
            charge.refunded = true;
            (
                StatusCode::OK,
                Json(json!({"id": format!("re_{}", &charge.id[3..]), "status": "refunded"})),
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such captured charge"})),
        )
            .into_response(),
    }
}

async fn settings(State(simulator): State<Arc<Simulator>>) -> Json<Settings> {
    Json(simulator.settings.lock().expect("settings lock").clone())
}

async fn set_settings(
    State(simulator): State<Arc<Simulator>>,
    Json(patch): Json<Value>,
) -> Json<Settings> {
    let mut settings = simulator.settings.lock().expect("settings lock");
    if let Some(latency) = patch.get("latency_ms").and_then(Value::as_u64) {
        settings.latency_ms = latency;
    }
    if let Some(rate) = patch.get("decline_rate").and_then(Value::as_f64) {
        settings.decline_rate = rate.clamp(0.0, 1.0);
    }
    if let Some(outage) = patch.get("outage").and_then(Value::as_bool) {
        settings.outage = outage;
    }
    Json(settings.clone())
}

/// Charges, optionally for one reference (order id).
async fn charges(
    State(simulator): State<Arc<Simulator>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Vec<Charge>> {
    let charges = simulator.charges.lock().expect("charges lock");
    Json(
        charges
            .values()
            .filter(|c| query.get("reference").is_none_or(|r| *r == c.reference))
            .cloned()
            .collect(),
    )
}

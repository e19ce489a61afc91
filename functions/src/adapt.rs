//! Typed handlers in, JSON events out: Lambda hands every function a JSON document, and so does the local
//! gateway. One adapter per kind of event source.

use std::future::Future;

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use orderly_http::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::{Invocation, State};

#[derive(Debug, Error)]
pub enum FunctionError {
    #[error("the event is not a {expected}: {source}")]
    BadEvent {
        expected: &'static str,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Failed(String),
}

fn parse<T: DeserializeOwned>(event: Value, expected: &'static str) -> Result<T, FunctionError> {
    serde_json::from_value(event).map_err(|source| FunctionError::BadEvent { expected, source })
}

fn to_json(value: impl Serialize) -> Result<Value, FunctionError> {
    serde_json::to_value(value)
        .map_err(|e| FunctionError::Failed(format!("response did not serialise: {e}")))
}

/// A REST API route (API Gateway proxy integration, payload v1).
pub async fn http<F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(ApiGatewayProxyRequest, &'static State) -> Fut,
    Fut: Future<Output = Result<ApiGatewayProxyResponse, ApiError>>,
{
    let request: ApiGatewayProxyRequest = parse(event, "API Gateway proxy request")?;
    let request_id = request
        .request_context
        .request_id
        .clone()
        .unwrap_or(invocation.request_id);
    let response = handler(request, state)
        .await
        .unwrap_or_else(|e| e.into_response(&request_id));
    to_json(response)
}

/// A WebSocket route (`$connect`, `$disconnect`, `$default`, or a custom route key).
pub async fn websocket<F, Fut>(
    event: Value,
    _: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(ApiGatewayWebsocketProxyRequest, &'static State) -> Fut,
    Fut: Future<Output = Result<ApiGatewayProxyResponse, ApiError>>,
{
    let request: ApiGatewayWebsocketProxyRequest = parse(event, "API Gateway WebSocket request")?;
    let request_id = request
        .request_context
        .request_id
        .clone()
        .unwrap_or_default();
    let response = handler(request, state)
        .await
        .unwrap_or_else(|e| e.into_response(&request_id));
    to_json(response)
}

/// An SQS event source mapping with `ReportBatchItemFailures`: the handler names the messages to retry.
pub async fn sqs<F, Fut>(
    event: Value,
    _: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(SqsEvent, &'static State) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let batch: SqsEvent = parse(event, "SQS event")?;
    to_json(handler(batch, state).await)
}

/// A `Schedule` event (EventBridge scheduled rule). An error makes Lambda retry the asynchronous invocation.
pub async fn schedule<F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(EventBridgeEvent, Invocation, &'static State) -> Fut,
    Fut: Future<Output = Result<Value, FunctionError>>,
{
    let tick: EventBridgeEvent = parse(event, "scheduled event")?;
    handler(tick, invocation, state).await
}

/// Invoked directly (console, CLI, the local stack at start) with any JSON.
pub async fn direct<F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(Value, Invocation, &'static State) -> Fut,
    Fut: Future<Output = Result<Value, FunctionError>>,
{
    handler(event, invocation, state).await
}

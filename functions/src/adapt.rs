//! Typed handlers in, JSON events out: Lambda hands every function a JSON document, and so does the local
//! gateway. One adapter per kind of event source.

use std::future::Future;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayProxyRequest, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::request::LambdaRequest;
use orderly_domain::access::Access;
use orderly_http::{ApiError, HttpRequest, Response, proxy_response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::services::ServiceError;
use crate::{Invocation, State};

/// Why an invocation failed, as Lambda reports it (`errorType`, `errorMessage`): the Lambda edge's
/// rendering of what went wrong.
#[derive(Debug, Error)]
pub enum FunctionError {
    #[error("the event is not a {expected}: {source}")]
    BadEvent {
        expected: &'static str,
        source: serde_json::Error,
    },
    /// The authorizer's verdict; API Gateway reads the message (`Unauthorized` is its 401).
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    Failed(String),
}

impl FunctionError {
    /// The `errorType` Lambda records and CloudWatch can count.
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::BadEvent { .. } => "BadEvent",
            FunctionError::Refused(_) => "Refused",
            FunctionError::Failed(_) => "Failed",
            FunctionError::Service(e) => match e {
                ServiceError::NotFound => "NotFound",
                ServiceError::Unauthorized(_) => "Unauthorized",
                ServiceError::Forbidden(_) => "Forbidden",
                ServiceError::Invalid(_) => "Invalid",
                ServiceError::Conflict { .. } => "Conflict",
                ServiceError::Stale { .. } => "Stale",
                ServiceError::TooMany { .. } => "TooMany",
                ServiceError::RateLimited { .. } => "RateLimited",
                ServiceError::Store(_) if e.is_transient() => "DatabaseUnavailable",
                ServiceError::Store(_) => "Database",
                ServiceError::Cloud(_) => "Aws",
                ServiceError::Provider(_) => "PaymentProviderUnavailable",
                ServiceError::Internal(_) => "Internal",
            },
        }
    }
}

impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(error: FunctionError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

fn parse<T: DeserializeOwned>(event: Value, expected: &'static str) -> Result<T, FunctionError> {
    serde_json::from_value(event).map_err(|source| FunctionError::BadEvent { expected, source })
}

fn to_json(value: impl Serialize) -> Result<Value, FunctionError> {
    serde_json::to_value(value)
        .map_err(|e| FunctionError::Failed(format!("response did not serialise: {e}")))
}

/// An API Gateway proxy request: a REST route (payload v1) or a WebSocket route.
pub trait ApiRequest: DeserializeOwned {
    const KIND: &'static str;
    fn request_id(&self) -> Option<String>;
}

impl ApiRequest for ApiGatewayProxyRequest {
    const KIND: &'static str = "API Gateway proxy request";
    fn request_id(&self) -> Option<String> {
        self.request_context.request_id.clone()
    }
}

impl ApiRequest for ApiGatewayWebsocketProxyRequest {
    const KIND: &'static str = "API Gateway WebSocket request";
    fn request_id(&self) -> Option<String> {
        self.request_context.request_id.clone()
    }
}

/// An API Gateway route outside the front door (preflights, the docs, the WebSocket routes): the
/// handler's error becomes the documented JSON error response.
pub async fn api<R, F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    R: ApiRequest,
    F: FnOnce(R, &'static State) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let request: R = parse(event, R::KIND)?;
    let request_id = request.request_id().unwrap_or(invocation.request_id);
    let response = handler(request, state)
        .await
        .unwrap_or_else(|e| e.into_response(&request_id));
    to_json(proxy_response(response))
}

/// A REST route behind the front door (access level, credential standing, rate limits, CORS, security
/// headers, request log). The handler sees a plain `http` request (`lambda_http`'s reading of the proxy
/// event) and answers a plain `http` response.
pub async fn http<F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    access: Access,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(HttpRequest, &'static State) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    // Read as the one event shape this API receives (a REST proxy request), straight from the value.
    // `LambdaRequest`'s own reader first prints the whole event back to JSON text and parses it again
    // to find out which of its shapes it is: a quarter of the events function's CPU (docs/adr/0016).
    let request = serde_json::from_value::<ApiGatewayProxyRequest>(event)
        .map(|proxy| lambda_http::Request::from(LambdaRequest::ApiGatewayV1(proxy)))
        .map_err(|source| FunctionError::BadEvent {
            expected: "API Gateway proxy request",
            source,
        })?;
    let response =
        crate::http::front_door::serve(request, invocation, state, access, handler).await;
    to_json(proxy_response(response))
}

/// The REST API's REQUEST authorizer: a policy, or the error API Gateway turns into 401.
pub async fn authorizer<F, Fut>(
    event: Value,
    _: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(ApiGatewayCustomAuthorizerRequestTypeRequest, &'static State) -> Fut,
    Fut: Future<Output = Result<ApiGatewayCustomAuthorizerResponse, &'static str>>,
{
    let request = parse(event, "API Gateway REQUEST authorizer event")?;
    match handler(request, state).await {
        Ok(response) => to_json(response),
        Err(message) => Err(FunctionError::Refused(message)),
    }
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

/// An SQS event source mapping whose handler works against the invocation's deadline.
pub async fn sqs_timed<F, Fut>(
    event: Value,
    invocation: Invocation,
    state: &'static State,
    handler: F,
) -> Result<Value, FunctionError>
where
    F: FnOnce(SqsEvent, Invocation, &'static State) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let batch: SqsEvent = parse(event, "SQS event")?;
    to_json(handler(batch, invocation, state).await)
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

//! The WebSocket API's routes. A route's response body is not sent to the client (no route responses are
//! configured); replies go through the `@connections` management API.

pub mod connect;
pub mod default;
pub mod disconnect;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use orderly_http::ApiError;

fn connection_id(request: &ApiGatewayWebsocketProxyRequest) -> Result<&str, ApiError> {
    request
        .request_context
        .connection_id
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("no connectionId".into()))
}

/// The REST path's mapping: no connection is a 503, anything else a 500.
fn store_failed(e: orderly_store::StoreError) -> ApiError {
    crate::services::ServiceError::from(e).into()
}

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use aws_lambda_events::encodings::Body;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;

pub type Response = ApiGatewayProxyResponse;

fn response(status: u16, content_type: Option<&'static str>, body: Option<Body>) -> Response {
    let mut headers = HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = body;
    response
}

/// A JSON response with the given status. Serialising our own types cannot fail; if it ever did, the
/// client gets a 500 in the documented shape rather than a broken body.
pub fn json_response(status: u16, body: &impl Serialize) -> Response {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(e) => {
            tracing::error!(error = %e, "response did not serialise");
            (
                500,
                r#"{"error":{"code":"INTERNAL","message":"internal error","details":[]}}"#
                    .to_owned(),
            )
        }
    };
    response(status, Some("application/json"), Some(Body::Text(text)))
}

/// A response without a body (204, 304, a preflight).
pub fn empty_response(status: u16) -> Response {
    response(status, None, None)
}

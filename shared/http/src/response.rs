use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use http::{HeaderValue, header};
use lambda_http::Body;
use serde::Serialize;

/// What a REST function answers: a plain `http` response.
pub type Response = http::Response<Body>;

fn response(status: u16, content_type: Option<&'static str>, body: Body) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
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
    response(status, Some("application/json"), Body::Text(text))
}

/// A response without a body (204, 304, a preflight).
pub fn empty_response(status: u16) -> Response {
    response(status, None, Body::Empty)
}

/// The API Gateway REST proxy response for an `http` response: every header in `multiValueHeaders`
/// (repeated ones included), a binary body base64-encoded.
pub fn proxy_response(response: Response) -> ApiGatewayProxyResponse {
    let (parts, body) = response.into_parts();
    let mut proxy = ApiGatewayProxyResponse::default();
    proxy.status_code = i64::from(parts.status.as_u16());
    proxy.multi_value_headers = parts.headers;
    proxy.is_base64_encoded = matches!(body, Body::Binary(_));
    proxy.body = match body {
        Body::Empty => None,
        other => Some(other),
    };
    proxy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_response_keeps_every_header_and_encodes_binary_bodies() {
        let mut response = json_response(201, &serde_json::json!({"ok": true}));
        response
            .headers_mut()
            .append("set-cookie", HeaderValue::from_static("a=1"));
        response
            .headers_mut()
            .append("set-cookie", HeaderValue::from_static("b=2"));
        let proxy = serde_json::to_value(proxy_response(response)).unwrap();
        assert_eq!(proxy["statusCode"], 201);
        assert_eq!(
            proxy["multiValueHeaders"]["set-cookie"],
            serde_json::json!(["a=1", "b=2"])
        );
        assert_eq!(proxy["body"], r#"{"ok":true}"#);
        assert_eq!(proxy["isBase64Encoded"], false);

        let mut binary = empty_response(200);
        *binary.body_mut() = Body::Binary(vec![0xff, 0x00]);
        let proxy = serde_json::to_value(proxy_response(binary)).unwrap();
        assert_eq!(
            (proxy["body"].as_str(), proxy["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
        assert!(
            serde_json::to_value(proxy_response(empty_response(204))).unwrap()["body"].is_null()
        );
    }
}

//! CORS: browsers on the configured origins (`CORS_ALLOWED_ORIGINS`) may call the API; the preflight
//! function answers `OPTIONS` on every resource without running the authorizer.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use http::{HeaderMap, HeaderValue};
use orderly_http::{ApiError, Response, empty_response};

use crate::State;

const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOWED_HEADERS: &str = "authorization, content-type, if-match, idempotency-key";
const EXPOSED_HEADERS: &str =
    "etag, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-request-id";

/// The origin to echo back, when it is on the allow-list (exact match, scheme and port included).
pub fn allowed_origin(origin: Option<&str>, allowed: &[String]) -> Option<String> {
    let origin = origin?.trim();
    allowed
        .iter()
        .any(|a| a == origin)
        .then(|| origin.to_owned())
}

pub fn allow(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert("access-control-allow-origin", value);
        headers.insert("vary", HeaderValue::from_static("Origin"));
        headers.insert(
            "access-control-expose-headers",
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

/// `OPTIONS` on any resource: 204, with permission headers only for an allowed origin (a browser then
/// refuses the real request for any other).
pub async fn preflight(
    request: ApiGatewayProxyRequest,
    state: &'static State,
) -> Result<Response, ApiError> {
    let origin = request.headers.get("origin").and_then(|o| o.to_str().ok());
    let mut response = empty_response(204);
    if let Some(origin) = allowed_origin(origin, &state.config.cors_allowed_origins) {
        let headers = response.headers_mut();
        allow(headers, &origin);
        headers.insert(
            "access-control-allow-methods",
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_echoed() {
        let allowed = vec!["https://shop.example.com".to_owned()];
        assert_eq!(
            allowed_origin(Some("https://shop.example.com"), &allowed).as_deref(),
            Some("https://shop.example.com")
        );
        assert_eq!(
            allowed_origin(Some("https://evil.example.com"), &allowed),
            None
        );
        assert_eq!(
            allowed_origin(Some("http://shop.example.com"), &allowed),
            None
        );
        assert_eq!(allowed_origin(None, &allowed), None);
    }
}

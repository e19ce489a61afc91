use http::HeaderValue;
use serde::Serialize;
use serde_json::{Value, json};
use thiserror::Error;

use crate::{FieldError, Response, json_response};

/// Every error answer: `{"error": {...}}`. The responses are built from it and the OpenAPI document
/// describes it, so the two cannot drift.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `VALIDATION_FAILED`, `EMAIL_TAKEN`, `OUT_OF_STOCK`.
    pub code: &'static str,
    pub message: String,
    /// Per-field problems for `VALIDATION_FAILED`; what exactly for a conflict (e.g. each short line of
    /// `OUT_OF_STOCK`); otherwise empty.
    #[schema(value_type = Vec<Object>)]
    pub details: Value,
    pub request_id: String,
}

/// `Retry-After` on a 503: a database connection frees up within a request's time (the pool waits 5 s
/// before giving up), so a retry a couple of seconds later usually finds one.
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 2;

/// Everything an endpoint can answer other than success. Status and code are decided here and nowhere
/// else.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    /// A state conflict the client can resolve; `code` names it (`EMAIL_TAKEN`, `OUT_OF_STOCK`, …) and
    /// `details` says what exactly (e.g. each short line).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("the resource changed since you read it; fetch it again (ETag {current_etag})")]
    PreconditionFailed { current_etag: String },
    #[error("this change needs an If-Match header with the resource's ETag")]
    PreconditionRequired,
    #[error("the request body is over {0} bytes")]
    PayloadTooLarge(usize),
    /// A body within the byte limit that holds more items than one request takes.
    #[error("at most {limit} {what} per request")]
    TooMany { limit: usize, what: &'static str },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("too many requests; retry in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("{0} depends on something that is not available")]
    Unavailable(&'static str),
    /// A fault on our side; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::PreconditionFailed { .. } => 412,
            ApiError::PayloadTooLarge(_) | ApiError::TooMany { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Validation(_) => 422,
            ApiError::PreconditionRequired => 428,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::Validation(_) => "VALIDATION_FAILED",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::Conflict { code, .. } => code,
            ApiError::PreconditionFailed { .. } => "PRECONDITION_FAILED",
            ApiError::PreconditionRequired => "PRECONDITION_REQUIRED",
            ApiError::PayloadTooLarge(_) | ApiError::TooMany { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn conflict_with(
        code: &'static str,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            details: Some(details),
        }
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        ApiError::Internal(error.to_string())
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(request_id, error = %detail, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let details = match &self {
            ApiError::Validation(fields) => json!(fields),
            ApiError::Conflict {
                details: Some(details),
                ..
            } => details.clone(),
            _ => json!([]),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                details,
                request_id: request_id.to_owned(),
            },
        };
        let mut response = json_response(self.status(), &body);
        match &self {
            ApiError::RateLimited {
                retry_after_seconds,
            } => {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(*retry_after_seconds));
            }
            // A dependency out of reach (the database's connection budget spent, say): the client is
            // told when to try again rather than left hanging.
            ApiError::Unavailable(_) => {
                response.headers_mut().insert(
                    "retry-after",
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS),
                );
            }
            ApiError::PreconditionFailed { current_etag } => {
                if let Ok(etag) = HeaderValue::from_str(current_etag) {
                    response.headers_mut().insert("etag", etag);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn body(response: &Response) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a text body, got {other:?}"),
        }
    }

    #[test]
    fn validation_errors_are_422_with_field_details() {
        let error = ApiError::Validation(vec![FieldError::new("email", "is required")]);
        let response = error.into_response("req-1");
        assert_eq!(response.status(), 422);
        assert_eq!(
            body(&response),
            json!({"error": {"code": "VALIDATION_FAILED", "message": "validation failed",
                              "details": [{"field": "email", "message": "is required"}], "request_id": "req-1"}})
        );
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let response = ApiError::Internal("password=hunter2 leaked".into()).into_response("req-2");
        assert_eq!(response.status(), 500);
        assert_eq!(body(&response)["error"]["message"], "internal error");
        assert!(!format!("{:?}", response.body()).contains("hunter2"));
    }

    #[test]
    fn rate_limits_and_stale_writes_carry_their_headers() {
        let limited = ApiError::RateLimited {
            retry_after_seconds: 3,
        }
        .into_response("r");
        assert_eq!(
            (limited.status().as_u16(), &limited.headers()["retry-after"]),
            (429, &HeaderValue::from(3))
        );
        let unavailable = ApiError::Unavailable("the database").into_response("r");
        assert_eq!(
            (
                unavailable.status().as_u16(),
                &unavailable.headers()["retry-after"]
            ),
            (503, &HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS))
        );
        let stale = ApiError::PreconditionFailed {
            current_etag: "\"4\"".into(),
        }
        .into_response("r");
        assert_eq!(
            (stale.status().as_u16(), &stale.headers()["etag"]),
            (412, &HeaderValue::from_static("\"4\""))
        );
    }

    #[test]
    fn every_error_has_one_status_and_code() {
        let cases = [
            (ApiError::BadRequest("x".into()), 400, "BAD_REQUEST"),
            (ApiError::Unauthorized("x"), 401, "UNAUTHORIZED"),
            (ApiError::Forbidden("x"), 403, "FORBIDDEN"),
            (ApiError::NotFound, 404, "NOT_FOUND"),
            (ApiError::conflict("EMAIL_TAKEN", "x"), 409, "EMAIL_TAKEN"),
            (ApiError::PreconditionRequired, 428, "PRECONDITION_REQUIRED"),
            (ApiError::PayloadTooLarge(1), 413, "PAYLOAD_TOO_LARGE"),
            (
                ApiError::UnsupportedMediaType,
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (ApiError::Unavailable("health"), 503, "SERVICE_UNAVAILABLE"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code));
            assert_eq!(
                error.into_response("r").headers()["content-type"],
                "application/json"
            );
        }
    }
}

use serde::Serialize;
use serde_json::json;
use thiserror::Error;

use crate::{Response, json_response};

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Everything an endpoint can answer other than success. `status` and `code` are decided here and
/// nowhere else.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("the request is malformed: {0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("not found")]
    NotFound,
    #[error("{0} depends on something that is not available")]
    Unavailable(&'static str),
    /// A fault on our side; the message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound => 404,
            ApiError::Validation(_) => 422,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BAD_REQUEST",
            ApiError::Validation(_) => "VALIDATION_FAILED",
            ApiError::NotFound => "NOT_FOUND",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
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
            _ => json!([]),
        };
        json_response(
            self.status(),
            &json!({"error": {"code": self.code(), "message": message, "details": details, "request_id": request_id}}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::encodings::Body;

    fn body(response: &Response) -> serde_json::Value {
        match &response.body {
            Some(Body::Text(text)) => serde_json::from_str(text).unwrap(),
            other => panic!("expected a text body, got {other:?}"),
        }
    }

    #[test]
    fn validation_errors_are_422_with_field_details() {
        let error = ApiError::Validation(vec![FieldError {
            field: "email".into(),
            message: "is required".into(),
        }]);
        let response = error.into_response("req-1");
        assert_eq!(response.status_code, 422);
        assert_eq!(
            body(&response),
            json!({"error": {"code": "VALIDATION_FAILED", "message": "validation failed",
                              "details": [{"field": "email", "message": "is required"}], "request_id": "req-1"}})
        );
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let response = ApiError::Internal("password=hunter2 leaked".into()).into_response("req-2");
        assert_eq!(response.status_code, 500);
        assert_eq!(body(&response)["error"]["message"], "internal error");
        assert!(!format!("{:?}", response.body).contains("hunter2"));
    }

    #[test]
    fn every_error_has_one_status_and_code() {
        let cases = [
            (ApiError::BadRequest("x".into()), 400, "BAD_REQUEST"),
            (ApiError::NotFound, 404, "NOT_FOUND"),
            (ApiError::Unavailable("health"), 503, "SERVICE_UNAVAILABLE"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code));
            assert_eq!(
                error.into_response("r").headers["content-type"],
                "application/json"
            );
        }
    }
}

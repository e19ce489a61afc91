//! HTTP glue for functions behind API Gateway: every error maps to one status in one place, requests are
//! parsed strictly, and every response is JSON in the documented shape `{"error":{"code","message","details"}}`.

mod error;
mod request;
mod response;

pub use error::{ApiError, ErrorBody, ErrorDetail, UNAVAILABLE_RETRY_AFTER_SECONDS};
pub use orderly_domain::validation::FieldError;
pub use request::{HttpRequest, MAX_BODY_BYTES};
pub use response::{Response, empty_response, json_response, proxy_response};

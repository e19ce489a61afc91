//! HTTP glue for functions behind API Gateway: every error maps to one status in one place, and every
//! response is JSON in the documented shape `{"error":{"code","message","details"}}`.

mod error;
mod response;

pub use error::{ApiError, FieldError};
pub use response::{Response, json_response};

//! What a service can fail with. Business outcomes (not found, invalid, conflict, …) and the failures of
//! what it depends on (the store, AWS, the payment provider) are separate variants; each edge renders
//! them once: the REST front door as an API error (`From<ServiceError> for ApiError`), a queue worker
//! as a batch item failure, a schedule as a failed invocation.

use orderly_cloud::CloudError;
use orderly_http::{ApiError, FieldError};
use orderly_store::StoreError;
use serde_json::Value;
use thiserror::Error;

use super::payment_provider::ProviderUnavailable;

#[derive(Debug, Error)]
pub enum ServiceError {
    /// The caller may not see it, or it does not exist (another user's order is "not found").
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("validation failed: {0:?}")]
    Invalid(Vec<FieldError>),
    /// A state the client can resolve; `code` names it (`EMAIL_TAKEN`, `OUT_OF_STOCK`, …).
    #[error("{code}: {message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// A write with a stale `If-Match`.
    #[error("the resource changed (ETag {current_etag})")]
    Stale { current_etag: String },
    /// More items in one request than it takes (413, with the limit).
    #[error("at most {limit} {what} per request")]
    TooMany { limit: usize, what: &'static str },
    #[error("rate limited for {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Provider(#[from] ProviderUnavailable),
    /// A fault of ours: a missing setting, a broken invariant, a library that failed.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn conflict_with(code: &'static str, message: impl Into<String>, details: Value) -> Self {
        ServiceError::Conflict {
            code,
            message: message.into(),
            details: Some(details),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        ServiceError::Internal(error.to_string())
    }

    /// Worth retrying as it is (a dependency was unavailable), rather than a verdict on the input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ServiceError::Store(StoreError::Unavailable(_) | StoreError::Timeout(_))
                | ServiceError::Cloud(_)
                | ServiceError::Provider(_)
        )
    }
}

impl From<orderly_store::PoolError> for ServiceError {
    fn from(error: orderly_store::PoolError) -> Self {
        ServiceError::Store(error.into())
    }
}

impl From<orderly_store::PgError> for ServiceError {
    fn from(error: orderly_store::PgError) -> Self {
        ServiceError::Store(error.into())
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Unauthorized(message) => ApiError::Unauthorized(message),
            ServiceError::Forbidden(message) => ApiError::Forbidden(message),
            ServiceError::Invalid(fields) => ApiError::Validation(fields),
            ServiceError::Conflict {
                code,
                message,
                details,
            } => ApiError::Conflict {
                code,
                message,
                details,
            },
            ServiceError::Stale { current_etag } => ApiError::PreconditionFailed { current_etag },
            ServiceError::RateLimited {
                retry_after_seconds,
            } => ApiError::RateLimited {
                retry_after_seconds,
            },
            // No connection (or none in time) is a 503: retry later. Anything else is our fault.
            ServiceError::TooMany { limit, what } => ApiError::TooMany { limit, what },
            ServiceError::Store(StoreError::Unavailable(_) | StoreError::Timeout(_)) => {
                ApiError::Unavailable("the database")
            }
            // The partition schedule is behind: retrying after it ran succeeds, and nothing was written.
            ServiceError::Store(StoreError::NoPartition(detail)) => {
                tracing::error!(%detail, "a write found no partition; is the metrics upkeep schedule running?");
                ApiError::Unavailable("storing events for that month")
            }
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_renders_as_one_status() {
        let cases: Vec<(ServiceError, u16)> = vec![
            (ServiceError::NotFound, 404),
            (ServiceError::Unauthorized("x"), 401),
            (ServiceError::Forbidden("x"), 403),
            (ServiceError::invalid("email", "is required"), 422),
            (ServiceError::conflict("EMAIL_TAKEN", "x"), 409),
            (
                ServiceError::Stale {
                    current_etag: "\"2\"".into(),
                },
                412,
            ),
            (
                ServiceError::RateLimited {
                    retry_after_seconds: 3,
                },
                429,
            ),
            (
                ServiceError::Store(StoreError::Timeout(std::time::Duration::from_secs(1))),
                503,
            ),
            (ServiceError::Store(StoreError::Seed("x".into())), 500),
            (
                ServiceError::Provider(ProviderUnavailable("down".into())),
                500,
            ),
            (ServiceError::internal("no signing key"), 500),
        ];
        for (error, status) in cases {
            let shown = error.to_string();
            assert_eq!(ApiError::from(error).status(), status, "{shown}");
        }
    }

    #[test]
    fn only_dependency_failures_are_transient() {
        assert!(ServiceError::Provider(ProviderUnavailable("down".into())).is_transient());
        assert!(
            ServiceError::Store(StoreError::Timeout(std::time::Duration::from_secs(1)))
                .is_transient()
        );
        assert!(!ServiceError::NotFound.is_transient());
        assert!(!ServiceError::internal("bug").is_transient());
    }
}

//! Use cases: each takes the instance state and plain values, and orchestrates domain rules, the store
//! and the cloud ports. Function modules call these and do nothing else of substance.

pub mod api_keys;
pub mod audit;
pub mod catalogue;
pub mod fulfillment;
pub mod health;
pub mod housekeeping;
pub mod identity;
pub mod inventory;
pub mod live_updates;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod passwords;
pub mod payment_provider;
pub mod payments;
pub mod rate_limits;
pub mod reports;
pub mod tokens;
pub mod users;

use orderly_http::ApiError;
use orderly_store::StoreError;

/// The one mapping of store failures to API errors: no connection is a 503 (retry later), anything else
/// a 500 whose detail is logged.
pub fn db(error: impl Into<StoreError>) -> ApiError {
    match error.into() {
        StoreError::Unavailable(_) | StoreError::Timeout(_) => {
            ApiError::Unavailable("the database")
        }
        other => ApiError::internal(other),
    }
}

/// A page of items and the cursor of the next one (`null` on the last page).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

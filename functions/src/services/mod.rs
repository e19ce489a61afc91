//! Use cases: each takes the instance state and typed inputs (a `Caller`, a filter, a page) and
//! orchestrates domain rules, the store and the cloud ports, failing with a `ServiceError`. Function
//! modules parse their events into those inputs and render the outcome; nothing here knows HTTP.

pub mod analytics;
pub mod api_keys;
pub mod archive_restore;
pub mod audit;
mod caller;
pub mod catalogue;
mod error;
pub mod event_archives;
pub mod event_metrics;
pub mod flash_sales;
pub mod fulfillment;
pub mod groups;
pub mod health;
pub mod housekeeping;
mod idempotency;
pub mod identity;
pub mod inventory;
pub mod job_runs;
pub mod jobs;
mod jwt_signing;
pub mod live_updates;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod outbox;
pub mod passwords;
pub mod payment_provider;
pub mod payments;
pub mod rate_limits;
pub mod report_export;
pub mod reports;
pub mod settlement;
pub mod tokens;
pub mod users;

pub use caller::Caller;
pub use error::ServiceError;

/// A page of items and the cursor of the next one (`null` on the last page).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    /// The page of the items' `ids` (newest or oldest first, as the list orders them).
    pub fn of(
        items: Vec<T>,
        page: orderly_domain::pagination::Page,
        id: impl Fn(&T) -> uuid::Uuid,
    ) -> Self {
        let next_cursor = orderly_domain::pagination::next_cursor(&items, page, id);
        Self { items, next_cursor }
    }

    /// The same page with every item turned into what the edge shows.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

pub mod admin_list;
pub mod admin_status;
pub mod cancel;
pub mod get;
pub mod list;
pub mod place;
pub mod status;
mod view;

use chrono::{DateTime, Utc};
use orderly_domain::orders::OrderStatus;
use orderly_http::{ApiError, FieldError, HttpRequest};
pub use view::{OrderDetailView, OrderHistoryView, OrderView};

/// `?status=` in any letter case (`completed`, `Completed`, `COMPLETED`).
fn status_filter(request: &HttpRequest) -> Result<Option<OrderStatus>, ApiError> {
    request
        .query("status")
        .map(|s| {
            OrderStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                let known: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::Validation(vec![FieldError::new(
                    "status",
                    format!("is not an order status ({})", known.join(", ")),
                )])
            })
        })
        .transpose()
}

fn time_filter(request: &HttpRequest, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    request
        .query(name)
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::Validation(vec![FieldError::new(name, "must be an RFC 3339 time")])
                })
        })
        .transpose()
}

//! `GET /api/v1/admin/reports/daily?from=&to=`: orders, units and gross per day and per product.

use chrono::NaiveDate;
use orderly_domain::settlement::DayRange;
use orderly_http::{ApiError, ErrorBody, FieldError, HttpRequest, Response};

use super::SalesDayView;
use crate::http::{caller, ok};
use crate::{State, services::reports};

/// A required query parameter that is a UTC day (`YYYY-MM-DD`).
pub(crate) fn date(request: &HttpRequest, name: &str) -> Result<NaiveDate, FieldError> {
    let raw = request
        .query(name)
        .ok_or_else(|| FieldError::new(name, "is required (YYYY-MM-DD)"))?;
    DayRange::day(name, raw)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/reports/daily",
    tag = "reports",
    params(
        ("from" = String, Query, description = "first day, YYYY-MM-DD"),
        ("to" = String, Query, description = "last day, YYYY-MM-DD (at most 366 days after from)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "days with activity, oldest first", body = Vec<SalesDayView>),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "missing or invalid dates", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let (from, to) = match (date(&request, "from"), date(&request, "to")) {
        (Ok(from), Ok(to)) => (from, to),
        (from, to) => {
            let problems = [from.err(), to.err()].into_iter().flatten().collect();
            return Err(ApiError::Validation(problems));
        }
    };
    let days = reports::daily(state, &caller(&request), DayRange::new(from, to)).await?;
    Ok(ok(&days
        .into_iter()
        .map(SalesDayView::from)
        .collect::<Vec<_>>()))
}

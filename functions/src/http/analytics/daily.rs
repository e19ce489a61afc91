//! `GET /api/v1/admin/analytics/daily?from=&to=&plan=&merchant_id=`: per merchant per day, events and the
//! average value, newest day first, cursor-paginated.

use chrono::NaiveDate;
use orderly_domain::merchants::Plan;
use orderly_domain::pagination::{decode_day_cursor, encode_day_cursor, parse_page};
use orderly_http::{ApiError, ErrorBody, FieldError, HttpRequest, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::State;
use crate::http::reports::daily::date;
use crate::http::{caller, ok};
use crate::services::analytics::{self, DailyQuery};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantDayView {
    pub day: NaiveDate,
    pub merchant_id: Uuid,
    pub events: i64,
    pub avg_value: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantDaysView {
    pub items: Vec<MerchantDayView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/analytics/daily",
    tag = "analytics",
    params(
        ("from" = String, Query, description = "first day, YYYY-MM-DD (UTC)"),
        ("to" = String, Query, description = "last day, YYYY-MM-DD, on or after from"),
        ("plan" = Option<String>, Query, description = "only merchants on this plan: `standard` or `enterprise`"),
        ("merchant_id" = Option<Uuid>, Query, description = "only this merchant"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "merchant days with events, newest day first", body = MerchantDaysView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "a missing or invalid parameter", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let mut problems = Vec::new();
    let mut day = |name: &str| date(&request, name).map_err(|e| problems.push(e)).ok();
    let (from, to) = (day("from"), day("to"));
    let plan = match request.query("plan") {
        None => None,
        Some(raw) => Plan::parse(raw).or_else(|| {
            problems.push(FieldError::new("plan", "must be standard or enterprise"));
            None
        }),
    };
    let limit = parse_page(request.query("limit"), None)
        .map_err(|e| problems.extend(e))
        .map(|p| p.limit)
        .unwrap_or_default();
    let after = match request.query("cursor") {
        None => None,
        Some(raw) => decode_day_cursor(raw).or_else(|| {
            problems.push(FieldError::new(
                "cursor",
                "is not a cursor this API returned",
            ));
            None
        }),
    };
    let merchant_id = match request.query_id("merchant_id") {
        Ok(id) => id,
        Err(ApiError::Validation(fields)) => {
            problems.extend(fields);
            None
        }
        Err(other) => return Err(other),
    };
    let (Some(from), Some(to), true) = (from, to, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let query = DailyQuery {
        from,
        to,
        plan,
        merchant_id,
        limit,
        after,
    };
    let page = analytics::daily(state, &caller(&request), query).await?;
    Ok(ok(&MerchantDaysView {
        items: page
            .items
            .into_iter()
            .map(|d| MerchantDayView {
                day: d.day,
                merchant_id: d.merchant_id,
                events: d.events,
                avg_value: d.value_sum / d.events as f64,
            })
            .collect(),
        next_cursor: page.next.map(|(day, id)| encode_day_cursor(day, id)),
    }))
}

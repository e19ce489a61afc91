//! `GET /api/v1/admin/metrics`: per event type over the last N minutes, count, sum, avg, min, max and
//! p50/p95/p99 of `value`, and each minute when asked.

use chrono::{DateTime, Utc};
use orderly_domain::metrics::{RELATIVE_ERROR, Summary};
use orderly_http::{ApiError, ErrorBody, FieldError, HttpRequest, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::State;
use crate::http::{caller, ok};
use crate::services::event_metrics::{self, MetricsQuery, MetricsReport};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MinuteView {
    pub minute: DateTime<Utc>,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeView {
    pub event_type: String,
    #[serde(flatten)]
    pub summary: Summary,
    /// Minute by minute, oldest first, minutes without events left out (with `series=true` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<MinuteView>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MetricsView {
    /// The first minute counted (whole minutes: the open minute is the last).
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub minutes: u32,
    /// The merchant asked for; `null` when every merchant is merged.
    pub merchant_id: Option<Uuid>,
    /// Percentiles are within this fraction of the true value (DDSketch).
    pub percentile_relative_error: f64,
    pub event_types: Vec<EventTypeView>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/metrics",
    tag = "metrics",
    params(
        ("minutes" = u32, Query, description = "the last 1 to 1,440 minutes, the open one included"),
        ("event_type" = Option<String>, Query, description = "only this event type"),
        ("merchant_id" = Option<Uuid>, Query, description = "only this merchant (default: all merged)"),
        ("series" = Option<bool>, Query, description = "`true`: each minute too"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "per event type, largest span first", body = MetricsView),
        (status = 403, description = "admins only", body = ErrorBody),
        (status = 422, description = "a parameter out of range", body = ErrorBody),
    ),
)]
pub async fn handle(request: HttpRequest, state: &'static State) -> Result<Response, ApiError> {
    let minutes = match request.query("minutes") {
        None => Err("is required"),
        Some(raw) => raw
            .parse::<u32>()
            .map_err(|_| "must be a whole number from 1 to 1440"),
    }
    .map_err(|m| ApiError::Validation(vec![FieldError::new("minutes", m)]))?;
    let query = MetricsQuery {
        minutes,
        merchant_id: request.query_id("merchant_id")?,
        event_type: request.query("event_type").map(str::to_owned),
        per_minute: request.query_bool("series")?.unwrap_or(false),
    };
    let merchant_id = query.merchant_id;
    let report = event_metrics::report(state, &caller(&request), query).await?;
    Ok(ok(&view(report, minutes, merchant_id)))
}

fn view(report: MetricsReport, minutes: u32, merchant_id: Option<Uuid>) -> MetricsView {
    MetricsView {
        from: report.from,
        to: report.to,
        minutes,
        merchant_id,
        percentile_relative_error: RELATIVE_ERROR,
        event_types: report
            .event_types
            .into_iter()
            .map(|t| EventTypeView {
                event_type: t.event_type,
                summary: t.summary,
                series: t.per_minute.map(|minutes| {
                    minutes
                        .into_iter()
                        .map(|(minute, summary)| MinuteView { minute, summary })
                        .collect()
                }),
            })
            .collect(),
    }
}

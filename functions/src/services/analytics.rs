//! Tenant analytics: per merchant per day, how many events and their average value, for merchants on a
//! plan (the seed's query), newest day first, from the daily rollups.

use chrono::NaiveDate;
use orderly_domain::merchants::Plan;
use orderly_store::metrics::{self as store, DailyFilter, DayTotal};
use uuid::Uuid;

use super::{Caller, ServiceError};
use crate::State;

#[derive(Debug, Clone)]
pub struct DailyQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub plan: Option<Plan>,
    pub merchant_id: Option<Uuid>,
    pub limit: i64,
    pub after: Option<(NaiveDate, Uuid)>,
}

/// A page of days, and where the next one starts (`None` on the last page).
#[derive(Debug)]
pub struct DailyPage {
    pub items: Vec<DayTotal>,
    pub next: Option<(NaiveDate, Uuid)>,
}

pub async fn daily(
    state: &State,
    caller: &Caller,
    query: DailyQuery,
) -> Result<DailyPage, ServiceError> {
    caller.admin()?;
    if query.to < query.from {
        return Err(ServiceError::invalid("to", "must be on or after from"));
    }
    let filter = DailyFilter {
        from: query.from,
        to: query.to,
        plan: query.plan.map(|p| p.as_str().to_owned()),
        merchant_id: query.merchant_id,
        after: query.after,
        limit: query.limit,
    };
    let items = store::daily(&state.db.get().await?, &filter).await?;
    let next = (items.len() as i64 == query.limit)
        .then(|| items.last().map(|d| (d.day, d.merchant_id)))
        .flatten();
    Ok(DailyPage { items, next })
}

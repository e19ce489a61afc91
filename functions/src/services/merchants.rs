//! Merchants own products; admins create them.

use orderly_domain::merchants::{Merchant, Plan};
use orderly_domain::pagination::Page;
use orderly_domain::settlement::FeeSchedule;
use orderly_domain::validation::{Problems, text};
use orderly_store::merchants;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Caller, Paged, ServiceError};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchant {
    pub name: String,
    /// Basis points of each capture's gross (default 290, at most 10,000).
    pub fee_rate_bps: Option<i32>,
    /// Fixed fee per capture in minor units (default 30).
    pub fee_fixed_cents: Option<i64>,
    /// `standard` (the default) or `enterprise`.
    pub plan: Option<Plan>,
}

pub async fn create(
    state: &State,
    caller: &Caller,
    input: NewMerchant,
) -> Result<Merchant, ServiceError> {
    caller.admin()?;
    let mut problems = Problems::default();
    let name = problems.check(text("name", &input.name, 1, 200));
    let fees = FeeSchedule::new(
        input.fee_rate_bps.unwrap_or(FeeSchedule::DEFAULT.rate_bps),
        input
            .fee_fixed_cents
            .unwrap_or(FeeSchedule::DEFAULT.fixed_cents),
    )
    .map_err(|errors| problems.extend(errors))
    .ok();
    let (name, fees) = problems
        .into_result(|| {
            (
                name.unwrap_or_default(),
                fees.unwrap_or(FeeSchedule::DEFAULT),
            )
        })
        .map_err(ServiceError::Invalid)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let plan = input.plan.unwrap_or(Plan::Standard);
    let merchant = merchants::insert(&tx, orderly_domain::new_id(), &name, fees, plan)
        .await?
        .ok_or_else(|| {
            ServiceError::conflict("MERCHANT_EXISTS", "a merchant with this name exists")
        })?;
    let change = Change {
        action: "merchant.created",
        target_type: "merchant",
        target_id: Some(merchant.id.to_string()),
        before: None,
        after: Some(json!(merchant)),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(merchant)
}

/// What an admin may change about a merchant; at least one field. A new fee schedule applies to
/// captures from then on: ledger rows already written keep the fee they were booked with.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MerchantChange {
    pub name: Option<String>,
    /// Basis points of each capture's gross (at most 10,000).
    pub fee_rate_bps: Option<i32>,
    /// Fixed fee per capture in minor units.
    pub fee_fixed_cents: Option<i64>,
    pub plan: Option<Plan>,
}

pub async fn update(
    state: &State,
    caller: &Caller,
    id: Uuid,
    change: MerchantChange,
) -> Result<Merchant, ServiceError> {
    caller.admin()?;
    let mut problems = Problems::default();
    if change.name.is_none()
        && change.fee_rate_bps.is_none()
        && change.fee_fixed_cents.is_none()
        && change.plan.is_none()
    {
        problems.add(
            "body",
            "send at least one of name, fee_rate_bps, fee_fixed_cents and plan",
        );
    }
    let name = change
        .name
        .as_deref()
        .and_then(|n| problems.check(text("name", n, 1, 200)));
    // Range checks first, so a bad field is reported whatever the merchant's current schedule.
    let fees_checked = FeeSchedule::new(
        change.fee_rate_bps.unwrap_or(FeeSchedule::DEFAULT.rate_bps),
        change
            .fee_fixed_cents
            .unwrap_or(FeeSchedule::DEFAULT.fixed_cents),
    )
    .map_err(|errors| problems.extend(errors));
    problems.into_result(|| ()).map_err(ServiceError::Invalid)?;
    debug_assert!(fees_checked.is_ok());

    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let before = merchants::find_for_update(&tx, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let fees = FeeSchedule {
        rate_bps: change.fee_rate_bps.unwrap_or(before.fees.rate_bps),
        fixed_cents: change.fee_fixed_cents.unwrap_or(before.fees.fixed_cents),
    };
    let plan = change.plan.unwrap_or(before.plan);
    let after = merchants::update(&tx, id, name.as_deref().unwrap_or(&before.name), fees, plan)
        .await?
        .ok_or_else(|| {
            ServiceError::conflict("MERCHANT_EXISTS", "a merchant with this name exists")
        })?;
    let change = Change {
        action: "merchant.updated",
        target_type: "merchant",
        target_id: Some(id.to_string()),
        before: Some(json!(before)),
        after: Some(json!(after)),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn list(
    state: &State,
    caller: &Caller,
    page: Page,
) -> Result<Paged<Merchant>, ServiceError> {
    caller.admin()?;
    let items = merchants::list(&state.db.get().await?, page.limit, page.after).await?;
    Ok(Paged::of(items, page, |m| m.id))
}

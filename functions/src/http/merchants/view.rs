use chrono::{DateTime, Utc};
use orderly_domain::merchants::{Merchant, Plan};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantView {
    pub id: Uuid,
    pub name: String,
    /// Fee per captured transaction: this many basis points of the gross, rounded half up to a cent…
    pub fee_rate_bps: i32,
    /// …plus this fixed part, in minor units.
    pub fee_fixed_cents: i64,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
}

impl From<Merchant> for MerchantView {
    fn from(merchant: Merchant) -> Self {
        Self {
            id: merchant.id,
            name: merchant.name,
            fee_rate_bps: merchant.fees.rate_bps,
            fee_fixed_cents: merchant.fees.fixed_cents,
            plan: merchant.plan,
            created_at: merchant.created_at,
        }
    }
}

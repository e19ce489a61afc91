use chrono::{DateTime, Utc};
use orderly_domain::merchants::Merchant;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MerchantView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<Merchant> for MerchantView {
    fn from(merchant: Merchant) -> Self {
        Self {
            id: merchant.id,
            name: merchant.name,
            created_at: merchant.created_at,
        }
    }
}

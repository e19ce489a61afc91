//! Merchants: the shops whose products the catalogue lists and whom settlements pay.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::settlement::FeeSchedule;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    /// What the merchant pays per captured transaction.
    #[serde(flatten)]
    pub fees: FeeSchedule,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
}

/// What a merchant subscribes to; analytics compare merchants by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Standard,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Standard => "standard",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<Plan> {
        match text {
            "standard" => Some(Plan::Standard),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }
}

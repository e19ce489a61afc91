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
    pub created_at: DateTime<Utc>,
}

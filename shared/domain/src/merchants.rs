//! Merchants: the shops whose products the catalogue lists and whom settlements pay.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Merchant {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

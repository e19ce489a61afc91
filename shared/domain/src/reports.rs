//! Daily sales rollups.

use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductDay {
    pub product_id: Uuid,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SalesDay {
    pub date: NaiveDate,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
    pub cancelled_orders: i32,
    pub products: Vec<ProductDay>,
}

use chrono::NaiveDate;
use orderly_domain::reports::{ProductDay, SalesDay};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductDayView {
    pub product_id: Uuid,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SalesDayView {
    pub date: NaiveDate,
    pub orders: i32,
    pub units: i32,
    pub gross_cents: i64,
    pub cancelled_orders: i32,
    pub products: Vec<ProductDayView>,
}

impl From<ProductDay> for ProductDayView {
    fn from(p: ProductDay) -> Self {
        Self {
            product_id: p.product_id,
            orders: p.orders,
            units: p.units,
            gross_cents: p.gross_cents,
        }
    }
}

impl From<SalesDay> for SalesDayView {
    fn from(day: SalesDay) -> Self {
        Self {
            date: day.date,
            orders: day.orders,
            units: day.units,
            gross_cents: day.gross_cents,
            cancelled_orders: day.cancelled_orders,
            products: day.products.into_iter().map(ProductDayView::from).collect(),
        }
    }
}

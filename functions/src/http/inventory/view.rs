use orderly_domain::inventory::{LowStock, Stock};
use serde::Serialize;
use uuid::Uuid;

/// A product's stock: what is on sale, held by unpaid orders, and sold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockView {
    pub product_id: Uuid,
    pub available: i32,
    pub reserved: i32,
    pub sold: i32,
    pub low_stock_threshold: i32,
    pub low_stock: bool,
    /// Orders are queued (`202 QUEUED`) and decided in batches, first come first served.
    pub flash_sale: bool,
    /// During the flash sale, the most units one buyer may hold; `null` when there is no limit.
    pub buyer_limit: Option<i32>,
}

impl StockView {
    pub fn of(product_id: Uuid, stock: &Stock) -> Self {
        Self {
            product_id,
            available: stock.available,
            reserved: stock.reserved,
            sold: stock.sold,
            low_stock_threshold: stock.low_stock_threshold,
            low_stock: stock.low_stock(),
            flash_sale: stock.flash_sale,
            buyer_limit: stock.buyer_limit,
        }
    }

    /// The stored (and replayed) body of a stock change.
    pub fn render(product_id: Uuid, stock: &Stock) -> serde_json::Value {
        serde_json::to_value(Self::of(product_id, stock)).expect("a view serialises")
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LowStockView {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub available: i32,
    pub reserved: i32,
    pub low_stock_threshold: i32,
}

impl From<LowStock> for LowStockView {
    fn from(low: LowStock) -> Self {
        Self {
            product_id: low.product_id,
            sku: low.sku,
            name: low.name,
            available: low.available,
            reserved: low.reserved,
            low_stock_threshold: low.low_stock_threshold,
        }
    }
}

pub mod get;
pub mod low_stock;
pub mod update;
mod view;

pub use view::{LowStockView, StockView};

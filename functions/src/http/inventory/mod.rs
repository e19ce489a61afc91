pub mod get;
pub mod low_stock;
pub mod update;

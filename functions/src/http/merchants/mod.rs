pub mod create;
pub mod list;
pub mod update;
mod view;

pub use view::MerchantView;

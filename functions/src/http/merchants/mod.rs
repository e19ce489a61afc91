pub mod create;
pub mod list;
mod view;

pub use view::MerchantView;

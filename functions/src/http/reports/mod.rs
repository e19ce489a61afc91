pub mod daily;
mod view;

pub use view::SalesDayView;

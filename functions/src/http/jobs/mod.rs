pub mod cancel;
pub mod create_settlement;
pub mod download;
pub mod get;
pub mod list;
mod view;

pub use view::JobView;

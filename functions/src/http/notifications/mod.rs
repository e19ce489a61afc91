pub mod list;
pub mod read;
pub mod read_all;
mod view;

pub use view::NotificationView;

pub mod list;
pub mod read;
pub mod read_all;
pub mod send;
mod view;

pub use view::NotificationView;

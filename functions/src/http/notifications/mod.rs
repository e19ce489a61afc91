pub mod list;
mod view;

pub use view::NotificationView;

pub mod get;
pub mod me;
pub mod register;
pub mod update;
mod view;

pub use view::UserView;

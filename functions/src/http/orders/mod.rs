pub mod admin_list;
pub mod admin_status;
pub mod cancel;
pub mod get;
pub mod list;
pub mod place;
pub mod status;

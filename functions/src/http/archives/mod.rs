pub mod list;
pub mod restore;

//! `/api/v1/admin/groups`: groups of users, their members, and broadcasts to them (admins only).

pub mod broadcast;
pub mod create;
pub mod list;
pub mod members_add;
pub mod members_list;
pub mod members_remove;
mod view;

pub use view::{GroupView, MemberView};

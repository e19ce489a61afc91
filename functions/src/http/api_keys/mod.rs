pub mod create;
pub mod list;
pub mod revoke;
mod view;

pub use view::{ApiKeyView, CreatedKeyView};

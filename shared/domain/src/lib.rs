//! Orderly's business vocabulary and rules. Pure: no I/O, no clocks except where a caller passes one in.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod events;
pub mod flash_sales;
pub mod groups;
pub mod ids;
pub mod inventory;
pub mod jobs;
pub mod live_updates;
pub mod merchants;
pub mod metrics;
pub mod notifications;
pub mod orders;
pub mod pagination;
pub mod payments;
pub mod products;
pub mod rate_limit;
pub mod reports;
pub mod settlement;
pub mod users;
pub mod validation;

pub use events::EventEnvelope;
pub use ids::new_id;

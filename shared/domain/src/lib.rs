//! Orderly's business vocabulary and rules. Pure: no I/O, no clocks except where a caller passes one in.

pub mod events;
pub mod ids;
pub mod live_updates;

pub use events::EventEnvelope;
pub use ids::new_id;

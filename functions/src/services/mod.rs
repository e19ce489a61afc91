//! Use cases: each takes the instance state and plain values, and orchestrates domain rules, the store
//! and the cloud ports. Function modules call these and do nothing else of substance.

pub mod health;
pub mod live_updates;

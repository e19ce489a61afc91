pub mod migrate;
pub mod seed;
pub mod seed_connections;
pub mod seed_events;
pub mod seed_transactions;

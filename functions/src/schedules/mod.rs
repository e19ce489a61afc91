pub mod expire_orders;
pub mod outbox_sweep;
pub mod ws_prune;

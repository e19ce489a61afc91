pub mod expire_orders;
pub mod housekeeping;
pub mod outbox_sweep;
pub mod ws_prune;

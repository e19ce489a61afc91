pub mod events_archive;
pub mod expire_orders;
pub mod housekeeping;
pub mod metrics_upkeep;
pub mod outbox_relay;
pub mod outbox_sweep;
pub mod payments_reconcile;
pub mod ws_prune;

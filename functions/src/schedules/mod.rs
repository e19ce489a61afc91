pub mod ws_prune;

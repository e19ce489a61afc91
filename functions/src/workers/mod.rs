pub mod ws_push;

-- Resume: a client that reconnects with ?since=<last notification id> first receives what it missed,
-- then live pushes, with no duplicates between the two (docs/websocket.md). While `catching_up`, live
-- notification pushes leave the connection to the catch-up; after it, they send only notifications newer
-- than `caught_up_to`, the last one the catch-up covered.
ALTER TABLE ws_connections
    ADD COLUMN catching_up  boolean NOT NULL DEFAULT false,
    ADD COLUMN caught_up_to uuid;

-- Stock updates over WebSocket are coalesced per product: at most one push per half second, and one held
-- back (flush_pending) to go out once that half second has passed, so subscribers always end on the
-- latest count (docs/websocket.md). One small row per product that someone has followed.
CREATE TABLE inventory_pushes (
    product_id    uuid PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    pushed_at     timestamptz NOT NULL,
    flush_pending boolean NOT NULL DEFAULT false
);

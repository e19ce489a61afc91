-- Daily sales rollups, kept current by the report worker as orders complete or are cancelled. Each
-- applied event is recorded in processed_events in the same transaction, so a redelivered event never
-- counts twice.
CREATE TABLE daily_sales (
    day              date PRIMARY KEY,
    orders           integer NOT NULL DEFAULT 0 CHECK (orders >= 0),
    units            integer NOT NULL DEFAULT 0 CHECK (units >= 0),
    gross_cents      bigint NOT NULL DEFAULT 0 CHECK (gross_cents >= 0),
    cancelled_orders integer NOT NULL DEFAULT 0 CHECK (cancelled_orders >= 0)
);

CREATE TABLE daily_product_sales (
    day         date NOT NULL,
    product_id  uuid NOT NULL REFERENCES products (id),
    orders      integer NOT NULL DEFAULT 0 CHECK (orders >= 0),
    units       integer NOT NULL DEFAULT 0 CHECK (units >= 0),
    gross_cents bigint NOT NULL DEFAULT 0 CHECK (gross_cents >= 0),
    PRIMARY KEY (day, product_id)
);

-- Settlement: what merchants are owed (ADR 0009).

-- Each merchant's fee schedule; changing it applies to captures from then on (fees are computed once,
-- when a ledger row is written).
ALTER TABLE merchants
    ADD COLUMN fee_rate_bps    integer NOT NULL DEFAULT 290 CHECK (fee_rate_bps BETWEEN 0 AND 10000),
    ADD COLUMN fee_fixed_cents bigint  NOT NULL DEFAULT 30  CHECK (fee_fixed_cents BETWEEN 0 AND 100000);

-- The ledger: one row per merchant per capture (the merchant's lines of the order) and the matching
-- negative row when that payment is refunded. Written in the transaction that changes the payment;
-- append-only. Settlement reads nothing else. The order and payment ids are kept for tracing, not as
-- foreign keys: the ledger is the accounting record and outlives what it refers to.
CREATE TABLE merchant_transactions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    payment_id  uuid NOT NULL,
    order_id    uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('CAPTURE', 'REFUND')),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    gross_cents bigint NOT NULL CHECK ((kind = 'CAPTURE') = (gross_cents >= 0)),
    fee_cents   bigint NOT NULL CHECK (fee_cents >= 0),
    currency    char(3) NOT NULL,
    -- A payment is captured and refunded at most once per merchant: a second write is a bug, not a row.
    UNIQUE (payment_id, merchant_id, kind)
);
-- Settlement walks a time range in (occurred_at, id) order, batch by batch, from the index alone.
CREATE INDEX merchant_transactions_walk_idx ON merchant_transactions (occurred_at, id)
    INCLUDE (merchant_id, gross_cents, fee_cents);

-- A job's work in progress: who holds it (a lease, so a redelivered message never runs it twice at once),
-- how far the walk got (the last ledger key counted), and the upload being written.
ALTER TABLE jobs
    ADD COLUMN lease_owner      uuid,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN cursor_at        timestamptz,
    ADD COLUMN cursor_id        bigint,
    ADD COLUMN upload_id        text;
CREATE INDEX jobs_kind_idx ON jobs (kind, id DESC);

-- A settlement's totals per merchant and day, added to batch by batch in the same transaction that moves
-- the job's cursor, so a batch counts once whatever fails. The key is the file's order.
CREATE TABLE settlements (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    day         date NOT NULL,
    merchant_id uuid NOT NULL,
    gross_cents bigint NOT NULL,
    fee_cents   bigint NOT NULL,
    txn_count   bigint NOT NULL CHECK (txn_count > 0),
    PRIMARY KEY (job_id, day, merchant_id)
);

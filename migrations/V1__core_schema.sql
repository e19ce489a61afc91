-- Orderly core schema.
-- Conventions: ids are UUID v7 made by the application (time-ordered, so the primary key doubles as a
-- creation-order index for cursor pagination); money is BIGINT minor units with an ISO-4217 currency;
-- every timestamp is timestamptz; status columns are text guarded by CHECK so the legal values live in one
-- place in the database as well as in the domain enums.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%'),
    password_hash text NOT NULL,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role          text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Opaque refresh tokens, stored as hashes only. A family is one login; rotating issues a new row in the
-- same family, and presenting a rotated token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz,
    replaced_by uuid REFERENCES refresh_tokens (id),
    CHECK (expires_at > created_at)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- Service-client keys: the public prefix finds the row, the hash of the whole key proves it.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix       text NOT NULL UNIQUE,
    key_hash     bytea NOT NULL,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE merchants (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    sku         text NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- Optimistic locking: the ETag of the product is this version.
    version     bigint NOT NULL DEFAULT 1 CHECK (version > 0),
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_merchant_idx ON products (merchant_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_search_idx ON products
    USING gin (to_tsvector('simple', name || ' ' || description)) WHERE deleted_at IS NULL;

-- One row per product. Reservation is a conditional update on `available`; the three counters together
-- conserve every unit ever stocked (available + reserved + sold = stocked - written off).
CREATE TABLE inventory (
    product_id          uuid PRIMARY KEY REFERENCES products (id),
    available           integer NOT NULL CHECK (available >= 0),
    reserved            integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold                integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
    low_stock_threshold integer NOT NULL DEFAULT 0 CHECK (low_stock_threshold >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_low_stock_idx ON inventory (product_id) WHERE available <= low_stock_threshold;

CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id),
    status      text NOT NULL CHECK (status IN ('PENDING_PAYMENT', 'PAID', 'FULFILLED', 'COMPLETED',
                                                'PAYMENT_FAILED', 'CANCELLED', 'EXPIRED')),
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- When an unpaid order is expired and its stock released.
    expires_at  timestamptz NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_user_idx ON orders (user_id, id DESC);
CREATE INDEX orders_status_idx ON orders (status, id DESC);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_expiry_idx ON orders (expires_at) WHERE status = 'PENDING_PAYMENT';

CREATE TABLE order_items (
    order_id         uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       uuid NOT NULL REFERENCES products (id),
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX order_items_product_idx ON order_items (product_id);

CREATE TABLE order_status_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status   text,
    to_status     text NOT NULL,
    reason        text,
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order_idx ON order_status_history (order_id, id);

-- One payment per order: the id is the provider's idempotency key, so a redelivered message can never
-- charge twice.
CREATE TABLE payments (
    id                 uuid PRIMARY KEY,
    order_id           uuid NOT NULL UNIQUE REFERENCES orders (id),
    amount_cents       bigint NOT NULL CHECK (amount_cents >= 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status             text NOT NULL CHECK (status IN ('PENDING', 'CAPTURED', 'DECLINED', 'REFUNDED')),
    provider_reference text,
    failure_reason     text,
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    captured_at        timestamptz,
    CHECK ((status = 'CAPTURED') = (captured_at IS NOT NULL) OR status = 'REFUNDED')
);
CREATE INDEX payments_captured_idx ON payments (captured_at, id) WHERE status = 'CAPTURED';

CREATE TABLE notifications (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The event that caused it: a redelivered event finds its row and does not notify twice.
    event_id   uuid,
    type       text NOT NULL,
    title      text NOT NULL,
    message    text NOT NULL,
    data       jsonb NOT NULL DEFAULT '{}',
    status     text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    UNIQUE (event_id, user_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);

CREATE TABLE audit_logs (
    id               uuid PRIMARY KEY,
    actor_user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    actor_api_key_id uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    action           text NOT NULL,
    target_type      text NOT NULL,
    target_id        text,
    before           jsonb,
    after            jsonb,
    request_id       text,
    source_ip        inet,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id, id DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, id DESC);

-- Domain events written in the business transaction; published after commit, swept when left unsent.
CREATE TABLE outbox (
    id             uuid PRIMARY KEY,
    aggregate_type text NOT NULL,
    aggregate_id   uuid NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL,
    correlation_id text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text
);
CREATE INDEX outbox_unpublished_idx ON outbox (created_at) WHERE published_at IS NULL;

-- Consumers deduplicate by event id: one row per (consumer, event) that has been handled.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Idempotency-Key: scoped per principal, with a hash of the request so a reused key with another body is
-- told apart from a retry.
CREATE TABLE idempotency_keys (
    scope           text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL,
    response_status integer CHECK (response_status BETWEEN 100 AND 599),
    response_body   jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('SETTLEMENT', 'REPORT_EXPORT')),
    status           text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    params           jsonb NOT NULL DEFAULT '{}',
    processed        bigint NOT NULL DEFAULT 0 CHECK (processed >= 0),
    total            bigint CHECK (total >= 0),
    result_key       text,
    error            text,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_by       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_status_idx ON jobs (status, id DESC);

-- Live WebSocket connections (API Gateway keeps the socket; we keep who it is and what it follows).
CREATE TABLE ws_connections (
    connection_id text PRIMARY KEY,
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    topics        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 50),
    source_ip     text,
    user_agent    text,
    connected_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ws_connections_topics_idx ON ws_connections USING gin (topics);
CREATE INDEX ws_connections_user_idx ON ws_connections (user_id);
CREATE INDEX ws_connections_connected_at_idx ON ws_connections (connected_at);

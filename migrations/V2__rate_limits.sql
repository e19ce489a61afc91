-- GCRA rate limiting: one row per limited key (user, API key, login IP, login email) holding its
-- "theoretical arrival time". Decided by one atomic upsert per request, shared by every function
-- instance. Rows whose TAT is in the past carry no state and may be deleted at any time.
CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);
CREATE INDEX rate_limits_tat_idx ON rate_limits (tat);

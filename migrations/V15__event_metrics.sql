-- Event metrics and tenant analytics (docs/adr/0014-event-metrics-storage.md).

-- Merchants are the tenants: analytics filter them by plan.
ALTER TABLE merchants
    ADD COLUMN plan text NOT NULL DEFAULT 'standard' CHECK (plan IN ('standard', 'enterprise'));

-- A key made for one merchant's shop sends that merchant's events only; a key without one is the
-- platform's and names the merchant per event.
ALTER TABLE api_keys ADD COLUMN merchant_id uuid REFERENCES merchants (id);

-- Raw events, one partition per calendar month (UTC). There is deliberately no DEFAULT partition: an
-- event for a month without one fails its batch with an error that says so, instead of landing where
-- archival would never find it. No foreign key either: the ingest function checks merchants once per
-- batch, and a per-row check would cost every COPY of 1,000 rows 1,000 lookups.
CREATE TABLE metric_events (
    merchant_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_type  text NOT NULL,
    user_id     text NOT NULL,
    value       double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
-- Events arrive roughly in time order, so a BRIN index finds a time range for a fraction of a B-tree's
-- size and insert cost.
CREATE INDEX metric_events_occurred_brin ON metric_events USING brin (occurred_at);

-- Partitions are made ahead of time by a schedule (and by each migration run). The functions' role has no
-- DDL rights (V5), so the one statement they need runs as this function's owner, with a fixed search
-- path, and can only ever add month partitions of this table.
CREATE FUNCTION metric_events_ensure_partitions(first_month date, last_month date)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    month date := date_trunc('month', first_month)::date;
    made integer := 0;
    name text;
BEGIN
    IF last_month < first_month OR last_month > first_month + interval '10 years' THEN
        RAISE EXCEPTION 'metric_events partitions: % to % is not a range of at most ten years',
            first_month, last_month USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One maker at a time; two instances racing would otherwise both try CREATE.
    PERFORM pg_advisory_xact_lock(hashtext('metric_events_ensure_partitions'));
    WHILE month <= last_month LOOP
        name := 'metric_events_' || to_char(month, 'YYYY_MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF metric_events FOR VALUES FROM (%L) TO (%L)',
                name,
                to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
                to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
            made := made + 1;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
    RETURN made;
END
$$;
REVOKE ALL ON FUNCTION metric_events_ensure_partitions(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metric_events_ensure_partitions(date, date) TO orderly_runtime;

-- Last month to three months ahead exist from the start.
SELECT metric_events_ensure_partitions(
    (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date,
    (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months')::date);

-- Per-minute aggregates per (merchant, event type). Each ingest batch appends its own row per minute and
-- series, so writers never wait on each other's rows; a schedule later merges a closed minute's rows into
-- one (the sketches merge exactly). Readers merge whatever rows a minute has.
CREATE TABLE metric_minutes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id uuid NOT NULL,
    event_type  text NOT NULL,
    minute      timestamptz NOT NULL,
    events      bigint NOT NULL CHECK (events > 0),
    value_sum   double precision NOT NULL,
    value_min   double precision NOT NULL,
    value_max   double precision NOT NULL CHECK (value_max >= value_min),
    -- DDSketch at 1 % relative error, in DataDog's binary encoding.
    sketch      bytea NOT NULL
);
CREATE INDEX metric_minutes_minute_idx ON metric_minutes (minute, merchant_id, event_type);

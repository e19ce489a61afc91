-- Months of raw events moved to S3 (docs/adr/0014-event-metrics-storage.md). A row here is written only
-- after the object was read back and matched; the partition is dropped in the same transaction, and only
-- if it still holds exactly the rows archived.
CREATE TABLE archives (
    month       date PRIMARY KEY CHECK (month = date_trunc('month', month)::date),
    s3_key      text NOT NULL UNIQUE,
    rows        bigint NOT NULL CHECK (rows >= 0),
    bytes       bigint NOT NULL CHECK (bytes > 0),
    -- SHA-256 of the object as stored (the gzip bytes), hex.
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    archived_at timestamptz NOT NULL DEFAULT now()
);

-- Detaches and drops one month's partition of metric_events, as the schema owner (the functions' role
-- has no DDL). It refuses a month that has no archive, or whose partition holds a different number of
-- rows than the archive recorded: nothing is dropped that is not in S3.
CREATE FUNCTION metric_events_drop_archived_partition(archived_month date)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    name text := 'metric_events_' || to_char(archived_month, 'YYYY_MM');
    archived bigint;
    held bigint;
BEGIN
    SELECT a.rows INTO archived FROM archives a WHERE a.month = archived_month;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'metric_events %: no archive recorded, not dropping', archived_month
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF to_regclass(name) IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT count(*) FROM %I', name) INTO held;
    IF held <> archived THEN
        RAISE EXCEPTION 'metric_events %: the partition holds % rows, the archive %; not dropping',
            archived_month, held, archived USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    EXECUTE format('ALTER TABLE metric_events DETACH PARTITION %I', name);
    EXECUTE format('DROP TABLE %I', name);
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION metric_events_drop_archived_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metric_events_drop_archived_partition(date) TO orderly_runtime;

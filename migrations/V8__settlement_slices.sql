-- A settlement walks its range in slices of whole UTC days, each walked by its own connection at the
-- same time (ADR 0009). Each slice keeps its own cursor (the last ledger key counted) and count, moved
-- in the transaction that counts the batch, so a resumed run carries every slice on from where it got
-- to; the job's `processed` is brought up to their sum twice a second.
CREATE TABLE job_slices (
    job_id    uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    slice     integer NOT NULL CHECK (slice >= 0),
    from_at   timestamptz NOT NULL,
    until_at  timestamptz NOT NULL CHECK (until_at > from_at),
    cursor_at timestamptz,
    cursor_id bigint,
    processed bigint NOT NULL DEFAULT 0 CHECK (processed >= 0),
    PRIMARY KEY (job_id, slice)
);

-- A settlement under way at the upgrade carries on as one slice from the job's cursor.
INSERT INTO job_slices (job_id, slice, from_at, until_at, cursor_at, cursor_id, processed)
SELECT id, 0,
       (params ->> 'from')::date::timestamp AT TIME ZONE 'UTC',
       ((params ->> 'to')::date + 1)::timestamp AT TIME ZONE 'UTC',
       cursor_at, cursor_id, processed
  FROM jobs
 WHERE kind = 'SETTLEMENT' AND status IN ('QUEUED', 'RUNNING') AND cursor_at IS NOT NULL;

ALTER TABLE jobs DROP COLUMN cursor_at, DROP COLUMN cursor_id;

-- Restoring an archived month of raw events is a job like a settlement (ADR 0014).
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('SETTLEMENT', 'REPORT_EXPORT', 'ARCHIVE_RESTORE'));

-- When the month was last brought back; archival leaves it in Postgres for 30 days after that.
ALTER TABLE archives ADD COLUMN restored_at timestamptz;

-- Runs of a job that ended in an error. A transient failure is retried once the lease runs out (which
-- spaces the retries) up to a bound; past it, or at once for a permanent error, the job is FAILED.
ALTER TABLE jobs ADD COLUMN failed_runs integer NOT NULL DEFAULT 0 CHECK (failed_runs >= 0);

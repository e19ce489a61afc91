-- Every authenticated request updates its key's row. With an index on `tat`, which every update
-- changes, no update could be HOT: each wrote a new entry into both indexes, and the primary key's
-- uniqueness check and the upsert's conflict probe walked the key's dead versions until vacuum came
-- (docs/adr/0015-unlogged-rate-limits.md). Without it an update stays on its page and
-- touches no index. Housekeeping's hourly `forget_idle` scans the table instead: a row per active key,
-- nothing a scan once an hour notices.
DROP INDEX rate_limits_tat_idx;
-- Room on each page for a key's next versions, so that they stay HOT even on a full page.
ALTER TABLE rate_limits SET (fillfactor = 50);

-- Rate-limit counters are not worth an fsync (docs/adr/0015-unlogged-rate-limits.md). Every request
-- commits its counter on its own, before the request's own work; as a logged table that commit waits for
-- a WAL flush. Unlogged, a transaction that writes only this table commits without one. A crash empties
-- the table: every key starts with a full budget again, which is harmless; nothing else lives here.
ALTER TABLE rate_limits SET UNLOGGED;

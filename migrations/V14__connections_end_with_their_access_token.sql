-- A WebSocket connection is held on the strength of an access token (through the ticket it was opened
-- with), and lives no longer than that token: from its expiry it receives nothing, and the prune schedule
-- closes it, unless the client renewed it with a fresh ticket (`{"action":"renew"}`).
-- Rows from before this migration get the access token lifetime (15 minutes) from now.
ALTER TABLE ws_tickets ADD COLUMN access_expires_at timestamptz NOT NULL DEFAULT now() + interval '15 minutes';
ALTER TABLE ws_tickets ALTER COLUMN access_expires_at DROP DEFAULT;
ALTER TABLE ws_connections ADD COLUMN access_expires_at timestamptz NOT NULL DEFAULT now() + interval '15 minutes';
ALTER TABLE ws_connections ALTER COLUMN access_expires_at DROP DEFAULT;

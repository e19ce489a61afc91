-- A broadcast is cut into pages of members (user-id ranges) when its fan-out starts, and the pages are
-- reached in parallel (ADR 0011), instead of one page after another behind a cursor. A page delivered
-- twice notifies nobody twice: notifications are unique per (event, user), the event being the broadcast.
ALTER TABLE broadcasts
    DROP COLUMN after_user,
    DROP COLUMN finished_at,
    ADD COLUMN pages integer;
COMMENT ON COLUMN broadcasts.pages IS 'set when the members were cut into pages and the pages announced';

-- Whether the user has read a notification (history filter, mark one or all read). Unread ones are
-- what a front end badges, so they get an index of their own.
ALTER TABLE notifications ADD COLUMN read_at timestamptz;
CREATE INDEX notifications_unread_idx ON notifications (user_id, id DESC) WHERE read_at IS NULL;

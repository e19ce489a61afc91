-- Groups of users an admin broadcasts notifications to (docs/websocket.md). A broadcast is stored once and
-- fanned out in pages of members, each page in its own transaction; its cursor (the last member reached)
-- moves with the page, so a page delivered twice never notifies anyone twice.
CREATE TABLE groups (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE broadcasts (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    sent_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    type        text NOT NULL,
    title       text NOT NULL,
    message     text NOT NULL,
    data        jsonb NOT NULL,
    after_user  uuid,
    delivered   bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

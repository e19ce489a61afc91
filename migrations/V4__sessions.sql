-- A session is one sign-in. Its refresh tokens form a family (each rotation adds one); its access tokens
-- carry its id (`sid`). Every change to a session's tokens (rotation, logout, revocation) first locks the
-- session row, so a revocation can never miss a token that a concurrent rotation is issuing.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- The absolute lifetime: no rotation extends a session past it.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    CHECK (expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expiry_idx ON sessions (expires_at);

-- Sessions of the tokens issued before sessions existed: a family becomes a session that ends 90 days
-- after its first token.
INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, revoked_reason)
SELECT family_id,
       (array_agg(user_id))[1],
       min(created_at),
       min(created_at) + interval '90 days',
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN max(revoked_at) END,
       CASE WHEN bool_and(revoked_at IS NOT NULL) THEN 'migrated' END
  FROM refresh_tokens
 GROUP BY family_id;

ALTER TABLE refresh_tokens RENAME COLUMN family_id TO session_id;
ALTER INDEX refresh_tokens_family_idx RENAME TO refresh_tokens_session_idx;
ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_session_fk FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);

-- WebSocket connect tickets: short-lived and single-use, so no long-lived credential travels in a URL
-- (URLs end up in proxy and access logs). Stored hashed, like every other credential.
CREATE TABLE ws_tickets (
    ticket_hash bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX ws_tickets_expiry_idx ON ws_tickets (expires_at);

-- A connection belongs to a session and remembers the role it was opened with: a logout or a demotion
-- ends what the connection may receive.
DELETE FROM ws_connections;
ALTER TABLE ws_connections
    ADD COLUMN session_id uuid REFERENCES sessions (id) ON DELETE CASCADE,
    ADD COLUMN role text CHECK (role IN ('customer', 'admin'));
CREATE INDEX ws_connections_session_idx ON ws_connections (session_id);

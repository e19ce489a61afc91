//! Sessions and their refresh tokens. A session is one sign-in; its refresh tokens (opaque, stored as
//! SHA-256 hashes) form a family that grows by one at every rotation.
//!
//! The locking protocol: whatever changes a session's tokens (rotation, logout, revocation) first locks
//! the session row in a statement of its own, then reads and writes the tokens in later statements of the
//! same transaction. In READ COMMITTED each statement sees what committed before it started, so a
//! revocation that waited for a rotation sees the token the rotation issued, and a rotation that waited for
//! a revocation sees the session revoked. (One statement that locked and updated together would keep the
//! snapshot it started with and miss the new token.)

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::StoreError;

pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The absolute end of the session, whatever the rotations.
    pub expires_at: DateTime<Utc>,
}

/// A refresh token about to be issued: its row id and the hash of its secret.
pub struct NewRefreshToken<'a> {
    pub id: Uuid,
    pub token_hash: &'a [u8],
}

/// Starts a session with its first refresh token, which lives `ttl` (never past the session's end).
pub async fn start(
    db: &impl GenericClient,
    session: &NewSession,
    token: &NewRefreshToken<'_>,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    db.execute(
        "WITH s AS (INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3) RETURNING id, user_id, expires_at)
         INSERT INTO refresh_tokens (id, user_id, session_id, token_hash, expires_at)
         SELECT $4, s.user_id, s.id, $5, least(now() + make_interval(secs => $6), s.expires_at) FROM s",
        &[&session.id, &session.user_id, &session.expires_at, &token.id, &token.token_hash, &ttl.as_secs_f64()],
    )
    .await?;
    Ok(())
}

/// What presenting a refresh token came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// A new token was issued in the session; the presented one stops working.
    Rotated { user_id: Uuid, session_id: Uuid },
    /// No token has this hash.
    Unknown,
    /// Expired, or its session ended or was revoked; nothing changed.
    Refused { user_id: Uuid },
    /// The token was already rotated: it was copied. The whole session is revoked now.
    Reused {
        user_id: Uuid,
        session_id: Uuid,
        revoked_tokens: u64,
    },
}

async fn lock_session(
    tx: &Transaction<'_>,
    session_id: Uuid,
) -> Result<Option<(Uuid, bool)>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT user_id, revoked_at IS NULL AND expires_at > now() FROM sessions WHERE id = $1 FOR UPDATE",
            &[&session_id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

async fn revoke_locked(
    tx: &Transaction<'_>,
    session_id: Uuid,
    reason: &str,
) -> Result<u64, StoreError> {
    Ok(tx
        .execute(
            "WITH s AS (UPDATE sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL)
             UPDATE refresh_tokens SET revoked_at = now() WHERE session_id = $1 AND revoked_at IS NULL",
            &[&session_id, &reason],
        )
        .await?)
}

/// Rotates the token whose hash is `presented`: issues `next` in its session (living `ttl`, never past the
/// session's end) when the token and its session are live.
pub async fn rotate(
    tx: &Transaction<'_>,
    presented: &[u8],
    next: &NewRefreshToken<'_>,
    ttl: std::time::Duration,
) -> Result<Rotation, StoreError> {
    let Some(found) = tx
        .query_opt(
            "SELECT id, session_id FROM refresh_tokens WHERE token_hash = $1",
            &[&presented],
        )
        .await?
    else {
        return Ok(Rotation::Unknown);
    };
    let (token_id, session_id): (Uuid, Uuid) = (found.get(0), found.get(1));
    let Some((user_id, session_live)) = lock_session(tx, session_id).await? else {
        return Ok(Rotation::Unknown);
    };
    // Read again now that the session is locked: a rotation that finished while we waited shows here.
    let token = tx
        .query_one(
            "SELECT rotated_at IS NOT NULL, revoked_at IS NULL AND expires_at > now() FROM refresh_tokens WHERE id = $1",
            &[&token_id],
        )
        .await?;
    let (rotated, token_live): (bool, bool) = (token.get(0), token.get(1));
    if !session_live {
        return Ok(Rotation::Refused { user_id });
    }
    if rotated {
        let revoked_tokens = revoke_locked(tx, session_id, "refresh_reuse").await?;
        return Ok(Rotation::Reused {
            user_id,
            session_id,
            revoked_tokens,
        });
    }
    if !token_live {
        return Ok(Rotation::Refused { user_id });
    }
    tx.execute(
        "WITH issued AS (
             INSERT INTO refresh_tokens (id, user_id, session_id, token_hash, expires_at)
             SELECT $2, s.user_id, s.id, $3, least(now() + make_interval(secs => $4), s.expires_at)
               FROM sessions s WHERE s.id = $5
             RETURNING id)
         UPDATE refresh_tokens SET rotated_at = now(), replaced_by = (SELECT id FROM issued) WHERE id = $1",
        &[&token_id, &next.id, &next.token_hash, &ttl.as_secs_f64(), &session_id],
    )
    .await?;
    Ok(Rotation::Rotated {
        user_id,
        session_id,
    })
}

/// The session and user of the token whose hash is `presented`, if any.
pub async fn of_token(
    db: &impl GenericClient,
    presented: &[u8],
) -> Result<Option<(Uuid, Uuid)>, StoreError> {
    let row = db
        .query_opt(
            "SELECT session_id, user_id FROM refresh_tokens WHERE token_hash = $1",
            &[&presented],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Revokes a session and every token of it; returns how many tokens were still live, or `None` when there
/// is no such session.
pub async fn revoke(
    tx: &Transaction<'_>,
    session_id: Uuid,
    reason: &str,
) -> Result<Option<u64>, StoreError> {
    if lock_session(tx, session_id).await?.is_none() {
        return Ok(None);
    }
    revoke_locked(tx, session_id, reason).await.map(Some)
}

/// Revokes every live session of a user except `keep`; returns the sessions revoked.
pub async fn revoke_all_of_user(
    tx: &Transaction<'_>,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let locked = tx
        .query(
            "SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2
              ORDER BY id FOR UPDATE",
            &[&user_id, &keep],
        )
        .await?;
    let ids: Vec<Uuid> = locked.iter().map(|r| r.get(0)).collect();
    for id in &ids {
        revoke_locked(tx, *id, reason).await?;
    }
    Ok(ids)
}

/// Forgets sessions (with their tokens) that ended more than `grace` ago, and tokens expired that long:
/// nothing can use them any more. Returns (sessions, tokens) deleted.
pub async fn purge_ended(
    db: &impl GenericClient,
    grace: std::time::Duration,
) -> Result<(u64, u64), StoreError> {
    let row = db
        .query_one(
            "WITH ended AS (
                 DELETE FROM sessions
                  WHERE expires_at < now() - make_interval(secs => $1)
                     OR revoked_at < now() - make_interval(secs => $1)
                 RETURNING id),
             expired AS (
                 DELETE FROM refresh_tokens
                  WHERE expires_at < now() - make_interval(secs => $1)
                    AND session_id NOT IN (SELECT id FROM ended)
                 RETURNING 1)
             SELECT (SELECT count(*) FROM ended), (SELECT count(*) FROM expired)",
            &[&grace.as_secs_f64()],
        )
        .await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::{fresh_database, user};

    const DAY: Duration = Duration::from_secs(86_400);

    struct Fixture {
        db: crate::testing::TestDatabase,
        user_id: Uuid,
        session_id: Uuid,
    }

    async fn session_with_token(hash: &[u8]) -> Fixture {
        let db = fresh_database().await;
        let user_id = user(&db.pool).await;
        let session_id = Uuid::now_v7();
        let session = NewSession {
            id: session_id,
            user_id,
            expires_at: Utc::now() + chrono::Duration::days(90),
        };
        let token = NewRefreshToken {
            id: Uuid::now_v7(),
            token_hash: hash,
        };
        start(&db.pool.get().await.unwrap(), &session, &token, 30 * DAY)
            .await
            .unwrap();
        Fixture {
            db,
            user_id,
            session_id,
        }
    }

    async fn live_tokens(f: &Fixture) -> i64 {
        f.db.pool
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND revoked_at IS NULL AND rotated_at IS NULL",
                &[&f.session_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn rotate_now(f: &Fixture, presented: &[u8], next: &[u8]) -> Rotation {
        let mut client = f.db.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let token = NewRefreshToken {
            id: Uuid::now_v7(),
            token_hash: next,
        };
        let outcome = rotate(&tx, presented, &token, 30 * DAY).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    #[tokio::test]
    async fn rotation_issues_one_live_token_and_reuse_revokes_the_session() {
        let f = session_with_token(b"t1").await;
        assert_eq!(
            rotate_now(&f, b"t1", b"t2").await,
            Rotation::Rotated {
                user_id: f.user_id,
                session_id: f.session_id
            }
        );
        assert_eq!(live_tokens(&f).await, 1);
        assert_eq!(
            rotate_now(&f, b"t1", b"t3").await,
            Rotation::Reused {
                user_id: f.user_id,
                session_id: f.session_id,
                revoked_tokens: 2
            },
            "presenting the rotated t1 again revokes t1 and t2"
        );
        assert_eq!(
            rotate_now(&f, b"t2", b"t4").await,
            Rotation::Refused { user_id: f.user_id }
        );
        assert_eq!(rotate_now(&f, b"nope", b"t5").await, Rotation::Unknown);
        assert_eq!(live_tokens(&f).await, 0);
    }

    #[tokio::test]
    async fn a_session_past_its_absolute_end_is_refused_and_tokens_never_outlive_it() {
        let f = session_with_token(b"t1").await;
        let client = f.db.pool.get().await.unwrap();
        client
            .execute(
                "UPDATE sessions SET created_at = now() - interval '91 days', expires_at = now() + interval '1 day' WHERE id = $1",
                &[&f.session_id],
            )
            .await
            .unwrap();
        rotate_now(&f, b"t1", b"t2").await;
        let capped: bool = client
            .query_one(
                "SELECT expires_at <= (SELECT expires_at FROM sessions WHERE id = $1) FROM refresh_tokens WHERE token_hash = 't2'",
                &[&f.session_id],
            )
            .await
            .unwrap()
            .get(0);
        assert!(capped, "a 30-day token is cut at the session's end");
        client
            .execute(
                "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
                &[&f.session_id],
            )
            .await
            .unwrap();
        assert_eq!(
            rotate_now(&f, b"t2", b"t3").await,
            Rotation::Refused { user_id: f.user_id }
        );
    }

    #[tokio::test]
    async fn a_rotation_that_waits_for_a_revocation_issues_nothing() {
        let f = session_with_token(b"t1").await;
        let mut holder = f.db.pool.get().await.unwrap();
        let revocation = holder.transaction().await.unwrap();
        assert_eq!(
            revoke(&revocation, f.session_id, "logout").await.unwrap(),
            Some(1)
        );
        let rotation = {
            let pool = f.db.pool.clone();
            tokio::spawn(async move {
                let mut client = pool.get().await.unwrap();
                let tx = client.transaction().await.unwrap();
                let next = NewRefreshToken {
                    id: Uuid::now_v7(),
                    token_hash: b"t2",
                };
                let outcome = rotate(&tx, b"t1", &next, 30 * DAY).await.unwrap();
                tx.commit().await.unwrap();
                outcome
            })
        };
        crate::testing::until_blocked(&f.db.pool).await;
        revocation.commit().await.unwrap();
        assert_eq!(
            rotation.await.unwrap(),
            Rotation::Refused { user_id: f.user_id }
        );
        assert_eq!(live_tokens(&f).await, 0);
    }

    #[tokio::test]
    async fn a_revocation_that_waits_for_a_rotation_revokes_the_token_it_issued() {
        let f = session_with_token(b"t1").await;
        let mut holder = f.db.pool.get().await.unwrap();
        let rotation = holder.transaction().await.unwrap();
        let next = NewRefreshToken {
            id: Uuid::now_v7(),
            token_hash: b"t2",
        };
        rotate(&rotation, b"t1", &next, 30 * DAY).await.unwrap();
        let revocation = {
            let (pool, session_id) = (f.db.pool.clone(), f.session_id);
            tokio::spawn(async move {
                let mut client = pool.get().await.unwrap();
                let tx = client.transaction().await.unwrap();
                let revoked = revoke(&tx, session_id, "logout").await.unwrap();
                tx.commit().await.unwrap();
                revoked
            })
        };
        crate::testing::until_blocked(&f.db.pool).await;
        rotation.commit().await.unwrap();
        assert_eq!(
            revocation.await.unwrap(),
            Some(2),
            "t1 (rotated) and t2 (issued while the revocation waited)"
        );
        assert_eq!(live_tokens(&f).await, 0);
        assert_eq!(
            rotate_now(&f, b"t2", b"t3").await,
            Rotation::Refused { user_id: f.user_id }
        );
    }

    #[tokio::test]
    async fn revoking_a_users_sessions_keeps_the_one_asked_for() {
        let f = session_with_token(b"a1").await;
        let client = f.db.pool.get().await.unwrap();
        let other = NewSession {
            id: Uuid::now_v7(),
            user_id: f.user_id,
            expires_at: Utc::now() + chrono::Duration::days(90),
        };
        let token = NewRefreshToken {
            id: Uuid::now_v7(),
            token_hash: b"b1",
        };
        start(&client, &other, &token, 30 * DAY).await.unwrap();
        drop(client);
        let mut client = f.db.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let revoked = revoke_all_of_user(&tx, f.user_id, Some(f.session_id), "password_changed")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(revoked, vec![other.id]);
        assert!(matches!(
            rotate_now(&f, b"a1", b"a2").await,
            Rotation::Rotated { .. }
        ));
        assert_eq!(
            rotate_now(&f, b"b1", b"b2").await,
            Rotation::Refused { user_id: f.user_id }
        );
    }

    #[tokio::test]
    async fn ended_sessions_and_long_expired_tokens_are_purged() {
        let f = session_with_token(b"t1").await;
        let client = f.db.pool.get().await.unwrap();
        assert_eq!(purge_ended(&client, DAY).await.unwrap(), (0, 0));
        client
            .execute(
                "UPDATE sessions SET revoked_at = now() - interval '2 days', revoked_reason = 'logout'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(purge_ended(&client, DAY).await.unwrap(), (1, 0));
        assert_eq!(live_tokens(&f).await, 0);
    }
}

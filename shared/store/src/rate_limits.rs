use std::time::Duration;

use deadpool_postgres::GenericClient;
use orderly_domain::rate_limit::{Outcome, Quota};
use orderly_domain::users::Role;
use uuid::Uuid;

use crate::StoreError;

/// The GCRA step for key $1 with emission interval $2 and period $3 (seconds): `admitted` holds the new TAT
/// when the request fits, `blocking` the TAT that refused it otherwise. A refusal reads that TAT with a
/// locking read: in READ COMMITTED that returns the newest committed version, not the statement's
/// (possibly older) snapshot.
macro_rules! gcra {
    () => {
        "admitted AS (
             INSERT INTO rate_limits AS r (key, tat)
             VALUES ($1, now() + make_interval(secs => $2))
             ON CONFLICT (key) DO UPDATE
                SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
              WHERE greatest(r.tat, now()) + make_interval(secs => $2) - now() <= make_interval(secs => $3)
             RETURNING tat
         ),
         blocking AS (
             SELECT tat FROM rate_limits WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM admitted) FOR SHARE
         ),
         outcome AS (
             SELECT tat, true AS allowed FROM admitted UNION ALL SELECT tat, false FROM blocking
         )"
    };
}

fn outcome(row: &tokio_postgres::Row) -> Outcome {
    Outcome {
        tat: row.get("tat"),
        allowed: row.get("allowed"),
    }
}

/// Admits or refuses one request for `key` under `quota`, atomically, in one statement: concurrent
/// requests from any number of instances serialise on the key's row.
pub async fn acquire(
    db: &impl GenericClient,
    key: &str,
    quota: Quota,
) -> Result<Outcome, StoreError> {
    let interval = quota.emission_interval().as_secs_f64();
    let period = quota.period.as_secs_f64();
    let step = db
        .prepare_cached(concat!(
            "WITH ",
            gcra!(),
            " SELECT tat, allowed FROM outcome"
        ))
        .await?;
    let row = run_step(db, &step, &[&key, &interval, &period]).await?;
    Ok(outcome(&row))
}

/// Runs a GCRA statement. It can return no row at all: when it waited on another transaction's insert of
/// the key's first row, lost the conflict and was refused, its plain read of the refusing row uses the
/// statement's snapshot, taken before that insert committed. Such a run wrote nothing, and the next
/// statement takes a new snapshot that sees the row, so it is simply run again.
async fn run_step(
    db: &impl GenericClient,
    step: &tokio_postgres::Statement,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<tokio_postgres::Row, StoreError> {
    const ATTEMPTS: usize = 3;
    for _ in 1..ATTEMPTS {
        if let Some(row) = db.query_opt(step, params).await? {
            return Ok(row);
        }
    }
    Ok(db.query_one(step, params).await?)
}

/// The credential behind a request, as the authorizer (possibly minutes ago) established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session { user_id: Uuid, session_id: Uuid },
    ApiKey { id: Uuid },
}

/// What the database says of a credential now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Still good; for a session, the user's role as it is now.
    Live { role: Option<Role> },
    /// The session ended or was revoked, the user is gone, or the API key was revoked.
    Ended,
}

/// The rate-limit step and a fresh look at the credential, in the one statement every authenticated
/// request already pays for: the authorizer's policy is cached for minutes, and a revocation or a
/// demotion must not wait for it to expire.
pub async fn admit(
    db: &impl GenericClient,
    key: &str,
    quota: Quota,
    credential: Credential,
) -> Result<(Outcome, Standing), StoreError> {
    let interval = quota.emission_interval().as_secs_f64();
    let period = quota.period.as_secs_f64();
    let (user_id, session_id, api_key_id) = match credential {
        Credential::Session {
            user_id,
            session_id,
        } => (Some(user_id), Some(session_id), None),
        Credential::ApiKey { id } => (None, None, Some(id)),
    };
    // Prepared once per connection: every authenticated request runs it, and a parse round trip per
    // request was a tenth of a small request's time.
    let step = db
        .prepare_cached(concat!(
            "WITH ",
            gcra!(),
            " SELECT tat, allowed,
                     (SELECT u.role FROM users u JOIN sessions s ON s.user_id = u.id
                       WHERE u.id = $4 AND s.id = $5 AND s.revoked_at IS NULL AND s.expires_at > now()) AS role,
                     EXISTS (SELECT 1 FROM api_keys WHERE id = $6 AND revoked_at IS NULL) AS key_live
                FROM outcome"
        ))
        .await?;
    let row = run_step(
        db,
        &step,
        &[&key, &interval, &period, &user_id, &session_id, &api_key_id],
    )
    .await?;
    let role: Option<String> = row.get("role");
    let standing = match credential {
        Credential::Session { .. } => match role.as_deref().and_then(Role::parse) {
            Some(role) => Standing::Live { role: Some(role) },
            None => Standing::Ended,
        },
        Credential::ApiKey { .. } if row.get::<_, bool>("key_live") => {
            Standing::Live { role: None }
        }
        Credential::ApiKey { .. } => Standing::Ended,
    };
    Ok((outcome(&row), standing))
}

/// Forgets keys whose quota has fully recovered (they carry no state).
pub async fn forget_idle(db: &impl GenericClient, older_than: Duration) -> Result<u64, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM rate_limits WHERE tat < now() - make_interval(secs => $1)",
            &[&older_than.as_secs_f64()],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;
    use orderly_domain::rate_limit::Quota;

    #[tokio::test]
    async fn admits_the_limit_then_refuses_even_under_concurrency() {
        let db = fresh_database().await;
        let quota = Quota::per_minute(25);
        let attempts = (0..60).map(|_| {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                acquire(&pool.get().await.unwrap(), "ip:198.51.100.1", quota)
                    .await
                    .unwrap()
                    .allowed
            })
        });
        let admitted = futures_count(attempts).await;
        assert_eq!(
            admitted, 25,
            "exactly the quota is admitted, whatever the interleaving"
        );
        let other = acquire(&db.pool.get().await.unwrap(), "ip:198.51.100.2", quota)
            .await
            .unwrap();
        assert!(other.allowed, "keys are independent");
    }

    /// Every request updates its key's row: the update must stay on its page and touch no index
    /// (`pg_stat_user_tables` counts HOT updates), or each one writes index entries and leaves dead
    /// versions for the next request's conflict probe to walk (migration V23).
    #[tokio::test]
    async fn a_keys_counter_is_updated_in_place_without_touching_an_index() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let quota = Quota::per_minute(1_000);
        for _ in 0..50 {
            assert!(acquire(&client, "user:hot", quota).await.unwrap().allowed);
        }
        // Statistics reach the shared counters at the end of a transaction only when forced.
        client
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .unwrap();
        let row = client
            .query_one(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'rate_limits'",
                &[],
            )
            .await
            .unwrap();
        let (updates, hot): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(updates, 49, "the first request inserts, the others update");
        assert_eq!(hot, updates, "every update is HOT");
    }

    #[tokio::test]
    async fn a_revoked_session_or_key_and_a_changed_role_show_at_once() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let (user_id, session_id) = crate::testing::signed_in(&db.pool).await;
        let quota = Quota::per_minute(100);
        let session = Credential::Session {
            user_id,
            session_id,
        };
        let (_, standing) = admit(&client, "user:a", quota, session).await.unwrap();
        assert_eq!(
            standing,
            Standing::Live {
                role: Some(Role::Customer)
            }
        );
        client
            .execute("UPDATE users SET role = 'admin' WHERE id = $1", &[&user_id])
            .await
            .unwrap();
        let (_, standing) = admit(&client, "user:a", quota, session).await.unwrap();
        assert_eq!(
            standing,
            Standing::Live {
                role: Some(Role::Admin)
            }
        );
        client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'",
                &[],
            )
            .await
            .unwrap();
        let (outcome, standing) = admit(&client, "user:a", quota, session).await.unwrap();
        assert_eq!(standing, Standing::Ended);
        assert!(outcome.allowed, "the limit is counted all the same");

        let key_id = Uuid::now_v7();
        client
            .execute(
                "INSERT INTO api_keys (id, name, prefix, key_hash) VALUES ($1, 'k', 'abcdefabcdef', '\\x00')",
                &[&key_id],
            )
            .await
            .unwrap();
        let key = Credential::ApiKey { id: key_id };
        let (_, standing) = admit(&client, "key:a", quota, key).await.unwrap();
        assert_eq!(standing, Standing::Live { role: None });
        client
            .execute("UPDATE api_keys SET revoked_at = now()", &[])
            .await
            .unwrap();
        let (_, standing) = admit(&client, "key:a", quota, key).await.unwrap();
        assert_eq!(standing, Standing::Ended);
        let unknown = Credential::ApiKey { id: Uuid::now_v7() };
        assert_eq!(
            admit(&client, "key:b", quota, unknown).await.unwrap().1,
            Standing::Ended
        );
    }

    #[tokio::test]
    async fn a_refusal_behind_the_keys_first_insert_still_answers() {
        let db = fresh_database().await;
        let mut first = db.pool.get().await.unwrap();
        let first = first.transaction().await.unwrap();
        let inserted: chrono::DateTime<chrono::Utc> = first
            .query_one(
                "INSERT INTO rate_limits (key, tat) VALUES ('k', now() + interval '1 hour') RETURNING tat",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let pool = db.pool.clone();
        let refused = tokio::spawn(async move {
            acquire(&pool.get().await.unwrap(), "k", Quota::per_minute(1)).await
        });
        // The second statement must take its snapshot before the insert commits.
        crate::testing::until_blocked(&db.pool).await;
        first.commit().await.unwrap();
        let outcome = refused.await.unwrap().unwrap();
        assert!(!outcome.allowed);
        assert_eq!(
            outcome.tat, inserted,
            "the refusal names the TAT that refused it"
        );
    }

    async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
        let mut admitted = 0;
        for task in tasks.collect::<Vec<_>>() {
            admitted += usize::from(task.await.unwrap());
        }
        admitted
    }

    #[tokio::test]
    async fn a_refusal_reports_the_blocking_tat_and_idle_keys_are_forgotten() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let quota = Quota::per_minute(1);
        let first = acquire(&client, "k", quota).await.unwrap();
        let second = acquire(&client, "k", quota).await.unwrap();
        assert!(first.allowed && !second.allowed);
        assert_eq!(second.tat, first.tat, "a refusal leaves the TAT alone");
        client
            .execute(
                "UPDATE rate_limits SET tat = now() - interval '2 hours'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(
            forget_idle(&client, Duration::from_secs(3600))
                .await
                .unwrap(),
            1
        );
    }
}

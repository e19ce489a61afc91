use std::time::Duration;

use deadpool_postgres::GenericClient;
use orderly_domain::rate_limit::{Outcome, Quota};

use crate::StoreError;

/// Admits or refuses one request for `key` under `quota`, atomically, in one statement: concurrent
/// requests from any number of instances serialise on the key's row.
pub async fn acquire(
    db: &impl GenericClient,
    key: &str,
    quota: Quota,
) -> Result<Outcome, StoreError> {
    let interval = quota.emission_interval().as_secs_f64();
    let period = quota.period.as_secs_f64();
    let row = db
        .query_one(
            // A refusal reads the TAT that refused it with a locking read: in READ COMMITTED that returns
            // the newest committed version, not the statement's (possibly older) snapshot.
            "WITH admitted AS (
                 INSERT INTO rate_limits AS r (key, tat)
                 VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (key) DO UPDATE
                    SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
                  WHERE greatest(r.tat, now()) + make_interval(secs => $2) - now() <= make_interval(secs => $3)
                 RETURNING tat
             ),
             blocking AS (
                 SELECT tat FROM rate_limits WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM admitted) FOR SHARE
             )
             SELECT tat, true FROM admitted
             UNION ALL
             SELECT tat, false FROM blocking",
            &[&key, &interval, &period],
        )
        .await?;
    Ok(Outcome {
        tat: row.get(0),
        allowed: row.get(1),
    })
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

//! `Idempotency-Key`: the first request with a key does the work and stores its response in the same
//! transaction; a retry with the same body replays that response; the same key with another body is
//! refused. A concurrent duplicate waits on the key's row until the first commits, then replays.

use chrono::Duration;
use deadpool_postgres::GenericClient;
use serde_json::Value;

use crate::StoreError;

#[derive(Debug, PartialEq)]
pub enum Claim {
    /// Go ahead, and `complete` the key in the same transaction.
    New,
    Replay {
        status: i32,
        body: Value,
    },
    /// The key was used for a different request.
    Mismatch,
}

pub async fn claim(
    db: &impl GenericClient,
    scope: &str,
    key: &str,
    request_hash: &[u8],
    ttl: Duration,
) -> Result<Claim, StoreError> {
    let expires = chrono::Utc::now() + ttl;
    // A key past its expiry is taken over as new.
    let claimed = db
        .query_opt(
            "INSERT INTO idempotency_keys (scope, key, request_hash, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (scope, key) DO UPDATE
                SET request_hash = EXCLUDED.request_hash, response_status = NULL, response_body = NULL,
                    created_at = now(), expires_at = EXCLUDED.expires_at
              WHERE idempotency_keys.expires_at < now()
             RETURNING 1",
            &[&scope, &key, &request_hash, &expires],
        )
        .await?;
    if claimed.is_some() {
        return Ok(Claim::New);
    }
    let row = db
        .query_one("SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE scope = $1 AND key = $2", &[&scope, &key])
        .await?;
    let stored_hash: Vec<u8> = row.get(0);
    if stored_hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    let (status, body): (Option<i32>, Option<Value>) = (row.get(1), row.get(2));
    Ok(Claim::Replay {
        status: status.unwrap_or(500),
        body: body.unwrap_or(Value::Null),
    })
}

/// Stores a claimed key's response: `$1` scope, `$2` key, `$3` status, `$4` body.
pub(crate) const COMPLETE: &str = "UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE scope = $1 AND key = $2";

/// A claimed key's response, to store in the request's transaction.
pub struct Completion<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub status: i32,
    pub body: &'a Value,
}

impl Completion<'_> {
    pub(crate) fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 4] {
        [&self.scope, &self.key, &self.status, self.body]
    }
}

pub async fn complete(
    db: &impl GenericClient,
    completion: Completion<'_>,
) -> Result<(), StoreError> {
    let statement = db.prepare_cached(COMPLETE).await?;
    db.execute(&statement, &completion.params()).await?;
    Ok(())
}

/// Forgets keys that expired (a retry after expiry is a new request anyway). Returns how many.
pub async fn purge_expired(db: &impl GenericClient) -> Result<u64, StoreError> {
    Ok(db
        .execute("DELETE FROM idempotency_keys WHERE expires_at < now()", &[])
        .await?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::fresh_database;

    #[tokio::test]
    async fn a_key_replays_its_response_refuses_another_request_and_is_new_again_after_expiry() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let ttl = Duration::hours(24);
        assert_eq!(
            claim(&client, "user:a", "k1", b"order-1", ttl)
                .await
                .unwrap(),
            Claim::New
        );
        complete(
            &client,
            Completion {
                scope: "user:a",
                key: "k1",
                status: 201,
                body: &json!({"id": 1}),
            },
        )
        .await
        .unwrap();
        assert_eq!(
            claim(&client, "user:a", "k1", b"order-1", ttl)
                .await
                .unwrap(),
            Claim::Replay {
                status: 201,
                body: json!({"id": 1})
            }
        );
        assert_eq!(
            claim(&client, "user:a", "k1", b"order-2", ttl)
                .await
                .unwrap(),
            Claim::Mismatch
        );
        assert_eq!(
            claim(&client, "user:b", "k1", b"order-2", ttl)
                .await
                .unwrap(),
            Claim::New,
            "keys are scoped per caller"
        );
        client
            .execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE scope = 'user:a'", &[])
            .await
            .unwrap();
        assert_eq!(
            claim(&client, "user:a", "k1", b"order-2", ttl)
                .await
                .unwrap(),
            Claim::New,
            "an expired key is taken over"
        );
        client
            .execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE scope = 'user:b'", &[])
            .await
            .unwrap();
        assert_eq!(purge_expired(&client).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_concurrent_duplicate_waits_for_the_first_and_replays_it() {
        let db = fresh_database().await;
        let ttl = Duration::hours(24);
        let mut first = db.pool.get().await.unwrap();
        let first = first.transaction().await.unwrap();
        assert_eq!(
            claim(&first, "user:a", "k", b"same", ttl).await.unwrap(),
            Claim::New
        );
        let duplicate = {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                let client = pool.get().await.unwrap();
                claim(&client, "user:a", "k", b"same", ttl).await.unwrap()
            })
        };
        // The duplicate blocks on the key's row until the first request commits.
        crate::testing::until_blocked(&db.pool).await;
        complete(
            &first,
            Completion {
                scope: "user:a",
                key: "k",
                status: 201,
                body: &json!({"placed": true}),
            },
        )
        .await
        .unwrap();
        first.commit().await.unwrap();
        assert_eq!(
            duplicate.await.unwrap(),
            Claim::Replay {
                status: 201,
                body: json!({"placed": true})
            }
        );
    }
}

//! Live WebSocket connections: who is connected, and which topics each one follows.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection<'a> {
    pub connection_id: &'a str,
    pub user_id: Option<Uuid>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// What following more topics came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// The connection now follows these topics (sorted).
    Now(Vec<String>),
    /// The connection is not (or no longer) known.
    UnknownConnection,
    /// The union would exceed the per-connection limit; nothing changed.
    TooMany,
}

pub async fn record(
    db: &impl GenericClient,
    connection: &NewConnection<'_>,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO ws_connections (connection_id, user_id, source_ip, user_agent) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connection_id) DO NOTHING",
        &[&connection.connection_id, &connection.user_id, &connection.source_ip, &connection.user_agent],
    )
    .await?;
    Ok(())
}

/// The user a connection belongs to, and whether they are an admin.
pub async fn follower(
    db: &impl GenericClient,
    connection_id: &str,
) -> Result<Option<(Uuid, bool)>, StoreError> {
    let row = db
        .query_opt(
            "SELECT u.id, u.role = 'admin' FROM ws_connections c JOIN users u ON u.id = c.user_id WHERE c.connection_id = $1",
            &[&connection_id],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Returns whether the connection was known.
pub async fn forget(db: &impl GenericClient, connection_id: &str) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM ws_connections WHERE connection_id = $1",
            &[&connection_id],
        )
        .await?
        == 1)
}

pub async fn follow(
    db: &impl GenericClient,
    connection_id: &str,
    topics: &[String],
) -> Result<Followed, StoreError> {
    // One statement: the union is computed and bounded (CHECK on cardinality) where the row is locked.
    let row = db
        .query_opt(
            "UPDATE ws_connections
                SET topics = ARRAY(SELECT DISTINCT t FROM unnest(topics || $2::text[]) AS t ORDER BY t),
                    last_seen_at = now()
              WHERE connection_id = $1
          RETURNING topics",
            &[&connection_id, &topics],
        )
        .await;
    match row {
        Ok(Some(row)) => Ok(Followed::Now(row.get(0))),
        Ok(None) => Ok(Followed::UnknownConnection),
        Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => Ok(Followed::TooMany),
        Err(e) => Err(e.into()),
    }
}

/// Stops following the given topics; returns what is still followed, or `None` for an unknown connection.
pub async fn unfollow(
    db: &impl GenericClient,
    connection_id: &str,
    topics: &[String],
) -> Result<Option<Vec<String>>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE ws_connections
                SET topics = ARRAY(SELECT t FROM unnest(topics) AS t WHERE t <> ALL($2::text[]) ORDER BY t),
                    last_seen_at = now()
              WHERE connection_id = $1
          RETURNING topics",
            &[&connection_id, &topics],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn touch(db: &impl GenericClient, connection_id: &str) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "UPDATE ws_connections SET last_seen_at = now() WHERE connection_id = $1",
            &[&connection_id],
        )
        .await?;
    Ok(n == 1)
}

/// The connections an event reaches: those following any of `topics`, and those of `owner` that follow
/// their own orders.
pub async fn audience(
    db: &impl GenericClient,
    topics: &[String],
    owner: Option<Uuid>,
) -> Result<Vec<String>, StoreError> {
    let rows = db
        .query(
            "SELECT connection_id FROM ws_connections WHERE topics && $1::text[]
             UNION
             SELECT connection_id FROM ws_connections WHERE user_id = $2 AND 'orders' = ANY (topics)",
            &[&topics, &owner],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Forgets every connection opened before `cutoff` and returns their ids (to be closed at the gateway).
pub async fn forget_connected_before(
    db: &impl GenericClient,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let rows = db
        .query(
            "DELETE FROM ws_connections WHERE connected_at < $1 RETURNING connection_id",
            &[&cutoff],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;
    use orderly_domain::live_updates::MAX_TOPICS_PER_CONNECTION;

    fn connection(id: &str) -> NewConnection<'_> {
        NewConnection {
            connection_id: id,
            user_id: None,
            source_ip: Some("127.0.0.1"),
            user_agent: None,
        }
    }

    #[tokio::test]
    async fn follows_unions_and_unfollows() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        record(&client, &connection("c1")).await.unwrap();

        let first = follow(&client, "c1", &["order:b".into(), "order:a".into()])
            .await
            .unwrap();
        assert_eq!(
            first,
            Followed::Now(vec!["order:a".into(), "order:b".into()])
        );
        let again = follow(&client, "c1", &["order:b".into(), "group:x".into()])
            .await
            .unwrap();
        assert_eq!(
            again,
            Followed::Now(vec!["group:x".into(), "order:a".into(), "order:b".into()])
        );

        let left = unfollow(&client, "c1", &["order:a".into()]).await.unwrap();
        assert_eq!(left, Some(vec!["group:x".into(), "order:b".into()]));
        assert_eq!(
            follow(&client, "nope", &["orders".into()]).await.unwrap(),
            Followed::UnknownConnection
        );
        assert_eq!(unfollow(&client, "nope", &[]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_database_bounds_the_topics_of_one_connection() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        record(&client, &connection("c1")).await.unwrap();
        let half: Vec<String> = (0..MAX_TOPICS_PER_CONNECTION / 2)
            .map(|i| format!("group:a{i}"))
            .collect();
        let other: Vec<String> = (0..=MAX_TOPICS_PER_CONNECTION / 2)
            .map(|i| format!("group:b{i}"))
            .collect();
        assert!(
            matches!(follow(&client, "c1", &half).await.unwrap(), Followed::Now(t) if t.len() == half.len())
        );
        assert_eq!(
            follow(&client, "c1", &other).await.unwrap(),
            Followed::TooMany
        );
        // Nothing changed by the refused call.
        assert_eq!(
            unfollow(&client, "c1", &[]).await.unwrap().unwrap().len(),
            half.len()
        );
    }

    #[tokio::test]
    async fn audience_matches_topics_and_the_owners_order_stream() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let owner = orderly_domain::new_id();
        client
            .execute(
                "INSERT INTO users (id, email, password_hash, name) VALUES ($1, 'a@example.com', 'x', 'A')",
                &[&owner],
            )
            .await
            .unwrap();
        for id in ["follows-order", "follows-other", "owner-all", "owner-quiet"] {
            let user_id = id.starts_with("owner").then_some(owner);
            record(
                &client,
                &NewConnection {
                    user_id,
                    ..connection(id)
                },
            )
            .await
            .unwrap();
        }
        follow(&client, "follows-order", &["order:1".into()])
            .await
            .unwrap();
        follow(&client, "follows-other", &["order:2".into()])
            .await
            .unwrap();
        follow(&client, "owner-all", &["orders".into()])
            .await
            .unwrap();

        let mut reached = audience(&client, &["order:1".into()], Some(owner))
            .await
            .unwrap();
        reached.sort();
        assert_eq!(
            reached,
            vec!["follows-order".to_owned(), "owner-all".to_owned()]
        );
        assert!(
            audience(&client, &["order:3".into()], None)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn forgets_only_connections_older_than_the_cutoff() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        record(&client, &connection("old")).await.unwrap();
        record(&client, &connection("new")).await.unwrap();
        client
            .execute("UPDATE ws_connections SET connected_at = now() - interval '3 hours' WHERE connection_id = 'old'", &[])
            .await
            .unwrap();
        let cutoff = Utc::now() - chrono::Duration::hours(2);
        assert_eq!(
            forget_connected_before(&client, cutoff).await.unwrap(),
            vec!["old".to_owned()]
        );
        assert!(!forget(&client, "old").await.unwrap());
        assert!(forget(&client, "new").await.unwrap());
    }
}

//! The outbox: events committed with the business change, published by the relay as they commit,
//! swept when the relay did not publish them (relay down, outage). Consumers deduplicate by event id.

use std::collections::HashSet;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use orderly_domain::events::EventEnvelope;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use crate::orders::OutboxEvent;
use crate::prepared;

#[derive(Debug, Clone, PartialEq)]
pub struct Unpublished {
    pub id: Uuid,
    pub event_type: String,
    pub payload: Value,
    pub correlation_id: Option<String>,
    /// How long the event has waited, from its transaction's start to the claim.
    pub waited: Duration,
}

/// Writes an event in the caller's transaction (order changes write theirs inside their own statement).
pub async fn insert(db: &impl GenericClient, event: &OutboxEvent) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, correlation_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &event.id,
            &event.aggregate_type,
            &event.aggregate_id,
            &event.event_type,
            &event.payload,
            &event.correlation_id,
        ],
    )
    .await?;
    Ok(())
}

pub async fn record_failure(
    db: &impl GenericClient,
    id: Uuid,
    error: &str,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        &[&id, &error],
    )
    .await?;
    Ok(())
}

/// Marks events published, in one statement.
pub async fn mark_all_published(db: &impl GenericClient, ids: &[Uuid]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    prepared::execute(
        db,
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
        &[&ids],
    )
    .await?;
    Ok(())
}

/// Which unpublished events a claim takes, by age. The relay takes the young ones as they commit; the
/// sweeper takes what the relay did not publish within `RELAY_WINDOW`. Between them they cover every
/// row, and neither waits on the other (`SKIP LOCKED`).
#[derive(Debug, Clone, Copy)]
pub enum Claim {
    YoungerThan(Duration),
    OlderThan(Duration),
}

/// Unpublished events of the given age, oldest first, locked so that concurrent claimers take
/// different rows. `created_at` is its transaction's start: a transaction that ran longer than the
/// window leaves its events to the sweeper.
pub async fn claim_unpublished(
    db: &impl GenericClient,
    claim: Claim,
    limit: i64,
) -> Result<Vec<Unpublished>, StoreError> {
    let (statement, age) = match claim {
        Claim::YoungerThan(age) => (
            "SELECT id, event_type, payload, correlation_id,
                    extract(epoch FROM clock_timestamp() - created_at)::float8 FROM outbox
              WHERE published_at IS NULL AND created_at >= now() - make_interval(secs => $1)
              ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            age,
        ),
        Claim::OlderThan(age) => (
            "SELECT id, event_type, payload, correlation_id,
                    extract(epoch FROM clock_timestamp() - created_at)::float8 FROM outbox
              WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
              ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            age,
        ),
    };
    let rows = prepared::query(db, statement, &[&age.as_secs_f64(), &limit]).await?;
    Ok(rows
        .iter()
        .map(|r| Unpublished {
            id: r.get(0),
            event_type: r.get(1),
            payload: r.get(2),
            correlation_id: r.get(3),
            waited: Duration::from_secs_f64(r.get::<_, f64>(4).max(0.0)),
        })
        .collect())
}

/// Whether any event younger than `age` waits to be published: the relay's idle check, one index probe.
pub async fn any_unpublished_younger_than(
    db: &impl GenericClient,
    age: Duration,
) -> Result<bool, StoreError> {
    let row = prepared::query_one(
        db,
            "SELECT EXISTS (SELECT 1 FROM outbox
                             WHERE published_at IS NULL AND created_at >= now() - make_interval(secs => $1))",
            &[&age.as_secs_f64()],
        )
        .await?;
    Ok(row.get(0))
}

/// Records that `consumer` handled each of `events`; returns those it had not handled before, in one
/// statement. A redelivery is not a first delivery, and neither is a second copy in the same batch (the
/// relay publishes a row again when it dies between publishing and marking it sent, and a poller can
/// receive both copies together): each new event comes back once, as its first copy.
pub async fn first_deliveries<'a>(
    db: &impl GenericClient,
    consumer: &str,
    events: &'a [EventEnvelope],
) -> Result<Vec<&'a EventEnvelope>, StoreError> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let rows = prepared::query(
        db,
        "INSERT INTO processed_events (consumer, event_id)
         SELECT $1, e FROM unnest($2::uuid[]) AS e ORDER BY e
         ON CONFLICT DO NOTHING RETURNING event_id",
        &[&consumer, &ids],
    )
    .await?;
    let mut new: HashSet<Uuid> = rows.iter().map(|r| r.get(0)).collect();
    Ok(events.iter().filter(|e| new.remove(&e.event_id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;
    use serde_json::json;

    async fn insert_aged(db: &impl GenericClient, age_seconds: f64) -> Uuid {
        let id = Uuid::now_v7();
        db.execute(
            "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at)
             VALUES ($1, 'order', $1, 'order.placed', $2, now() - make_interval(secs => $3))",
            &[&id, &json!({"event_id": id}), &age_seconds],
        )
        .await
        .unwrap();
        id
    }

    #[tokio::test]
    async fn a_second_copy_in_the_batch_and_a_redelivery_are_not_first_deliveries() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let event = |id: Uuid| EventEnvelope {
            event_id: id,
            occurred_at: chrono::Utc::now(),
            correlation_id: None,
            event: orderly_domain::events::Event::InventoryChanged(
                orderly_domain::events::InventoryChanged {
                    product_ids: vec![id],
                },
            ),
        };
        let (a, b) = (event(Uuid::now_v7()), event(Uuid::now_v7()));
        let batch = [a.clone(), b.clone(), a.clone()];
        let ids = |firsts: Vec<&EventEnvelope>| -> Vec<Uuid> {
            firsts.iter().map(|e| e.event_id).collect()
        };
        let first = first_deliveries(&client, "test", &batch).await.unwrap();
        assert_eq!(ids(first), [a.event_id, b.event_id]);
        let redelivered = [b.clone(), a.clone()];
        let again = first_deliveries(&client, "test", &redelivered)
            .await
            .unwrap();
        assert!(again.is_empty());
        let other_consumer = [a.clone()];
        let elsewhere = first_deliveries(&client, "another", &other_consumer)
            .await
            .unwrap();
        assert_eq!(ids(elsewhere), [a.event_id], "each consumer counts its own");
    }

    #[tokio::test]
    async fn the_relay_and_the_sweeper_claim_by_age_and_never_the_same_row() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let window = Duration::from_secs(30);
        let young = insert_aged(&client, 1.0).await;
        let old = insert_aged(&client, 300.0).await;
        let published = insert_aged(&client, 2.0).await;
        mark_all_published(&client, &[published]).await.unwrap();
        assert!(any_unpublished_younger_than(&client, window).await.unwrap());

        let mut relay_client = db.pool.get().await.unwrap();
        let relay = relay_client.transaction().await.unwrap();
        let relayed = claim_unpublished(&relay, Claim::YoungerThan(window), 100)
            .await
            .unwrap();
        assert_eq!(relayed.iter().map(|e| e.id).collect::<Vec<_>>(), [young]);
        // How long it waited, which the relay's gathering window reads.
        let waited = relayed[0].waited;
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(30),
            "{waited:?}"
        );
        // A second relay (runs overlap) skips the row the first holds.
        let mut other_client = db.pool.get().await.unwrap();
        let other = other_client.transaction().await.unwrap();
        assert!(
            claim_unpublished(&other, Claim::YoungerThan(window), 100)
                .await
                .unwrap()
                .is_empty()
        );
        let swept = claim_unpublished(&other, Claim::OlderThan(window), 100)
            .await
            .unwrap();
        assert_eq!(swept.iter().map(|e| e.id).collect::<Vec<_>>(), [old]);
        assert!(swept[0].waited >= Duration::from_secs(300));
        other.rollback().await.unwrap();

        mark_all_published(&relay, &[young]).await.unwrap();
        relay.commit().await.unwrap();
        assert!(!any_unpublished_younger_than(&client, window).await.unwrap());
        let attempts: Vec<i32> = client
            .query("SELECT attempts FROM outbox ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            attempts,
            [1, 0, 1],
            "young and published marked once, old untouched"
        );
    }
}

//! The outbox: events committed with the business change, published after commit, swept when a
//! publish did not happen (crash, outage). Consumers deduplicate by event id.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use crate::orders::OutboxEvent;

#[derive(Debug, Clone, PartialEq)]
pub struct Unpublished {
    pub id: Uuid,
    pub event_type: String,
    pub payload: Value,
    pub correlation_id: Option<String>,
}

/// Writes an event in the caller's transaction (order changes write theirs inside their own statement).
pub async fn insert(db: &impl GenericClient, event: &OutboxEvent) -> Result<(), StoreError> {
    db.execute(
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

pub async fn mark_published(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute(
        "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = $1",
        &[&id],
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

/// Unpublished events older than `grace` (younger ones are still being published by their own
/// request), oldest first, locked so that concurrent sweepers take different rows.
pub async fn claim_unpublished(
    db: &impl GenericClient,
    grace: Duration,
    limit: i64,
) -> Result<Vec<Unpublished>, StoreError> {
    let rows = db
        .query(
            "SELECT id, event_type, payload, correlation_id FROM outbox
              WHERE published_at IS NULL AND created_at < now() - make_interval(secs => $1)
              ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&grace.as_secs_f64(), &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Unpublished {
            id: r.get(0),
            event_type: r.get(1),
            payload: r.get(2),
            correlation_id: r.get(3),
        })
        .collect())
}

/// Records that `consumer` handled `event_id`; false when it already had (a redelivery).
pub async fn first_delivery(
    db: &impl GenericClient,
    consumer: &str,
    event_id: Uuid,
) -> Result<bool, StoreError> {
    let inserted = db
        .execute(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&consumer, &event_id],
        )
        .await?;
    Ok(inserted == 1)
}

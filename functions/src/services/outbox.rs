//! Publishing outbox events to the `order-events` topic: right after the commit that wrote them, and
//! by the sweeper for any a crash or an outage left behind. A failed publish is only recorded: the
//! event is already safe in Postgres.

use std::time::Duration;

use chrono::Utc;
use orderly_cloud::EventPublisher;
use orderly_domain::events::{Event, EventEnvelope};
use orderly_http::ApiError;
use orderly_store::orders::OutboxEvent;
use orderly_store::outbox;
use serde_json::Value;

use super::db;
use crate::State;

/// Events younger than this are still being published by the request that wrote them.
const SWEEP_GRACE: Duration = Duration::from_secs(30);
const SWEEP_BATCH: i64 = 200;

/// The outbox row for an event: its payload is the whole envelope, so what is published later is
/// exactly what was committed.
pub fn event(event: Event, correlation_id: Option<String>) -> OutboxEvent {
    let id = orderly_domain::new_id();
    let event_type = event.event_type();
    let (aggregate_id, _) = event.order();
    let envelope = EventEnvelope {
        event_id: id,
        occurred_at: Utc::now(),
        correlation_id: correlation_id.clone(),
        event,
    };
    OutboxEvent {
        id,
        event_type,
        aggregate_id,
        payload: serde_json::to_value(envelope).expect("an envelope serialises"),
        correlation_id,
    }
}

async fn publish_one(
    state: &State,
    event_type: &str,
    payload: &Value,
    correlation_id: Option<&str>,
) -> Result<(), String> {
    state
        .topic
        .publish(event_type, &payload.to_string(), correlation_id)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Publishes events committed a moment ago. Never fails the request: what does not go out now, the
/// sweeper sends.
pub async fn publish_committed(state: &State, events: &[OutboxEvent]) {
    if !state.config.publish_after_commit {
        return;
    }
    for e in events {
        let outcome =
            publish_one(state, e.event_type, &e.payload, e.correlation_id.as_deref()).await;
        let recorded = match state.db.get().await {
            Ok(client) => match &outcome {
                Ok(()) => outbox::mark_published(&client, e.id).await,
                Err(error) => outbox::record_failure(&client, e.id, error).await,
            },
            Err(pool) => Err(pool.into()),
        };
        if let Err(error) = outcome {
            tracing::warn!(event_id = %e.id, event_type = e.event_type, %error, "publish failed; the sweeper will retry");
        }
        if let Err(error) = recorded {
            tracing::warn!(event_id = %e.id, %error, "could not record the publish outcome");
        }
    }
}

/// Publishes what was left unpublished; returns how many went out.
pub async fn sweep(state: &State) -> Result<usize, ApiError> {
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let pending = outbox::claim_unpublished(&tx, SWEEP_GRACE, SWEEP_BATCH)
        .await
        .map_err(db)?;
    let mut published = 0;
    for event in &pending {
        match publish_one(
            state,
            &event.event_type,
            &event.payload,
            event.correlation_id.as_deref(),
        )
        .await
        {
            Ok(()) => {
                outbox::mark_published(&tx, event.id).await.map_err(db)?;
                published += 1;
            }
            Err(error) => outbox::record_failure(&tx, event.id, &error)
                .await
                .map_err(db)?,
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(published)
}

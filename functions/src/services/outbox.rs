//! Publishing outbox events to the `order-events` topic: right after the commit that wrote them, and
//! by the sweeper for any a crash or an outage left behind. A failed publish is only recorded: the
//! event is already safe in Postgres.

use std::time::{Duration, SystemTime};

use chrono::Utc;
use orderly_cloud::{CloudError, EventPublisher};
use orderly_domain::events::{Event, EventEnvelope};

use orderly_store::orders::OutboxEvent;
use orderly_store::outbox;
use serde_json::Value;

use super::ServiceError;
use crate::State;

/// Events younger than this are still being published by the request that wrote them.
const SWEEP_GRACE: Duration = Duration::from_secs(30);
const SWEEP_BATCH: i64 = 200;
/// Publishes in flight at once while sweeping: SNS takes them in parallel.
const SWEEP_PUBLISHES_AT_ONCE: usize = 10;
/// A sweep claims no new batch with less than this left before the invocation's deadline.
const SWEEP_MARGIN: Duration = Duration::from_secs(15);

pub(super) fn envelope(event: Event, correlation_id: Option<String>) -> EventEnvelope {
    EventEnvelope {
        event_id: orderly_domain::new_id(),
        occurred_at: Utc::now(),
        correlation_id,
        event,
    }
}

/// The outbox row for an event: its payload is the whole envelope, so what is published later is
/// exactly what was committed.
pub fn event(event: Event, correlation_id: Option<String>) -> OutboxEvent {
    let event_type = event.event_type();
    let (aggregate_type, aggregate_id, _) = event.subject();
    let envelope = envelope(event, correlation_id.clone());
    let id = envelope.event_id;
    OutboxEvent {
        id,
        event_type,
        aggregate_type,
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
) -> Result<(), CloudError> {
    state
        .topic
        .publish(event_type, &payload.to_string(), correlation_id)
        .await
        .map(drop)
}

/// Publishes an event that is worth nothing once stale (a job's progress) straight to the topic, with
/// no outbox row: a lost one is replaced by the next. Like every publish from a function, it is left
/// out when the sweeper publishes (`OUTBOX_PUBLISH=sweeper`).
pub async fn publish_transient(state: &State, event: Event) {
    if !state.config.publish_after_commit {
        return;
    }
    let event_type = event.event_type();
    let payload = serde_json::to_value(envelope(event, None)).expect("an envelope serialises");
    if let Err(error) = publish_one(state, event_type, &payload, None).await {
        tracing::warn!(event_type, %error, "transient event not published");
    }
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
                Err(error) => outbox::record_failure(&client, e.id, &error.to_string()).await,
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

/// Publishes what was left unpublished, batch after batch until none is left or `deadline` (the
/// invocation's, less a margin) comes near; returns how many went out. One batch at a time would be 200
/// events a minute: an hour of SNS outage at 50 orders a second would take days to send.
pub async fn sweep(state: &State, deadline: Option<SystemTime>) -> Result<usize, ServiceError> {
    let mut published = 0;
    loop {
        let (sent, claimed) = sweep_batch(state).await?;
        published += sent;
        let time_left = deadline.is_none_or(|d| {
            d.duration_since(SystemTime::now())
                .is_ok_and(|left| left > SWEEP_MARGIN)
        });
        // A short batch means the outbox is empty; a batch with nothing sent means the topic is down.
        if claimed < SWEEP_BATCH as usize || sent == 0 || !time_left {
            return Ok(published);
        }
    }
}

/// One batch: claims up to `SWEEP_BATCH` rows, publishes them `SWEEP_PUBLISHES_AT_ONCE` at a time, and
/// records each outcome; returns (published, claimed).
async fn sweep_batch(state: &State) -> Result<(usize, usize), ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let pending = outbox::claim_unpublished(&tx, SWEEP_GRACE, SWEEP_BATCH).await?;
    let mut outcomes = Vec::with_capacity(pending.len());
    for chunk in pending.chunks(SWEEP_PUBLISHES_AT_ONCE) {
        let publishes = chunk.iter().map(|event| {
            publish_one(
                state,
                &event.event_type,
                &event.payload,
                event.correlation_id.as_deref(),
            )
        });
        outcomes.extend(futures::future::join_all(publishes).await);
    }
    let mut published = 0;
    for (event, outcome) in pending.iter().zip(outcomes) {
        match outcome {
            Ok(()) => {
                outbox::mark_published(&tx, event.id).await?;
                published += 1;
            }
            Err(error) => outbox::record_failure(&tx, event.id, &error.to_string()).await?,
        }
    }
    tx.commit().await?;
    Ok((published, pending.len()))
}

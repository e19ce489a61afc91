//! Publishing outbox events to the `order-events` topic. No function publishes what it commits: the
//! relay claims events as they commit and sends them ten to a `PublishBatch`, and the sweeper sends
//! whatever the relay did not within its window (relay down, topic down). A failed publish is only
//! recorded: the event is already safe in Postgres. See docs/adr/0017-outbox-relay.md.

use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use orderly_cloud::{EventPublisher, OutgoingEvent, PUBLISH_BATCH_MAX, publish_batches};
use orderly_domain::events::{Event, EventEnvelope};

use orderly_store::orders::OutboxEvent;
use orderly_store::outbox::{self, Claim, Unpublished};

use super::ServiceError;
use crate::State;

/// Events younger than this are the relay's; older ones the sweeper's.
pub const RELAY_WINDOW: Duration = Duration::from_secs(30);
/// One relay invocation runs this long; the schedule starts the next one each minute.
const RELAY_RUN: Duration = Duration::from_secs(60);
/// A relay run stops this long before its invocation's deadline.
const RELAY_MARGIN: Duration = Duration::from_secs(5);
/// Claims in flight at once in one relay run: while one batch is at SNS, the next is being claimed.
const RELAY_LANES: usize = 2;
const RELAY_BATCH: i64 = 100;
/// How often an idle relay looks for new commits: the most an event waits for the relay to notice it.
const RELAY_IDLE_POLL: Duration = Duration::from_millis(10);
/// A claim of less than a full `PublishBatch` is published only once its oldest event has waited this
/// long; until then the relay lets more commits gather. Below about 400 orders a second the relay
/// otherwise claimed one or two events at a time: a Postgres transaction and an SNS call for each, a
/// third of what the stack spent on an order (docs/adr/0028-relay-gathers-full-batches.md).
const RELAY_GATHER: Duration = Duration::from_millis(25);
/// After a claim that sent nothing (topic down) or a database error, the relay waits this long.
const RELAY_BACKOFF: Duration = Duration::from_secs(1);
const SWEEP_BATCH: i64 = 200;
/// `PublishBatch` calls in flight at once: SNS takes them in parallel.
const BATCHES_AT_ONCE: usize = 10;
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

/// Publishes an event that is worth nothing once stale (a job's progress) straight to the topic, with
/// no outbox row: a lost one is replaced by the next. Left out, like the relay, in sweeper mode.
pub async fn publish_transient(state: &State, event: Event) {
    if !state.config.outbox_relay {
        return;
    }
    let event_type = event.event_type();
    let body = serde_json::to_string(&envelope(event, None)).expect("an envelope serialises");
    if let Err(error) = state.topic.publish(event_type, &body, None).await {
        tracing::warn!(event_type, %error, "transient event not published");
    }
}

/// Publishes claimed events in the batches SNS takes (`publish_batches`: ten events or 256 KiB) with
/// `BATCHES_AT_ONCE` calls in flight; one outcome per event, in order.
async fn publish_all(state: &State, events: &[Unpublished]) -> Vec<Result<(), String>> {
    let bodies: Vec<String> = events.iter().map(|e| e.payload.to_string()).collect();
    let outgoing: Vec<OutgoingEvent<'_>> = events
        .iter()
        .zip(&bodies)
        .map(|(e, body)| OutgoingEvent {
            event_type: &e.event_type,
            body,
            correlation_id: e.correlation_id.as_deref(),
        })
        .collect();
    let batches = publish_batches(&outgoing);
    let mut outcomes = Vec::with_capacity(events.len());
    for wave in batches.chunks(BATCHES_AT_ONCE) {
        let calls = wave.iter().map(|batch| publish_batch(state, batch));
        for batch in futures::future::join_all(calls).await {
            outcomes.extend(batch);
        }
    }
    outcomes
}

async fn publish_batch(state: &State, events: &[OutgoingEvent<'_>]) -> Vec<Result<(), String>> {
    match state.topic.publish_batch(events).await {
        Ok(outcomes) => outcomes,
        Err(error) => vec![Err(error.to_string()); events.len()],
    }
}

/// What one claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimed {
    /// Published `sent` of the `claimed` events (the rest are recorded as failed, for a retry).
    Sent { sent: usize, claimed: usize },
    /// Fewer than a full batch, all younger than the gathering window: nothing was published, and the
    /// oldest will have waited out the window after this long.
    Gathering(Duration),
}

/// Whether a claim is published now or left to gather more commits, by `gather` (none: always now):
/// a full `PublishBatch` goes at once, a smaller one when its oldest event has waited `gather`.
fn gathering(pending: &[Unpublished], gather: Option<Duration>) -> Option<Duration> {
    let oldest = pending.first()?.waited;
    let gather = gather?;
    (pending.len() < PUBLISH_BATCH_MAX && oldest < gather).then(|| gather - oldest)
}

/// Claims up to `limit` unpublished events, publishes them and records each outcome, all in the claim's
/// transaction (its row locks keep every other claimer off these events). A claim `gathering` holds
/// back is let go unpublished.
async fn publish_claimed(
    state: &State,
    claim: Claim,
    limit: i64,
    gather: Option<Duration>,
) -> Result<Claimed, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let pending = outbox::claim_unpublished(&tx, claim, limit).await?;
    if let Some(wait) = gathering(&pending, gather) {
        tx.rollback().await?;
        return Ok(Claimed::Gathering(wait));
    }
    if pending.is_empty() {
        return Ok(Claimed::Sent {
            sent: 0,
            claimed: 0,
        });
    }
    let outcomes = publish_all(state, &pending).await;
    let mut published = Vec::with_capacity(pending.len());
    for (event, outcome) in pending.iter().zip(outcomes) {
        match outcome {
            Ok(()) => published.push(event.id),
            Err(error) => {
                tracing::warn!(event_id = %event.id, event_type = event.event_type, %error, "publish failed; will retry");
                outbox::record_failure(&tx, event.id, &error).await?;
            }
        }
    }
    outbox::mark_all_published(&tx, &published).await?;
    tx.commit().await?;
    Ok(Claimed::Sent {
        sent: published.len(),
        claimed: pending.len(),
    })
}

/// The relay: for about a minute (or until `deadline` less a margin), publishes events as they commit.
/// Returns how many went out. Idle, it looks for new commits every `RELAY_IDLE_POLL`.
pub async fn relay(state: &State, deadline: Option<SystemTime>) -> usize {
    if !state.config.outbox_relay {
        return 0;
    }
    let run = deadline
        .and_then(|d| d.duration_since(SystemTime::now()).ok())
        .map_or(RELAY_RUN, |left| {
            RELAY_RUN.min(left.saturating_sub(RELAY_MARGIN))
        });
    let stop = Instant::now() + run;
    let lanes = (0..RELAY_LANES).map(|_| relay_lane(state, stop));
    futures::future::join_all(lanes).await.into_iter().sum()
}

async fn relay_lane(state: &State, stop: Instant) -> usize {
    let mut published = 0;
    while Instant::now() < stop {
        let claim = Claim::YoungerThan(RELAY_WINDOW);
        match publish_claimed(state, claim, RELAY_BATCH, Some(RELAY_GATHER)).await {
            Ok(Claimed::Gathering(wait)) => tokio::time::sleep(wait).await,
            Ok(Claimed::Sent { sent: 0, claimed }) if claimed > 0 => {
                tokio::time::sleep(RELAY_BACKOFF).await;
            }
            // Something was claimed: more may have committed meanwhile, claim again at once.
            Ok(Claimed::Sent { sent, claimed }) if claimed > 0 => published += sent,
            Ok(Claimed::Sent { .. }) => wait_for_commits(state, stop).await,
            Err(error) => {
                tracing::warn!(%error, "outbox relay could not claim; retrying");
                tokio::time::sleep(RELAY_BACKOFF).await;
            }
        }
    }
    published
}

/// Returns once an unpublished event is waiting (or at `stop`).
async fn wait_for_commits(state: &State, stop: Instant) {
    while Instant::now() < stop {
        tokio::time::sleep(RELAY_IDLE_POLL).await;
        let waiting = match state.db.get().await {
            Ok(client) => outbox::any_unpublished_younger_than(&client, RELAY_WINDOW).await,
            Err(error) => Err(error.into()),
        };
        match waiting {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "outbox relay could not look for commits; retrying");
                tokio::time::sleep(RELAY_BACKOFF).await;
            }
        }
    }
}

/// Publishes what the relay left unpublished, batch after batch until none is left or `deadline` (the
/// invocation's, less a margin) comes near; returns how many went out. After an hour of SNS outage at
/// 50 orders a second, it must catch up in minutes, not days.
pub async fn sweep(state: &State, deadline: Option<SystemTime>) -> Result<usize, ServiceError> {
    let mut published = 0;
    loop {
        let claim = Claim::OlderThan(RELAY_WINDOW);
        // Only a gathering window holds a claim back, and the sweeper has none.
        let Claimed::Sent { sent, claimed } =
            publish_claimed(state, claim, SWEEP_BATCH, None).await?
        else {
            return Ok(published);
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(count: usize, oldest_ms: u64) -> Vec<Unpublished> {
        (0..count)
            .map(|n| Unpublished {
                id: orderly_domain::new_id(),
                event_type: "order.placed".into(),
                payload: serde_json::json!({}),
                correlation_id: None,
                // Oldest first, as a claim returns them.
                waited: Duration::from_millis(oldest_ms.saturating_sub(n as u64)),
            })
            .collect()
    }

    const GATHER: Option<Duration> = Some(Duration::from_millis(25));

    #[test]
    fn a_full_batch_goes_at_once() {
        assert_eq!(gathering(&waiting(PUBLISH_BATCH_MAX, 0), GATHER), None);
        assert_eq!(gathering(&waiting(37, 1), GATHER), None);
    }

    #[test]
    fn a_young_partial_batch_waits_out_the_rest_of_the_window() {
        assert_eq!(
            gathering(&waiting(3, 10), GATHER),
            Some(Duration::from_millis(15))
        );
    }

    #[test]
    fn a_partial_batch_that_has_waited_the_window_goes() {
        assert_eq!(gathering(&waiting(1, 25), GATHER), None);
        assert_eq!(gathering(&waiting(9, 400), GATHER), None);
    }

    #[test]
    fn the_sweeper_and_an_empty_claim_never_gather() {
        assert_eq!(gathering(&waiting(1, 0), None), None);
        assert_eq!(gathering(&[], GATHER), None);
    }
}

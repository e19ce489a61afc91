//! Live updates over WebSocket: connections, what they follow, and delivering events to them.

use chrono::{Duration, Utc};
use orderly_cloud::{ConnectionPusher, PushError};
use std::collections::HashMap;

use futures::StreamExt;
use orderly_domain::events::{Event, EventEnvelope, NotificationSent};
use orderly_domain::jobs::JobStatus;
use orderly_domain::live_updates::{ClientMessage, Topic, audience_of, may_follow, parse_topics};
use orderly_store::ws_connections::{self, Followed, NewConnection};
use orderly_store::ws_tickets;
use orderly_store::{Pool, StoreError};
use serde_json::{Value, json};
use thiserror::Error;
use uuid::Uuid;

use super::tokens;

impl From<DeliveryError> for super::ServiceError {
    fn from(error: DeliveryError) -> Self {
        match error {
            DeliveryError::Store(e) => e.into(),
            // Pushes that failed for another reason than a gone client are retried with the message.
            push @ DeliveryError::Push { .. } => {
                super::ServiceError::Cloud(orderly_cloud::CloudError {
                    operation: "execute-api:PostToConnection",
                    message: push.to_string(),
                })
            }
        }
    }
}

/// API Gateway closes every WebSocket connection after two hours.
pub const MAX_CONNECTION_AGE: Duration = Duration::hours(2);

#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{failed} of {attempted} pushes failed; first: {first}")]
    Push {
        failed: usize,
        attempted: usize,
        first: PushError,
    },
}

/// How long a connect ticket may wait to be used.
pub const TICKET_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A single-use ticket that opens one WebSocket connection for the caller's session within `TICKET_TTL`.
pub async fn issue_ticket(
    db: &Pool,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<String, StoreError> {
    let (ticket, hash) = tokens::new_connect_ticket();
    ws_tickets::issue(&db.get().await?, &hash, user_id, session_id, TICKET_TTL).await?;
    Ok(ticket)
}

/// Why `$connect` was refused.
#[derive(Debug, Error)]
pub enum ConnectRefusal {
    #[error("connect with ?ticket= from POST /api/v1/ws/ticket (single use, valid 30 s)")]
    NoValidTicket,
    #[error("this user already has {0} open connections")]
    TooManyConnections(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens a connection for the holder of `ticket`, using the ticket up.
pub async fn connect(
    db: &Pool,
    ticket: &str,
    connection_id: &str,
    source_ip: Option<&str>,
    user_agent: Option<&str>,
    cap: u32,
) -> Result<(), ConnectRefusal> {
    let mut client = db.get().await.map_err(StoreError::from)?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    let holder = ws_tickets::redeem(&tx, &tokens::sha256(ticket))
        .await?
        .ok_or(ConnectRefusal::NoValidTicket)?;
    let connection = NewConnection {
        connection_id,
        user_id: holder.user_id,
        session_id: holder.session_id,
        role: holder.role,
        source_ip,
        user_agent,
    };
    if !ws_connections::record(&tx, &connection, cap).await? {
        // The ticket stays used: a refused connect is not a free retry.
        tx.commit().await.map_err(StoreError::from)?;
        return Err(ConnectRefusal::TooManyConnections(cap));
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

pub async fn disconnect(db: &Pool, connection_id: &str) -> Result<(), StoreError> {
    ws_connections::forget(&db.get().await?, connection_id)
        .await
        .map(drop)
}

fn error_reply(code: &str, message: impl ToString) -> Value {
    json!({"type": "error", "code": code, "message": message.to_string()})
}

/// Handles one client message and returns the reply to send back on the socket.
pub async fn on_message(db: &Pool, connection_id: &str, body: &str) -> Result<Value, StoreError> {
    let message: ClientMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(e) => {
            return Ok(error_reply(
                "BAD_MESSAGE",
                format!("expected {{\"action\": subscribe|unsubscribe|ping, …}}: {e}"),
            ));
        }
    };
    let db = db.get().await?;
    Ok(match message {
        ClientMessage::Ping => {
            ws_connections::touch(&db, connection_id).await?;
            // A client cannot otherwise learn its own id, which support and tests need.
            json!({"type": "pong", "connection_id": connection_id})
        }
        ClientMessage::Subscribe { topics } => match parse_topics(&topics) {
            Err(e) => error_reply("INVALID_TOPIC", e),
            Ok(topics) => {
                let Some((user, is_admin)) = ws_connections::follower(&db, connection_id).await?
                else {
                    return Ok(error_reply(
                        "UNKNOWN_CONNECTION",
                        "connection is not registered",
                    ));
                };
                for topic in &topics {
                    let owner = match topic {
                        Topic::Order(order) => orderly_store::orders::owner(&db, *order).await?,
                        _ => None,
                    };
                    if !may_follow(topic, user, is_admin, owner) {
                        let refusal = format!(
                            "you may follow only your own orders, not {}",
                            topic.as_text()
                        );
                        return Ok(error_reply("FORBIDDEN_TOPIC", refusal));
                    }
                }
                let texts: Vec<String> = topics.iter().map(|t| t.as_text()).collect();
                match ws_connections::follow(&db, connection_id, &texts).await? {
                    Followed::Now(all) => json!({"type": "subscribed", "topics": all}),
                    Followed::TooMany => error_reply(
                        "TOO_MANY_TOPICS",
                        orderly_domain::live_updates::TopicError::TooMany,
                    ),
                    Followed::UnknownConnection => {
                        error_reply("UNKNOWN_CONNECTION", "connection is not registered")
                    }
                }
            }
        },
        ClientMessage::Unsubscribe { topics } => {
            match ws_connections::unfollow(&db, connection_id, &topics).await? {
                Some(all) => json!({"type": "subscribed", "topics": all}),
                None => error_reply("UNKNOWN_CONNECTION", "connection is not registered"),
            }
        }
    })
}

/// What each recipient of a `notification.sent` receives: `{"type": "notification", "notification":
/// {…}}`, the notification as the history shows it.
pub fn notification_message(sent: &NotificationSent, notification_id: Uuid) -> Value {
    json!({
        "type": "notification",
        "notification": {
            "id": notification_id,
            "type": sent.kind,
            "title": sent.title,
            "message": sent.message,
            "data": sent.data,
            "timestamp": sent.timestamp,
        },
    })
}

/// What a client following a topic receives for an event: every order event becomes an `order.status`
/// update, a job event a `job.progress` update, carrying the event's fields.
pub fn client_message(envelope: &EventEnvelope) -> Value {
    let (kind, status) = match &envelope.event {
        Event::OrderPlaced(_)
        | Event::OrderPaid(_)
        | Event::OrderFulfilled(_)
        | Event::OrderCompleted(_)
        | Event::OrderPaymentFailed(_)
        | Event::OrderCancelled(_)
        | Event::OrderExpired(_) => ("order.status", json!(envelope.event.order_status())),
        Event::JobRequested(_) => ("job.progress", json!(JobStatus::Queued)),
        Event::JobProgress(e) => ("job.progress", json!(e.status)),
        Event::NotificationSent(_) => ("notification", Value::Null),
    };
    let event_type = envelope.event.event_type();
    let mut message = json!({"type": kind, "event": event_type, "event_id": envelope.event_id, "at": envelope.occurred_at, "status": status});
    let data = serde_json::to_value(&envelope.event).expect("an event serialises")["data"].take();
    if let (Some(target), Some(fields)) = (message.as_object_mut(), data.as_object()) {
        for (key, value) in fields {
            target.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    message
}

#[derive(Debug, Default, PartialEq)]
pub struct Delivery {
    pub pushed: usize,
    pub gone: usize,
}

/// Pushes at once to the gateway at most this many: enough to hide its latency, few enough not to trip
/// its rate limit with one event.
const PUSHES_AT_ONCE: usize = 50;

/// Pushes an event to its audience: a notification to every connection of its recipients, anything else
/// to the connections following it. Gone connections are forgotten; any other failure fails the
/// delivery so the message is retried (clients may then see an update twice, never zero times).
pub async fn deliver(
    db: &Pool,
    pusher: &impl ConnectionPusher,
    event: &EventEnvelope,
) -> Result<Delivery, DeliveryError> {
    let client = db.get().await.map_err(StoreError::from)?;
    let pushes: Vec<(String, Vec<u8>)> = match &event.event {
        Event::NotificationSent(sent) => {
            let users: Vec<Uuid> = sent.recipients.iter().map(|r| r.user_id).collect();
            let notification_of: HashMap<Uuid, Uuid> = sent
                .recipients
                .iter()
                .map(|r| (r.user_id, r.notification_id))
                .collect();
            ws_connections::of_users(&client, &users)
                .await?
                .into_iter()
                .map(|(connection, user)| {
                    let message = notification_message(sent, notification_of[&user]);
                    (
                        connection,
                        serde_json::to_vec(&message).expect("JSON values serialise"),
                    )
                })
                .collect()
        }
        _ => {
            let audience = audience_of(&event.event);
            let (owner, stream) = &audience.owner;
            let targets =
                ws_connections::audience(&client, &audience.topics, *owner, stream).await?;
            let payload =
                serde_json::to_vec(&client_message(event)).expect("JSON values serialise");
            targets
                .into_iter()
                .map(|id| (id, payload.clone()))
                .collect()
        }
    };
    drop(client);
    let calls: Vec<_> = pushes
        .iter()
        .map(|(id, payload)| pusher.push(id, payload.clone()))
        .collect();
    let outcomes: Vec<_> = futures::stream::iter(calls)
        .buffered(PUSHES_AT_ONCE)
        .collect()
        .await;

    let mut delivery = Delivery::default();
    let mut failures = Vec::new();
    for ((id, _), outcome) in pushes.iter().zip(outcomes) {
        match outcome {
            Ok(()) => delivery.pushed += 1,
            Err(PushError::Gone(_)) => {
                delivery.gone += 1;
                disconnect(db, id).await?;
            }
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(delivery),
        failed => Err(DeliveryError::Push {
            failed,
            attempted: pushes.len(),
            first: failures.swap_remove(0),
        }),
    }
}

/// Forgets connections older than API Gateway allows, and those whose session ended or whose user's role
/// changed (a logout or a demotion), and closes any the gateway still holds.
pub async fn prune(db: &Pool, pusher: &impl ConnectionPusher) -> Result<usize, StoreError> {
    let stale =
        ws_connections::forget_ended(&db.get().await?, Utc::now() - MAX_CONNECTION_AGE).await?;
    for id in &stale {
        match pusher.close(id).await {
            Ok(()) | Err(PushError::Gone(_)) => {}
            Err(e) => {
                tracing::warn!(connection_id = %id, error = %e, "could not close a stale connection")
            }
        }
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_domain::orders::OrderStatus;

    #[test]
    fn order_events_become_order_status_updates_with_their_fields() {
        let order = Uuid::now_v7();
        let event = EventEnvelope {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            correlation_id: None,
            event: Event::order_changed(orderly_domain::events::OrderChanged {
                order_id: order,
                user_id: Uuid::now_v7(),
                status: OrderStatus::Paid,
                previous_status: OrderStatus::PendingPayment,
                total_cents: 4999,
                currency: "EUR".into(),
            }),
        };
        let message = client_message(&event);
        assert_eq!(message["type"], "order.status");
        assert_eq!(message["event"], "order.paid");
        assert_eq!(message["status"], "PAID");
        assert_eq!(message["order_id"], json!(order));
    }
}

//! Live updates over WebSocket: connections, what they follow, and delivering events to them.

use chrono::{DateTime, Duration, Utc};
use orderly_cloud::{ConnectionPusher, PushError};
use std::collections::HashMap;

use futures::StreamExt;
use orderly_domain::events::{
    ConnectionResumed, Event, EventEnvelope, InventoryChanged, NotificationSent, OrdersRejected,
    RejectedOrder,
};
use orderly_domain::jobs::JobStatus;
use orderly_domain::live_updates::{
    ClientMessage, Standing, Topic, audience_of, may_follow, parse_topics,
};
use orderly_domain::notifications::Notification;
use orderly_store::inventory::{self, PushTurn};
use orderly_store::notifications;
use orderly_store::outbox as outbox_store;
use orderly_store::ws_connections::{self, Followed, NewConnection};
use orderly_store::ws_tickets;
use orderly_store::{Pool, StoreError};
use serde::Serialize;
use serde_json::{Value, json};
use thiserror::Error;
use uuid::Uuid;

use super::{outbox, tokens};
use crate::State;

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

/// How long a connection whose access token expired stays open (receiving nothing) for the client to
/// `renew` it: a renewal sent a little late, or crossing the expiry on a slow network, keeps the socket
/// instead of racing the prune schedule.
pub const RENEWAL_GRACE: Duration = Duration::minutes(1);

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

/// A single-use ticket that opens one WebSocket connection for the caller's session within `TICKET_TTL`
/// (or renews one: `{"action":"renew"}`), valid no longer than the caller's access token.
pub async fn issue_ticket(db: &Pool, bearer: &ws_tickets::Bearer) -> Result<String, StoreError> {
    let (ticket, hash) = tokens::new_connect_ticket();
    ws_tickets::issue(&db.get().await?, &hash, bearer, TICKET_TTL).await?;
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

/// Who opens a connection, from where, and from which notification on it resumes.
pub struct Opening<'a> {
    pub ticket: &'a str,
    pub connection_id: &'a str,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// `?since=`: the last notification the client had; it is sent what came after, then live ones.
    pub since: Option<Uuid>,
}

/// Opens a connection for the holder of the ticket, using the ticket up. A resuming connection is
/// announced (`connection.resumed`, in the same transaction) for the push worker to catch it up.
pub async fn connect(state: &State, opening: Opening<'_>, cap: u32) -> Result<(), ConnectRefusal> {
    let mut client = state.db.get().await.map_err(StoreError::from)?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    let holder = ws_tickets::redeem(&tx, &tokens::sha256(opening.ticket))
        .await?
        .ok_or(ConnectRefusal::NoValidTicket)?;
    let connection = NewConnection {
        connection_id: opening.connection_id,
        user_id: holder.user_id,
        session_id: holder.session_id,
        role: holder.role,
        source_ip: opening.source_ip,
        user_agent: opening.user_agent,
        since: opening.since,
        access_expires_at: holder.access_expires_at,
    };
    if !ws_connections::record(&tx, &connection, cap).await? {
        // The ticket stays used: a refused connect is not a free retry.
        tx.commit().await.map_err(StoreError::from)?;
        return Err(ConnectRefusal::TooManyConnections(cap));
    }
    let resumed = opening.since.map(|_| {
        outbox::event(
            Event::ConnectionResumed(ConnectionResumed {
                connection_id: opening.connection_id.to_owned(),
                user_id: holder.user_id,
            }),
            None,
        )
    });
    if let Some(event) = &resumed {
        outbox_store::insert(&tx, event)
            .await
            .map_err(ConnectRefusal::Store)?;
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
                format!("expected {{\"action\": subscribe|unsubscribe|ping|renew, …}}: {e}"),
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
                    let standing = match topic {
                        Topic::Order(order) => Standing {
                            order_owner: orderly_store::orders::owner(&db, *order).await?,
                            ..Standing::default()
                        },
                        Topic::Group(group) => Standing {
                            group_member: match group.parse() {
                                Ok(id) => orderly_store::groups::is_member(&db, id, user).await?,
                                Err(_) => false,
                            },
                            ..Standing::default()
                        },
                        _ => Standing::default(),
                    };
                    if !may_follow(topic, user, is_admin, &standing) {
                        let refusal = format!(
                            "you may follow only your own orders and groups you are in, not {}",
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
        ClientMessage::Renew { ticket } => {
            match ws_tickets::redeem(&db, &tokens::sha256(&ticket)).await? {
                None => error_reply(
                    "INVALID_TICKET",
                    "renew with a fresh ticket from POST /api/v1/ws/ticket (single use, valid 30 s)",
                ),
                Some(holder) => match ws_connections::renew(&db, connection_id, &holder).await? {
                    true => {
                        json!({"type": "renewed", "access_expires_at": holder.access_expires_at})
                    }
                    false => error_reply(
                        "RECONNECT",
                        "this connection cannot be renewed (another user's ticket, or the role changed): reconnect",
                    ),
                },
            }
        }
        ClientMessage::Unsubscribe { topics } => {
            match ws_connections::unfollow(&db, connection_id, &topics).await? {
                Some(all) => json!({"type": "subscribed", "topics": all}),
                None => error_reply("UNKNOWN_CONNECTION", "connection is not registered"),
            }
        }
    })
}

/// `{"type":"notification","notification":{id,type,title,message,data,timestamp}}`: what a stored
/// notification is on a socket, live or caught up. Serialised from borrowed fields, so a page's thousand
/// pushes build no JSON values and copy no content.
#[derive(Serialize)]
struct NotificationMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    notification: NotificationBody<'a>,
}

#[derive(Serialize)]
struct NotificationBody<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    message: &'a str,
    data: &'a Value,
    timestamp: DateTime<Utc>,
}

impl<'a> NotificationMessage<'a> {
    /// The live push of one recipient's notification.
    fn live(sent: &'a NotificationSent, notification_id: Uuid) -> Self {
        Self::of(NotificationBody {
            id: notification_id,
            kind: &sent.kind,
            title: &sent.title,
            message: &sent.message,
            data: &sent.data,
            timestamp: sent.timestamp,
        })
    }

    /// A stored notification as a catch-up sends it: the same message as the live push.
    fn stored(n: &'a Notification) -> Self {
        Self::of(NotificationBody {
            id: n.id,
            kind: &n.kind,
            title: &n.title,
            message: &n.message,
            data: &n.data,
            timestamp: n.created_at,
        })
    }

    fn of(notification: NotificationBody<'a>) -> Self {
        Self {
            kind: "notification",
            notification,
        }
    }
}

/// What a client following a topic receives for an event: every order event becomes an `order.status`
/// update, a job event a `job.progress` update, carrying the event's fields.
pub fn client_message(envelope: &EventEnvelope) -> Value {
    let (kind, status) = match &envelope.event {
        Event::OrderQueued(_)
        | Event::OrderPlaced(_)
        | Event::OrderPaid(_)
        | Event::OrderFulfilled(_)
        | Event::OrderCompleted(_)
        | Event::OrderPaymentFailed(_)
        | Event::OrderCancelled(_)
        | Event::OrderExpired(_) => ("order.status", json!(envelope.event.order_status())),
        Event::JobRequested(_) => ("job.progress", json!(JobStatus::Queued)),
        Event::JobProgress(e) => ("job.progress", json!(e.status)),
        Event::NotificationSent(_)
        | Event::ConnectionResumed(_)
        | Event::InventoryChanged(_)
        | Event::GroupBroadcast(_) => ("notification", Value::Null),
        // Pushed per order (`rejection_message`), each with its own rejection.
        Event::OrdersRejected(_) => (
            "order.status",
            json!(orderly_domain::orders::OrderStatus::RejectedOutOfStock),
        ),
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

/// What the owner and the followers of one rejected flash-sale order receive: the `order.status` update
/// any order event makes, for that order.
fn rejection_message(
    envelope: &EventEnvelope,
    rejected: &OrdersRejected,
    order: &RejectedOrder,
) -> Value {
    let mut message = client_message(envelope);
    message["order_id"] = json!(order.order_id);
    message["user_id"] = json!(order.user_id);
    message["product_id"] = json!(rejected.product_id);
    message["status"] = json!(order.status);
    if let Some(fields) = message.as_object_mut() {
        fields.remove("orders");
    }
    message
}

/// Who a batch of events reaches, looked up for the whole batch in one round trip: the connections
/// following each order an event is about (its topic, or its owner's `orders`), and the stock followers
/// of each product a placement or a count names. The push worker's batch would otherwise cost a query
/// per event and one more per product. What is not here (a job's followers, the products of a cancelled
/// order) `deliver` and `push_stock` look up themselves.
#[derive(Debug, Default)]
pub struct BatchAudience {
    /// Every order of the batch: its followers' connections, possibly none.
    orders: HashMap<Uuid, Vec<String>>,
    /// Every product named by a stock-changing event of the batch: its followers' connections.
    stock: HashMap<Uuid, Vec<String>>,
}

impl BatchAudience {
    pub async fn of(db: &Pool, events: &[EventEnvelope]) -> Result<Self, StoreError> {
        let mut audience = BatchAudience::default();
        let mut orders = Vec::new();
        for (order_id, owner) in events.iter().filter_map(|e| e.event.order()) {
            if audience.orders.insert(order_id, Vec::new()).is_none() {
                orders.push((order_id, owner, Topic::Order(order_id).as_text()));
            }
        }
        let mut topics = HashMap::new();
        for product_id in events
            .iter()
            .filter_map(|e| products_named(&e.event))
            .flatten()
        {
            if audience.stock.insert(product_id, Vec::new()).is_none() {
                topics.insert(Topic::Inventory(product_id).as_text(), product_id);
            }
        }
        if orders.is_empty() && topics.is_empty() {
            return Ok(audience);
        }
        let client = db.get().await?;
        let topic_list: Vec<String> = topics.keys().cloned().collect();
        // Both on the wire at once: one round trip.
        let (following_orders, following_stock) = futures::future::try_join(
            async {
                match orders.is_empty() {
                    true => Ok(Vec::new()),
                    false => {
                        ws_connections::audience_of_orders(
                            &client,
                            &orders,
                            &Topic::MyOrders.as_text(),
                        )
                        .await
                    }
                }
            },
            async {
                match topic_list.is_empty() {
                    true => Ok(Vec::new()),
                    false => ws_connections::followers_of(&client, &topic_list).await,
                }
            },
        )
        .await?;
        for (order_id, connection) in following_orders {
            audience
                .orders
                .entry(order_id)
                .or_default()
                .push(connection);
        }
        for (topic, connection) in following_stock {
            audience
                .stock
                .entry(topics[&topic])
                .or_default()
                .push(connection);
        }
        Ok(audience)
    }
}

/// The products a stock-changing event names itself; `None` when they are the lines of its order.
fn products_named(event: &Event) -> Option<Vec<Uuid>> {
    match event {
        Event::OrderPlaced(placed) => Some(placed.items.iter().map(|i| i.product_id).collect()),
        Event::InventoryChanged(changed) => Some(changed.product_ids.clone()),
        _ => None,
    }
}

/// Pushes an event to its audience: a notification to every connection of its recipients, anything else
/// to the connections following it. Gone connections are forgotten; any other failure fails the
/// delivery so the message is retried (clients may then see an update twice, never zero times).
pub async fn deliver(
    db: &Pool,
    pusher: &impl ConnectionPusher,
    event: &EventEnvelope,
    batch: &BatchAudience,
) -> Result<Delivery, DeliveryError> {
    match &event.event {
        Event::ConnectionResumed(resumed) => {
            return catch_up(db, pusher, &resumed.connection_id).await;
        }
        // Nobody follows a count as such: its push is the stock update (`push_stock`). A broadcast
        // reaches its members through the `notification.sent` of each page (its own messages are not
        // even subscribed to).
        Event::InventoryChanged(_) | Event::GroupBroadcast(_) => return Ok(Delivery::default()),
        _ => {}
    }
    let pushes: Vec<(String, Vec<u8>)> = match &event.event {
        Event::OrdersRejected(rejected) => {
            let orders: Vec<(Uuid, Uuid, String)> = rejected
                .orders
                .iter()
                .map(|o| (o.order_id, o.user_id, Topic::Order(o.order_id).as_text()))
                .collect();
            let messages: HashMap<Uuid, Vec<u8>> = rejected
                .orders
                .iter()
                .map(|o| {
                    let message = rejection_message(event, rejected, o);
                    (
                        o.order_id,
                        serde_json::to_vec(&message).expect("JSON values serialise"),
                    )
                })
                .collect();
            let client = db.get().await.map_err(StoreError::from)?;
            ws_connections::audience_of_orders(&client, &orders, &Topic::MyOrders.as_text())
                .await?
                .into_iter()
                .map(|(order_id, connection)| (connection, messages[&order_id].clone()))
                .collect()
        }
        Event::NotificationSent(sent) => {
            let client = db.get().await.map_err(StoreError::from)?;
            ws_connections::notified_by(&client, sent.batch_id, &sent.recipients)
                .await?
                .into_iter()
                .filter_map(|c| {
                    let id = c.notification_id;
                    // What the connection's catch-up covered, it has.
                    (c.caught_up_to < Some(id)).then(|| {
                        let message = NotificationMessage::live(sent, id);
                        let bytes = serde_json::to_vec(&message).expect("a message serialises");
                        (c.connection_id, bytes)
                    })
                })
                .collect()
        }
        _ => {
            let looked_up = event
                .event
                .order()
                .and_then(|(id, _)| batch.orders.get(&id));
            let targets = match looked_up {
                Some(connections) => connections.clone(),
                None => {
                    let audience = audience_of(&event.event);
                    let (owner, stream) = &audience.owner;
                    let client = db.get().await.map_err(StoreError::from)?;
                    ws_connections::audience(&client, &audience.topics, *owner, stream).await?
                }
            };
            if targets.is_empty() {
                return Ok(Delivery::default());
            }
            let payload =
                serde_json::to_vec(&client_message(event)).expect("JSON values serialise");
            targets
                .into_iter()
                .map(|id| (id, payload.clone()))
                .collect()
        }
    };
    push_all(db, pusher, &pushes).await
}

/// Posts each payload to its connection, at most `PUSHES_AT_ONCE` at a time. Gone connections are
/// forgotten; any other failure fails the whole delivery, to be retried.
async fn push_all(
    db: &Pool,
    pusher: &impl ConnectionPusher,
    pushes: &[(String, Vec<u8>)],
) -> Result<Delivery, DeliveryError> {
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

/// At most one stock update per product in this long goes out; the first held back follows once it
/// has passed, so followers always end on the latest count.
pub const STOCK_PUSH_GAP: std::time::Duration = std::time::Duration::from_millis(500);
/// When the held-back update is sent again (through the push worker's own queue): past the gap.
const STOCK_FLUSH_DELAY_SECONDS: i32 = 1;

/// Sends `{"type":"inventory.changed","product_id","available","low_stock"}` to the followers of
/// `inventory:<id>` for every product whose stock the event changed, coalesced per product
/// (`STOCK_PUSH_GAP`). What each follower gets is the count at the moment of the push, not the event's.
pub async fn push_stock(
    state: &State,
    event: &EventEnvelope,
    batch: &BatchAudience,
) -> Result<Delivery, super::ServiceError> {
    if !event.event.changes_stock() {
        return Ok(Delivery::default());
    }
    let named = products_named(&event.event);
    let unfollowed = |p: &Uuid| batch.stock.get(p).is_some_and(Vec::is_empty);
    if named.as_ref().is_some_and(|p| p.iter().all(unfollowed)) {
        return Ok(Delivery::default()); // the common case, known without a connection
    }
    let client = state.db.get().await?;
    let products: Vec<Uuid> = match (named, event.event.order()) {
        (Some(products), _) => products,
        (None, Some((order_id, _))) => orderly_store::orders::lines(&client, order_id)
            .await?
            .iter()
            .map(|line| line.product_id)
            .collect(),
        (None, None) => Vec::new(),
    };
    let mut delivery = Delivery::default();
    let mut held_back = Vec::new();
    for product_id in products {
        let followers = match batch.stock.get(&product_id) {
            Some(followers) => followers.clone(),
            None => {
                let topic = Topic::Inventory(product_id).as_text();
                ws_connections::followers_of(&client, &[topic])
                    .await?
                    .into_iter()
                    .map(|(_, connection)| connection)
                    .collect()
            }
        };
        if followers.is_empty() {
            continue;
        }
        match inventory::push_turn(&client, product_id, STOCK_PUSH_GAP).await? {
            PushTurn::Now => {
                let Some(stock) = inventory::find(&client, product_id).await? else {
                    continue; // deleted meanwhile
                };
                let message = json!({
                    "type": "inventory.changed", "product_id": product_id,
                    "available": stock.available, "low_stock": stock.low_stock(),
                });
                let payload = serde_json::to_vec(&message).expect("JSON values serialise");
                let pushes: Vec<_> = followers
                    .into_iter()
                    .map(|id| (id, payload.clone()))
                    .collect();
                let pushed = push_all(&state.db, &state.connections, &pushes).await?;
                delivery.pushed += pushed.pushed;
                delivery.gone += pushed.gone;
            }
            PushTurn::Later { schedule: true } => held_back.push(product_id),
            PushTurn::Later { schedule: false } => {}
        }
    }
    if !held_back.is_empty() {
        let later = Event::InventoryChanged(InventoryChanged {
            product_ids: held_back.clone(),
        });
        let body =
            serde_json::to_string(&outbox::envelope(later, None)).expect("an envelope serialises");
        let sent = match state.config.ws_push_queue_url.as_deref() {
            Some(queue) => state
                .queues
                .send_later(queue, body, STOCK_FLUSH_DELAY_SECONDS)
                .await
                .map_err(super::ServiceError::from),
            None => Err(super::ServiceError::internal(
                "WS_PUSH_QUEUE_URL is not set",
            )),
        };
        if let Err(error) = sent {
            inventory::unschedule(&client, &held_back).await?;
            return Err(error);
        }
    }
    Ok(delivery)
}

/// Notifications a resuming connection is sent before it is told to page the history instead.
pub const RESUME_LIMIT: i64 = 100;

/// A connection this young that answers 410 may not be open yet (a push can overtake the end of
/// `$connect`): its catch-up is retried instead of the connection forgotten.
const STILL_OPENING: Duration = Duration::seconds(10);

/// Sends a resuming connection what its user missed since `?since=`, oldest first (or, past
/// `RESUME_LIMIT`, a `resync` telling the client to page the history), then hands it to the live
/// pushes. The connection row stays locked meanwhile: a live push to it waits, and then sends only what
/// is newer than what the catch-up covered, so nothing arrives twice or out of order.
pub async fn catch_up(
    db: &Pool,
    pusher: &impl ConnectionPusher,
    connection_id: &str,
) -> Result<Delivery, DeliveryError> {
    let mut client = db.get().await.map_err(StoreError::from)?;
    let tx = client.transaction().await.map_err(StoreError::from)?;
    let Some(connection) = ws_connections::lock_catch_up(&tx, connection_id).await? else {
        return Ok(Delivery::default()); // gone, or caught up by an earlier delivery
    };
    let missed =
        notifications::since(&tx, connection.user_id, connection.since, RESUME_LIMIT + 1).await?;
    let (messages, caught_up_to) = if missed.len() as i64 > RESUME_LIMIT {
        let latest = notifications::list(&tx, connection.user_id, None, None, 1).await?;
        let resync = json!({
            "type": "resync",
            "message": format!(
                "more than {RESUME_LIMIT} notifications since the one you had: page GET /api/v1/notifications"
            ),
        });
        (
            vec![resync.to_string().into_bytes()],
            latest.first().map(|n| n.id),
        )
    } else {
        let messages = missed
            .iter()
            .map(|n| {
                serde_json::to_vec(&NotificationMessage::stored(n)).expect("a message serialises")
            })
            .collect();
        (messages, missed.last().map(|n| n.id).or(connection.since))
    };
    let mut delivery = Delivery::default();
    for payload in messages {
        match pusher.push(connection_id, payload).await {
            Ok(()) => delivery.pushed += 1,
            Err(PushError::Gone(_)) if Utc::now() - connection.connected_at > STILL_OPENING => {
                drop(tx);
                disconnect(db, connection_id).await?;
                delivery.gone = 1;
                return Ok(delivery);
            }
            Err(e) => {
                return Err(DeliveryError::Push {
                    failed: 1,
                    attempted: delivery.pushed + 1,
                    first: e,
                });
            }
        }
    }
    ws_connections::finish_catch_up(&tx, connection_id, caught_up_to).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(delivery)
}

/// Forgets connections older than API Gateway allows, those whose session ended or whose user's role
/// changed (a logout or a demotion), and those whose access token expired more than `RENEWAL_GRACE` ago,
/// and closes any the gateway still holds.
pub async fn prune(db: &Pool, pusher: &impl ConnectionPusher) -> Result<usize, StoreError> {
    let now = Utc::now();
    let stale = ws_connections::forget_ended(
        &db.get().await?,
        now - MAX_CONNECTION_AGE,
        now - RENEWAL_GRACE,
    )
    .await?;
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

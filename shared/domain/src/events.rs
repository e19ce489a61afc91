//! Every event Orderly publishes, as one enum. Producers build a variant; consumers match exhaustively,
//! so a new event makes every consumer decide what to do with it. On the wire an event is
//! `{"event_id", "occurred_at", "correlation_id", "event_type": "order.paid", "data": {…}}`; the event
//! type is also the SNS message attribute the template's subscription filters route on, and a test holds
//! those filters to what each worker handles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::jobs::{Job, JobKind, JobStatus};
use crate::orders::OrderStatus;

/// An event with what travels around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Consumers deduplicate by this id: a redelivered message carries the same one.
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum Event {
    #[serde(rename = "order.queued")]
    OrderQueued(OrderPlaced),
    #[serde(rename = "order.placed")]
    OrderPlaced(OrderPlaced),
    #[serde(rename = "order.paid")]
    OrderPaid(OrderChanged),
    #[serde(rename = "order.fulfilled")]
    OrderFulfilled(OrderChanged),
    #[serde(rename = "order.completed")]
    OrderCompleted(OrderChanged),
    #[serde(rename = "order.payment_failed")]
    OrderPaymentFailed(OrderChanged),
    #[serde(rename = "order.cancelled")]
    OrderCancelled(OrderChanged),
    #[serde(rename = "order.expired")]
    OrderExpired(OrderChanged),
    #[serde(rename = "job.requested")]
    JobRequested(JobRequested),
    #[serde(rename = "job.progress")]
    JobProgress(JobProgress),
    #[serde(rename = "notification.sent")]
    NotificationSent(NotificationSent),
    #[serde(rename = "connection.resumed")]
    ConnectionResumed(ConnectionResumed),
    #[serde(rename = "inventory.changed")]
    InventoryChanged(InventoryChanged),
    #[serde(rename = "group.broadcast")]
    GroupBroadcast(GroupBroadcast),
    #[serde(rename = "orders.rejected")]
    OrdersRejected(OrdersRejected),
}

/// Flash-sale orders the reservation function rejected in one pass (the stock ran out, or the buyer's
/// limit was reached): one event for the whole pass (thousands of buyers may lose one sale), each owner
/// told over the WebSocket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdersRejected {
    pub product_id: Uuid,
    pub orders: Vec<RejectedOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedOrder {
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// Which rejection: `REJECTED_OUT_OF_STOCK` (the default, for events written before there were two)
    /// or `REJECTED_BUYER_LIMIT`.
    #[serde(default = "out_of_stock")]
    pub status: OrderStatus,
}

fn out_of_stock() -> OrderStatus {
    OrderStatus::RejectedOutOfStock
}

/// A broadcast to a group: without `page` when the admin asks (the fan-out cuts the members into
/// pages), with it for each page of members to reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupBroadcast {
    pub broadcast_id: Uuid,
    pub group_id: Uuid,
    pub sent_by: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<MemberPage>,
}

/// The members with user ids in `(after, upto]` (no bound where `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberPage {
    pub after: Option<Uuid>,
    pub upto: Option<Uuid>,
}

/// Products whose stock an admin counted (or whose update was held back a moment to coalesce).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryChanged {
    pub product_ids: Vec<Uuid>,
}

/// A client reconnected with the last notification it had: it is sent what it missed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionResumed {
    pub connection_id: String,
    pub user_id: Uuid,
}

/// Notifications were stored for users (one each, same content): their sockets are pushed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSent {
    /// One send: an admin's `POST /admin/notifications`, or one page of a group broadcast.
    pub batch_id: Uuid,
    pub sent_by: Uuid,
    /// Whose notifications from this send are pushed; each user's is theirs for this `batch_id` (one
    /// per user and send).
    #[serde(flatten)]
    pub recipients: Recipients,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: serde_json::Value,
    pub timestamp: DateTime<Utc>,
}

/// Who a `notification.sent` reaches, named as briefly as the send allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recipients {
    /// The users it was stored for (an admin's send, up to 1,000). Ids only: 1,000 users are ~39 KB
    /// where `(user, notification)` pairs were 112 KB, two of SNS's 64 KB billing chunks.
    Users { user_ids: Vec<Uuid> },
    /// One page of a broadcast: every member in the page's range that this send stored a notification
    /// for. Its bounds are ~100 bytes where its 1,000 members' ids were ~39 KB, carried through the
    /// relay, SNS, SQS and two JSON parsers ten times a 10,000-member broadcast (ADR 0011).
    Page { page: MemberPage },
}

/// Where a background job stands: sent while it runs (at most a few a second, straight to the topic:
/// a lost one is replaced by the next) and when it finishes (through the outbox, with the change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub job_id: Uuid,
    pub kind: JobKind,
    pub requested_by: Uuid,
    pub status: JobStatus,
    /// Percent done with one decimal, as `GET /jobs/{id}` shows it.
    pub progress: f64,
    pub processed: i64,
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl JobProgress {
    pub fn of(job: &Job) -> Self {
        JobProgress {
            job_id: job.id,
            kind: job.kind,
            requested_by: job.created_by.unwrap_or(Uuid::nil()),
            status: job.status,
            progress: job.progress(),
            processed: job.processed,
            total: job.total,
            error: job.error.clone(),
        }
    }
}

/// A background job was recorded and waits for its worker (sent again, for the same job, when a worker
/// hands over unfinished work).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRequested {
    pub job_id: Uuid,
    pub kind: JobKind,
    pub requested_by: Uuid,
}

/// An order was placed: its stock is reserved and it waits for payment. The same shape announces a
/// flash-sale order queued for its reservation (`order.queued`), which holds no stock yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub total_cents: i64,
    pub currency: String,
    pub items: Vec<PlacedItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedItem {
    pub product_id: Uuid,
    pub quantity: i32,
}

/// An order moved from one status to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderChanged {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub previous_status: OrderStatus,
    pub total_cents: i64,
    pub currency: String,
}

impl Event {
    pub const ORDER_QUEUED: &str = "order.queued";
    pub const ORDER_PLACED: &str = "order.placed";
    pub const ORDER_PAID: &str = "order.paid";
    pub const ORDER_FULFILLED: &str = "order.fulfilled";
    pub const ORDER_COMPLETED: &str = "order.completed";
    pub const ORDER_PAYMENT_FAILED: &str = "order.payment_failed";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const ORDER_EXPIRED: &str = "order.expired";
    pub const JOB_REQUESTED: &str = "job.requested";
    pub const JOB_PROGRESS: &str = "job.progress";
    pub const NOTIFICATION_SENT: &str = "notification.sent";
    pub const CONNECTION_RESUMED: &str = "connection.resumed";
    pub const INVENTORY_CHANGED: &str = "inventory.changed";
    pub const GROUP_BROADCAST: &str = "group.broadcast";
    pub const ORDERS_REJECTED: &str = "orders.rejected";

    /// Every event type, as the wire and the subscription filters spell it.
    pub const TYPES: [&str; 15] = [
        Self::ORDER_QUEUED,
        Self::ORDER_PLACED,
        Self::ORDER_PAID,
        Self::ORDER_FULFILLED,
        Self::ORDER_COMPLETED,
        Self::ORDER_PAYMENT_FAILED,
        Self::ORDER_CANCELLED,
        Self::ORDER_EXPIRED,
        Self::JOB_REQUESTED,
        Self::JOB_PROGRESS,
        Self::NOTIFICATION_SENT,
        Self::CONNECTION_RESUMED,
        Self::INVENTORY_CHANGED,
        Self::GROUP_BROADCAST,
        Self::ORDERS_REJECTED,
    ];

    /// The event type (`order.paid`, …).
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::OrderQueued(_) => Self::ORDER_QUEUED,
            Event::OrderPlaced(_) => Self::ORDER_PLACED,
            Event::OrderPaid(_) => Self::ORDER_PAID,
            Event::OrderFulfilled(_) => Self::ORDER_FULFILLED,
            Event::OrderCompleted(_) => Self::ORDER_COMPLETED,
            Event::OrderPaymentFailed(_) => Self::ORDER_PAYMENT_FAILED,
            Event::OrderCancelled(_) => Self::ORDER_CANCELLED,
            Event::OrderExpired(_) => Self::ORDER_EXPIRED,
            Event::JobRequested(_) => Self::JOB_REQUESTED,
            Event::JobProgress(_) => Self::JOB_PROGRESS,
            Event::NotificationSent(_) => Self::NOTIFICATION_SENT,
            Event::ConnectionResumed(_) => Self::CONNECTION_RESUMED,
            Event::InventoryChanged(_) => Self::INVENTORY_CHANGED,
            Event::GroupBroadcast(_) => Self::GROUP_BROADCAST,
            Event::OrdersRejected(_) => Self::ORDERS_REJECTED,
        }
    }

    /// The event an order's move into `change.status` announces.
    pub fn order_changed(change: OrderChanged) -> Event {
        match change.status {
            OrderStatus::Paid => Event::OrderPaid(change),
            OrderStatus::Fulfilled => Event::OrderFulfilled(change),
            OrderStatus::Completed => Event::OrderCompleted(change),
            OrderStatus::PaymentFailed => Event::OrderPaymentFailed(change),
            OrderStatus::Cancelled => Event::OrderCancelled(change),
            OrderStatus::Expired => Event::OrderExpired(change),
            // Placement and queueing announce themselves with their own events, and flash-sale
            // decisions come in batches (`order.placed` for each accepted, one `orders.rejected`).
            OrderStatus::PendingPayment
            | OrderStatus::Queued
            | OrderStatus::RejectedOutOfStock
            | OrderStatus::RejectedBuyerLimit => {
                unreachable!(
                    "{:?} is not entered through a single transition",
                    change.status
                )
            }
        }
    }

    /// What the event is about, as the outbox records it ("order", "job", "notification_batch", "user",
    /// "product" or "broadcast", and its id), and the user it concerns (the order's owner, the job's
    /// requester, the sender, the user who reconnected; nobody for stock).
    pub fn subject(&self) -> (&'static str, Uuid, Uuid) {
        match (self, self.order()) {
            (Event::JobRequested(e), _) => ("job", e.job_id, e.requested_by),
            (Event::JobProgress(e), _) => ("job", e.job_id, e.requested_by),
            (Event::NotificationSent(e), _) => ("notification_batch", e.batch_id, e.sent_by),
            (Event::ConnectionResumed(e), _) => ("user", e.user_id, e.user_id),
            (Event::GroupBroadcast(e), _) => ("broadcast", e.broadcast_id, e.sent_by),
            (Event::OrdersRejected(e), _) => ("product", e.product_id, Uuid::nil()),
            (Event::InventoryChanged(e), _) => (
                "product",
                e.product_ids.first().copied().unwrap_or_default(),
                Uuid::nil(),
            ),
            (_, Some((order_id, owner))) => ("order", order_id, owner),
            (_, None) => unreachable!("every other event is about an order"),
        }
    }

    /// The order the event is about, and its owner; `None` for events about something else.
    pub fn order(&self) -> Option<(Uuid, Uuid)> {
        match self {
            Event::OrderQueued(e) | Event::OrderPlaced(e) => Some((e.order_id, e.user_id)),
            Event::OrderPaid(e)
            | Event::OrderFulfilled(e)
            | Event::OrderCompleted(e)
            | Event::OrderPaymentFailed(e)
            | Event::OrderCancelled(e)
            | Event::OrderExpired(e) => Some((e.order_id, e.user_id)),
            Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrdersRejected(_) => None,
        }
    }

    /// Whether the event changed the stock of some products: a placement reserves, a cancel, an
    /// expiry or a failed payment gives back, an admin counts. (Fulfilment only moves reserved units
    /// to sold: what is available stays.)
    pub fn changes_stock(&self) -> bool {
        matches!(
            self,
            Event::OrderPlaced(_)
                | Event::OrderCancelled(_)
                | Event::OrderExpired(_)
                | Event::OrderPaymentFailed(_)
                | Event::InventoryChanged(_)
        )
    }

    /// The order's status after the event; `None` for events about something else.
    pub fn order_status(&self) -> Option<OrderStatus> {
        match self {
            Event::OrderQueued(_) => Some(OrderStatus::Queued),
            Event::OrderPlaced(_) => Some(OrderStatus::PendingPayment),
            Event::OrderPaid(e)
            | Event::OrderFulfilled(e)
            | Event::OrderCompleted(e)
            | Event::OrderPaymentFailed(e)
            | Event::OrderCancelled(e)
            | Event::OrderExpired(e) => Some(e.status),
            Event::JobRequested(_)
            | Event::JobProgress(_)
            | Event::NotificationSent(_)
            | Event::ConnectionResumed(_)
            | Event::InventoryChanged(_)
            | Event::GroupBroadcast(_)
            | Event::OrdersRejected(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn changed(status: OrderStatus) -> OrderChanged {
        OrderChanged {
            order_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            status,
            previous_status: OrderStatus::PendingPayment,
            total_cents: 4999,
            currency: "EUR".into(),
        }
    }

    /// One of each variant.
    fn every_event() -> Vec<Event> {
        let placed = Event::OrderPlaced(OrderPlaced {
            order_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            total_cents: 100,
            currency: "EUR".into(),
            items: vec![PlacedItem {
                product_id: Uuid::now_v7(),
                quantity: 2,
            }],
        });
        let queued = match &placed {
            Event::OrderPlaced(p) => Event::OrderQueued(p.clone()),
            _ => unreachable!(),
        };
        let mut events = vec![placed, queued];
        for status in [
            OrderStatus::Paid,
            OrderStatus::Fulfilled,
            OrderStatus::Completed,
            OrderStatus::PaymentFailed,
            OrderStatus::Cancelled,
            OrderStatus::Expired,
        ] {
            events.push(Event::order_changed(changed(status)));
        }
        events.push(Event::JobRequested(JobRequested {
            job_id: Uuid::now_v7(),
            kind: JobKind::Settlement,
            requested_by: Uuid::now_v7(),
        }));
        events.push(Event::JobProgress(JobProgress {
            job_id: Uuid::now_v7(),
            kind: JobKind::Settlement,
            requested_by: Uuid::now_v7(),
            status: JobStatus::Running,
            progress: 41.5,
            processed: 415,
            total: Some(1000),
            error: None,
        }));
        events.push(Event::NotificationSent(NotificationSent {
            batch_id: Uuid::now_v7(),
            sent_by: Uuid::now_v7(),
            recipients: Recipients::Users {
                user_ids: vec![Uuid::now_v7()],
            },
            kind: "promotion".into(),
            title: "Sale".into(),
            message: "Half off".into(),
            data: json!({"code": "HALF"}),
            timestamp: Utc::now(),
        }));
        events.push(Event::ConnectionResumed(ConnectionResumed {
            connection_id: "c1".into(),
            user_id: Uuid::now_v7(),
        }));
        events.push(Event::InventoryChanged(InventoryChanged {
            product_ids: vec![Uuid::now_v7()],
        }));
        events.push(Event::GroupBroadcast(GroupBroadcast {
            broadcast_id: Uuid::now_v7(),
            group_id: Uuid::now_v7(),
            sent_by: Uuid::now_v7(),
            page: None,
        }));
        events.push(Event::OrdersRejected(OrdersRejected {
            product_id: Uuid::now_v7(),
            orders: vec![RejectedOrder {
                order_id: Uuid::now_v7(),
                user_id: Uuid::now_v7(),
                status: OrderStatus::RejectedBuyerLimit,
            }],
        }));
        events
    }

    #[test]
    fn a_rejection_written_before_the_buyer_limit_reads_as_out_of_stock() {
        let old = serde_json::json!({"order_id": Uuid::nil(), "user_id": Uuid::nil()});
        let order: RejectedOrder = serde_json::from_value(old).unwrap();
        assert_eq!(order.status, OrderStatus::RejectedOutOfStock);
    }

    #[test]
    fn the_wire_tag_is_the_event_type_and_every_type_is_listed() {
        let events = every_event();
        let mut named: Vec<&str> = events.iter().map(Event::event_type).collect();
        for event in &events {
            let wire = serde_json::to_value(event).unwrap();
            assert_eq!(wire["event_type"], event.event_type());
            assert!(wire["data"].is_object());
        }
        named.sort();
        let mut listed = Event::TYPES.to_vec();
        listed.sort();
        assert_eq!(named, listed);
    }

    #[test]
    fn an_envelope_round_trips_in_the_published_shape() {
        let event = Event::order_changed(changed(OrderStatus::Paid));
        let envelope = EventEnvelope {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            correlation_id: Some("req-1".into()),
            event,
        };
        let wire = serde_json::to_value(&envelope).unwrap();
        assert_eq!(wire["event_type"], "order.paid");
        assert_eq!(wire["data"]["status"], "PAID");
        assert_eq!(wire["correlation_id"], "req-1");
        let back: EventEnvelope = serde_json::from_value(wire).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn a_send_names_its_users_and_a_broadcast_page_only_its_bounds() {
        let sent = |recipients| NotificationSent {
            batch_id: Uuid::now_v7(),
            sent_by: Uuid::now_v7(),
            recipients,
            kind: "promotion".into(),
            title: "Sale".into(),
            message: "Half off".into(),
            data: json!({}),
            timestamp: Utc::now(),
        };
        let users: Vec<Uuid> = (0..1_000).map(|_| Uuid::now_v7()).collect();
        let to_users = sent(Recipients::Users {
            user_ids: users.clone(),
        });
        let page = MemberPage {
            after: Some(users[0]),
            upto: None,
        };
        let to_page = sent(Recipients::Page { page });
        // The users' shape is the one events written before pages existed have: they still read.
        let wire = serde_json::to_value(&to_users).unwrap();
        assert_eq!(wire["user_ids"], json!(users));
        assert!(wire.get("page").is_none());
        let wire = serde_json::to_value(&to_page).unwrap();
        assert_eq!(wire["page"], json!({"after": users[0], "upto": null}));
        assert!(wire.get("user_ids").is_none());
        assert!(wire.to_string().len() < 500, "{wire}");
        for event in [to_users, to_page] {
            let text = serde_json::to_string(&event).unwrap();
            assert_eq!(
                serde_json::from_str::<NotificationSent>(&text).unwrap(),
                event
            );
        }
    }

    #[test]
    fn an_unknown_type_or_a_missing_field_is_refused() {
        let unknown = json!({"event_id": Uuid::now_v7(), "occurred_at": "2026-01-01T00:00:00Z", "event_type": "order.teleported", "data": {}});
        assert!(serde_json::from_value::<EventEnvelope>(unknown).is_err());
        let partial = json!({"event_id": Uuid::now_v7(), "occurred_at": "2026-01-01T00:00:00Z", "event_type": "order.paid", "data": {"order_id": Uuid::now_v7()}});
        assert!(serde_json::from_value::<EventEnvelope>(partial).is_err());
    }
}

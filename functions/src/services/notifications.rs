//! Telling customers what happened to their orders: one notification row per event, sent through a
//! `Notifier`.

use std::future::Future;

use chrono::{DateTime, Utc};
use orderly_domain::EventEnvelope;
use orderly_domain::events::{Event, NotificationSent, OrdersRejected, Recipients};
use orderly_domain::notifications::{Notice, Notification, recipients};
use orderly_domain::orders::OrderStatus;
use orderly_domain::pagination::Page;
use orderly_domain::validation::Problems;
use orderly_store::notifications::{self, NewNotification};
use orderly_store::orders::OutboxEvent;
use orderly_store::outbox as outbox_store;
use orderly_store::transaction::Transaction;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::idempotency::Idempotent;
use super::{Caller, Paged, ServiceError, outbox};
use crate::State;

pub struct Message<'a> {
    pub customer_id: Uuid,
    pub order_id: Uuid,
    /// The status as the customer reads it: `completed`, `payment_failed`, `cancelled`,
    /// `rejected_out_of_stock`, `rejected_buyer_limit`.
    pub status: &'a str,
}

pub trait Notifier: Send + Sync {
    /// A failure is worth retrying: the message is redelivered and the notification sent again.
    fn send(&self, message: &Message<'_>) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// Writes the email it would send to the log (stdout, so CloudWatch keeps it verbatim).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn send(&self, m: &Message<'_>) -> Result<(), ServiceError> {
        println!(
            "Email sent to customer {} for Order #{} - Status: {}",
            m.customer_id, m.order_id, m.status
        );
        Ok(())
    }
}

/// Records and sends the notification an order event calls for; a redelivered event is not sent twice.
pub async fn notify(
    state: &State,
    notifier: &impl Notifier,
    event: &EventEnvelope,
) -> Result<bool, ServiceError> {
    let (Some((order_id, customer_id)), Some(status)) =
        (event.event.order(), event.event.order_status())
    else {
        return Ok(false);
    };
    let status = status.as_str().to_lowercase();
    let data = serde_json::to_value(&event.event).expect("an event serialises")["data"].take();
    let title = format!("Order {}", status.replace('_', " "));
    let text = format!("Your order {order_id} is {}.", status.replace('_', " "));
    let new = NewNotification {
        user_id: customer_id,
        event_id: event.event_id,
        kind: event.event.event_type(),
        title: &title,
        message: &text,
        data: &data,
    };
    // Stored and announced for the customer's sockets in one transaction, like every notification; the
    // `BEGIN` goes in the same flight as the insert.
    let tx = Transaction::not_begun(state.db.get().await?, "BEGIN");
    let inserted = tx.begin_along(notifications::insert(tx.client(), &new));
    let Some((id, at)) = inserted.await? else {
        return Ok(false);
    };
    let notice = Notice {
        kind: new.kind.to_owned(),
        title: title.clone(),
        message: text.clone(),
        data: data.clone(),
    };
    let stored = [(customer_id, id)];
    let pushed = sent_event(
        event.event_id,
        Uuid::nil(),
        to_users(&stored),
        &notice,
        at,
        event.correlation_id.clone(),
    );
    outbox_store::insert(tx.client(), &pushed).await?;
    tx.commit().await?;
    let sent = notifier
        .send(&Message {
            customer_id,
            order_id,
            status: &status,
        })
        .await;
    notifications::mark(tx.client(), id, sent.is_ok()).await?;
    sent.map(|()| true)
}

/// What a buyer whose flash-sale order was rejected is told, stored and pushed like any notification.
fn rejection_notice(product_id: Uuid, status: OrderStatus) -> Notice {
    let (title, why) = match status {
        OrderStatus::RejectedBuyerLimit => (
            "Over the limit per buyer",
            "it would have taken you past the sale's limit per buyer",
        ),
        _ => ("Sold out", "it sold out before your order's turn"),
    };
    Notice {
        kind: Event::ORDERS_REJECTED.to_owned(),
        title: title.to_owned(),
        message: format!(
            "Your flash-sale order was not accepted: {why}. Nothing was charged; the order shows {}.",
            status.as_str()
        ),
        data: json!({"product_id": product_id, "status": status}),
    }
}

/// Tells every buyer a flash-sale pass rejected, once per rejection kind: one stored notification each
/// (a buyer with several orders in the pass gets one), pushed to their sockets, the email logged per
/// order. A redelivered event stores and pushes nothing again. Returns how many were stored.
pub async fn notify_rejected(
    state: &State,
    notifier: &impl Notifier,
    event: &EventEnvelope,
    rejected: &OrdersRejected,
) -> Result<usize, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let mut stored_in_all = 0;
    for status in [
        OrderStatus::RejectedOutOfStock,
        OrderStatus::RejectedBuyerLimit,
    ] {
        let mut users: Vec<Uuid> = rejected
            .orders
            .iter()
            .filter(|o| o.status == status)
            .map(|o| o.user_id)
            .collect();
        users.sort_unstable();
        users.dedup();
        if users.is_empty() {
            continue;
        }
        let notice = rejection_notice(rejected.product_id, status);
        // One send per kind, named after the event so that a redelivery finds its rows.
        let batch_id = Uuid::new_v5(&event.event_id, status.as_str().as_bytes());
        let (stored, at) = notifications::insert_for_users(&tx, batch_id, &users, &notice).await?;
        if let Some(at) = at {
            let correlation = event.correlation_id.clone();
            let pushed = sent_event(
                batch_id,
                Uuid::nil(),
                to_users(&stored),
                &notice,
                at,
                correlation,
            );
            outbox_store::insert(&tx, &pushed).await?;
        }
        stored_in_all += stored.len();
    }
    tx.commit().await?;
    if stored_in_all > 0 {
        for order in &rejected.orders {
            let status = order.status.as_str().to_lowercase();
            notifier
                .send(&Message {
                    customer_id: order.user_id,
                    order_id: order.order_id,
                    status: &status,
                })
                .await?;
        }
    }
    Ok(stored_in_all)
}

/// Which of the caller's notifications to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// Only the unread (`Some(true)`) or only the read (`Some(false)`) ones.
    pub unread: Option<bool>,
}

/// The caller's own notifications, newest first.
pub async fn list(
    state: &State,
    caller: &Caller,
    filter: NotificationFilter,
    page: Page,
) -> Result<Paged<Notification>, ServiceError> {
    let (user_id, _) = caller.user()?;
    let db = state.db.get().await?;
    let items = notifications::list(&db, user_id, filter.unread, page.after, page.limit).await?;
    Ok(Paged::of(items, page, |n| n.id))
}

/// Marks one of the caller's notifications read; another user's is not found.
pub async fn mark_read(
    state: &State,
    caller: &Caller,
    id: Uuid,
) -> Result<Notification, ServiceError> {
    let (user_id, _) = caller.user()?;
    notifications::mark_read(&state.db.get().await?, user_id, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Marks all of the caller's notifications read; how many were unread.
pub async fn mark_all_read(state: &State, caller: &Caller) -> Result<u64, ServiceError> {
    let (user_id, _) = caller.user()?;
    Ok(notifications::mark_all_read(&state.db.get().await?, user_id).await?)
}

/// What an admin sends to users: one notification each, pushed to every socket they have open.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendToUsers {
    /// 1 to 1,000 users (repeats count once); unknown ones are reported, not fatal.
    pub user_ids: Vec<Uuid>,
    /// What it is about, for the client to choose how to show it: 1–64 of `a-z 0-9 . _ -`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1–200 characters.
    pub title: String,
    /// 1–2,000 characters.
    pub message: String,
    /// A JSON object of at most 8 KB, handed to the client as is (default `{}`).
    #[serde(default = "empty_object")]
    pub data: Value,
}

pub(super) fn empty_object() -> Value {
    json!({})
}

/// Stores the notice for every known user, announces it for the live push in the same transaction,
/// and answers 202 `{batch_id, notifications: [{user_id, notification_id}], unknown_user_ids}`;
/// the same `Idempotency-Key` and body answer the same send again.
pub async fn send_to_users(
    state: &State,
    caller: &Caller,
    input: SendToUsers,
    idempotency_key: Option<&str>,
) -> Result<(u16, Value), ServiceError> {
    let admin = caller.admin()?;
    let mut problems = Problems::default();
    let users = problems.check(recipients(&input.user_ids));
    let notice = Notice::new(
        &input.kind,
        &input.title,
        &input.message,
        input.data.clone(),
    )
    .map_err(|errors| problems.extend(errors))
    .ok();
    let (users, notice) = problems
        .into_result(|| (users.unwrap_or_default(), notice))
        .map_err(ServiceError::Invalid)?;
    let notice = notice.expect("a notice without problems");
    let scope = format!("user:{admin}:POST /api/v1/admin/notifications");
    let idempotent = Idempotent::new(idempotency_key, scope, &input)?;

    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(replay) = idempotent.claim(&tx, "notification send").await? {
        return Ok(replay);
    }
    let batch_id = orderly_domain::new_id();
    let (stored, at) = notifications::insert_for_users(&tx, batch_id, &users, &notice).await?;
    let unknown: Vec<Uuid> = users
        .iter()
        .copied()
        .filter(|user| !stored.iter().any(|(known, _)| known == user))
        .collect();
    let event = at.map(|at| {
        let correlation = Some(caller.request_id.clone());
        sent_event(batch_id, admin, to_users(&stored), &notice, at, correlation)
    });
    if let Some(event) = &event {
        outbox_store::insert(&tx, event).await?;
    }
    let change = Change {
        action: "notifications.sent",
        target_type: "notification_batch",
        target_id: Some(batch_id.to_string()),
        before: None,
        after: Some(json!({
            "type": notice.kind, "title": notice.title,
            "recipients": stored.len(), "unknown_user_ids": unknown,
        })),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    let notifications: Vec<Value> = stored
        .iter()
        .map(|(user_id, notification_id)| json!({"user_id": user_id, "notification_id": notification_id}))
        .collect();
    let body =
        json!({"batch_id": batch_id, "notifications": notifications, "unknown_user_ids": unknown});
    idempotent.complete(&tx, 202, &body).await?;
    tx.commit().await?;
    Ok((202, body))
}

/// The users of `stored` (each user and their notification) as a send's recipients.
fn to_users(stored: &[(Uuid, Uuid)]) -> Recipients {
    Recipients::Users {
        user_ids: stored.iter().map(|&(user_id, _)| user_id).collect(),
    }
}

/// The event that pushes `notice` to the sockets of the `recipients` it was just stored for, one send
/// (`batch_id`) by `sent_by` (nil for the system).
pub(super) fn sent_event(
    batch_id: Uuid,
    sent_by: Uuid,
    recipients: Recipients,
    notice: &Notice,
    at: DateTime<Utc>,
    correlation_id: Option<String>,
) -> OutboxEvent {
    outbox::event(
        Event::NotificationSent(NotificationSent {
            batch_id,
            sent_by,
            recipients,
            kind: notice.kind.clone(),
            title: notice.title.clone(),
            message: notice.message.clone(),
            data: notice.data.clone(),
            timestamp: at,
        }),
        correlation_id,
    )
}

//! Telling customers what happened to their orders: one notification row per event, sent through a
//! `Notifier`.

use std::future::Future;

use orderly_domain::EventEnvelope;
use orderly_domain::notifications::Notification;
use orderly_domain::pagination::Page;
use orderly_store::notifications::{self, NewNotification};
use uuid::Uuid;

use super::{Caller, Paged, ServiceError};
use crate::State;

pub struct Message<'a> {
    pub customer_id: Uuid,
    pub order_id: Uuid,
    /// The status as the customer reads it: `completed`, `payment_failed`, `cancelled`.
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
    let client = state.db.get().await?;
    let new = NewNotification {
        user_id: customer_id,
        event_id: event.event_id,
        kind: event.event.event_type(),
        title: &title,
        message: &text,
        data: &data,
    };
    let Some(id) = notifications::insert(&client, &new).await? else {
        return Ok(false);
    };
    let sent = notifier
        .send(&Message {
            customer_id,
            order_id,
            status: &status,
        })
        .await;
    notifications::mark(&client, id, sent.is_ok()).await?;
    sent.map(|()| true)
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

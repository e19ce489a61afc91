//! Telling customers what happened to their orders: one notification row per event, sent through a
//! `Notifier`.

use std::future::Future;

use orderly_domain::EventEnvelope;
use orderly_domain::pagination::next_cursor;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::notifications::{self, NewNotification, Notification};
use uuid::Uuid;

use super::{Paged, db};
use crate::State;

pub struct Message<'a> {
    pub customer_id: Uuid,
    pub order_id: Uuid,
    /// The status as the customer reads it: `completed`, `payment_failed`, `cancelled`.
    pub status: &'a str,
}

pub trait Notifier: Send + Sync {
    fn send(&self, message: &Message<'_>) -> impl Future<Output = Result<(), String>> + Send;
}

/// Writes the email it would send to the log (stdout, so CloudWatch keeps it verbatim).
pub struct LogNotifier;

impl Notifier for LogNotifier {
    async fn send(&self, m: &Message<'_>) -> Result<(), String> {
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
) -> Result<bool, String> {
    let (order_id, customer_id) = event.event.order();
    let status = event.event.order_status().as_str().to_lowercase();
    let data = serde_json::to_value(&event.event).expect("an event serialises")["data"].take();
    let title = format!("Order {}", status.replace('_', " "));
    let text = format!("Your order {order_id} is {}.", status.replace('_', " "));
    let client = state.db.get().await.map_err(|e| e.to_string())?;
    let new = NewNotification {
        user_id: customer_id,
        event_id: event.event_id,
        kind: event.event.event_type(),
        title: &title,
        message: &text,
        data: &data,
    };
    let Some(id) = notifications::insert(&client, &new)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    let sent = notifier
        .send(&Message {
            customer_id,
            order_id,
            status: &status,
        })
        .await;
    notifications::mark(&client, id, sent.is_ok())
        .await
        .map_err(|e| e.to_string())?;
    sent.map(|()| true)
}

pub async fn list(state: &State, request: &HttpRequest) -> Result<Paged<Notification>, ApiError> {
    let (user_id, _) = request.user()?;
    let page = request.page()?;
    let items = notifications::list(
        &state.db.get().await.map_err(db)?,
        user_id,
        page.after,
        page.limit,
    )
    .await
    .map_err(db)?;
    let next_cursor = next_cursor(&items, page, |n| n.id);
    Ok(Paged { items, next_cursor })
}

//! Notifications sent to users, one per (event, user): a redelivered event finds its row.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::notifications::Notification;

pub struct NewNotification<'a> {
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub kind: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub data: &'a Value,
}

/// The notification's id, or `None` when this event already notified this user.
pub async fn insert(
    db: &impl GenericClient,
    n: &NewNotification<'_>,
) -> Result<Option<Uuid>, StoreError> {
    let id = orderly_domain::new_id();
    let row = db
        .query_opt(
            "INSERT INTO notifications (id, user_id, event_id, type, title, message, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (event_id, user_id) DO NOTHING RETURNING id",
            &[&id, &n.user_id, &n.event_id, &n.kind, &n.title, &n.message, n.data],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn mark(db: &impl GenericClient, id: Uuid, sent: bool) -> Result<(), StoreError> {
    db.execute(
        "UPDATE notifications SET status = $2, sent_at = CASE WHEN $2 = 'SENT' THEN now() END WHERE id = $1",
        &[&id, &if sent { "SENT" } else { "FAILED" }],
    )
    .await?;
    Ok(())
}

/// A user's notifications, newest first.
pub async fn list(
    db: &impl GenericClient,
    user_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let rows = db
        .query(
            "SELECT id, type, title, message, data, status, created_at FROM notifications
              WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            &[&user_id, &before, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Notification {
            id: r.get(0),
            kind: r.get(1),
            title: r.get(2),
            message: r.get(3),
            data: r.get(4),
            status: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

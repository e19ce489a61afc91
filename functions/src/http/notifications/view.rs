use chrono::{DateTime, Utc};
use orderly_domain::notifications::Notification;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    /// What it is about, e.g. `order.completed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    /// When it was sent to the user.
    pub timestamp: DateTime<Utc>,
    /// Delivery by email: `PENDING`, `SENT` or `FAILED`.
    pub status: String,
    /// Whether the user has read it, and when.
    pub read: bool,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            title: n.title,
            message: n.message,
            data: n.data,
            timestamp: n.created_at,
            status: n.status,
            read: n.read_at.is_some(),
            read_at: n.read_at,
        }
    }
}

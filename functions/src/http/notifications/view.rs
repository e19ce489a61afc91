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
    /// `PENDING`, `SENT` or `FAILED`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            title: n.title,
            message: n.message,
            data: n.data,
            status: n.status,
            created_at: n.created_at,
        }
    }
}

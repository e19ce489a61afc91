//! Notifications a user received, one per (event, user).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// When the user marked it read; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
}

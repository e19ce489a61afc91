//! Groups of users that admins broadcast notifications to.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::validation::{FieldError, text};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub members: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub user_id: Uuid,
    pub added_at: DateTime<Utc>,
}

/// A group's name: 1–100 characters, trimmed.
pub fn group_name(raw: &str) -> Result<String, FieldError> {
    text("name", raw, 1, 100)
}

/// Members notified per page of a broadcast: one transaction and one push event each.
pub const BROADCAST_PAGE: i64 = 1_000;

//! Notifications a user received, one per (event, user), and what an admin may send.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::validation::{FieldError, Problems, text};

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

/// Users one send may address: the push goes out in one event, whose size SNS bounds (256 KB).
pub const MAX_RECIPIENTS: usize = 1_000;
/// The serialised `data` of a notice: with the rest it stays far below API Gateway's 128 KB frame and,
/// times nothing (it is sent once per event), below SNS's message limit.
pub const MAX_DATA_BYTES: usize = 8 * 1024;

/// What an admin sends: the same notification for every recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What it is about, for the client to choose how to show it: `promotion`, `maintenance.window`.
    pub kind: String,
    pub title: String,
    pub message: String,
    pub data: Value,
}

impl Notice {
    /// Checks every field: `type` of 1–64 lowercase letters, digits, `.`, `_` or `-`; `title` of 1–200
    /// characters; `message` of 1–2,000; `data` an object of at most `MAX_DATA_BYTES` as JSON.
    pub fn new(
        kind: &str,
        title: &str,
        message: &str,
        data: Value,
    ) -> Result<Self, Vec<FieldError>> {
        let mut problems = Problems::default();
        let kind = problems.check(text("type", kind, 1, 64)).and_then(|kind| {
            let allowed =
                |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
            if kind.chars().all(allowed) {
                Some(kind)
            } else {
                problems.add("type", "use lowercase letters, digits, '.', '_' and '-'");
                None
            }
        });
        let title = problems.check(text("title", title, 1, 200));
        let message = problems.check(text("message", message, 1, 2_000));
        if !data.is_object() {
            problems.add("data", "must be a JSON object");
        } else if data.to_string().len() > MAX_DATA_BYTES {
            problems.add(
                "data",
                format!("must be at most {MAX_DATA_BYTES} bytes as JSON"),
            );
        }
        problems.into_result(|| Notice {
            kind: kind.unwrap_or_default(),
            title: title.unwrap_or_default(),
            message: message.unwrap_or_default(),
            data,
        })
    }
}

/// The distinct users of a send, in the order given: 1 to `MAX_RECIPIENTS` of them.
pub fn recipients(user_ids: &[Uuid]) -> Result<Vec<Uuid>, FieldError> {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<Uuid> = user_ids
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect();
    match distinct.len() {
        0 => Err(FieldError::new("user_ids", "name at least one user")),
        n if n > MAX_RECIPIENTS => Err(FieldError::new(
            "user_ids",
            format!("at most {MAX_RECIPIENTS} users per send (broadcast to a group for more)"),
        )),
        _ => Ok(distinct),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_notice_checks_every_field_and_says_which_failed() {
        let ok = Notice::new(
            "promotion",
            " Sale ",
            "Half off today",
            json!({"code": "HALF"}),
        );
        assert_eq!(ok.unwrap().title, "Sale", "trimmed");
        let errors = Notice::new("Promo!", "", "x", json!([1])).unwrap_err();
        assert_eq!(fields(&errors), ["type", "title", "data"]);
        let big = json!({"blob": "x".repeat(MAX_DATA_BYTES)});
        assert_eq!(
            fields(&Notice::new("a", "b", "c", big).unwrap_err()),
            ["data"]
        );
        assert!(Notice::new("maintenance.window-2_b", "t", "m", json!({})).is_ok());
    }

    #[test]
    fn recipients_are_distinct_and_bounded() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(recipients(&[a, b, a]).unwrap(), [a, b]);
        assert_eq!(recipients(&[]).unwrap_err().field, "user_ids");
        let many: Vec<Uuid> = (0..=MAX_RECIPIENTS).map(|_| Uuid::now_v7()).collect();
        assert!(recipients(&many).is_err());
        assert_eq!(
            recipients(&many[..MAX_RECIPIENTS]).unwrap().len(),
            MAX_RECIPIENTS
        );
    }
}

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A domain event as it travels over SNS/SQS. The body of every message on `order-events` is one of these;
/// the `event_type` is also a message attribute so subscriptions can filter without reading the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Consumers deduplicate by this id: a redelivered message carries the same one.
    pub event_id: Uuid,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The event's own fields, e.g. `order_id`, `user_id`, `status`, `product_id`.
    #[serde(default)]
    pub data: Value,
}

impl EventEnvelope {
    /// The id named by a field of `data`, when it is present and a UUID.
    pub fn data_id(&self, field: &str) -> Option<Uuid> {
        self.data.get(field)?.as_str()?.parse().ok()
    }
}

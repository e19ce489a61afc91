use chrono::{DateTime, Utc};
use orderly_domain::audit::AuditLog;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditLogView {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    /// What happened, e.g. `product.updated`, `auth.refresh_reuse`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditLog> for AuditLogView {
    fn from(log: AuditLog) -> Self {
        Self {
            id: log.id,
            actor_user_id: log.actor_user_id,
            actor_api_key_id: log.actor_api_key_id,
            action: log.action,
            target_type: log.target_type,
            target_id: log.target_id,
            before: log.before,
            after: log.after,
            request_id: log.request_id,
            source_ip: log.source_ip,
            created_at: log.created_at,
        }
    }
}

use chrono::{DateTime, Utc};
use orderly_domain::api_keys::ApiKey;
use serde::Serialize;
use uuid::Uuid;

use crate::services::api_keys::CreatedKey;

/// A key as listed: never its secret, only the public prefix that finds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    /// The merchant whose events the key sends; `null` for a platform key.
    pub merchant_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            merchant_id: key.merchant_id,
            created_by: key.created_by,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A key just made, with its secret: the one response that ever shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// Send as `Authorization: ApiKey <api_key>`. Shown this once.
    pub api_key: String,
}

crate::redact::redacting_debug!(CreatedKeyView { key } secret { api_key });

impl From<CreatedKey> for CreatedKeyView {
    fn from(created: CreatedKey) -> Self {
        Self {
            key: created.key.into(),
            api_key: created.api_key,
        }
    }
}

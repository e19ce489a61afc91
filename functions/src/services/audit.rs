//! Who did it: the acting principal, request id and source IP that every audit row records.

use orderly_domain::access::Principal;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::GenericClient;
use orderly_store::audit::{self, AuditEntry, AuditFilter, AuditLog};
use serde_json::Value;

use super::{Paged, db};
use crate::State;

#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
    pub request_id: String,
    pub source_ip: String,
}

impl Actor {
    pub fn of(request: &HttpRequest) -> Self {
        let (user_id, api_key_id) = match request.caller {
            Some(Principal::User { id, .. }) => (Some(id), None),
            Some(Principal::ApiKey { id }) => (None, Some(id)),
            None => (None, None),
        };
        Self {
            user_id,
            api_key_id,
            request_id: request.request_id.clone(),
            source_ip: request.source_ip.clone(),
        }
    }

    pub fn with_user(mut self, user_id: uuid::Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }
}

pub struct Change<'a> {
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes the audit row, in the caller's transaction when it passes one.
pub async fn record(
    db_client: &impl GenericClient,
    actor: &Actor,
    change: Change<'_>,
) -> Result<(), ApiError> {
    let entry = AuditEntry {
        actor_user_id: actor.user_id,
        actor_api_key_id: actor.api_key_id,
        action: change.action,
        target_type: change.target_type,
        target_id: change.target_id,
        before: change.before,
        after: change.after,
        request_id: Some(&actor.request_id),
        source_ip: Some(&actor.source_ip),
    };
    audit::record(db_client, &entry).await.map_err(db).map(drop)
}

pub async fn list(state: &State, request: &HttpRequest) -> Result<Paged<AuditLog>, ApiError> {
    let page = request.page()?;
    let filter = AuditFilter {
        actor_user_id: request.query_id("actor")?,
        action: request.query("action"),
        before: page.after,
        limit: page.limit,
    };
    let items = audit::list(&state.db.get().await.map_err(db)?, &filter)
        .await
        .map_err(db)?;
    let next_cursor = orderly_domain::pagination::next_cursor(&items, page, |l| l.id);
    Ok(Paged { items, next_cursor })
}

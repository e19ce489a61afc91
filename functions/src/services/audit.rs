//! Who did it: the acting principal, request id and source IP that every audit row records.

use orderly_domain::audit::AuditLog;
use orderly_domain::pagination::Page;
use orderly_store::GenericClient;
use orderly_store::audit::{self, AuditEntry, AuditFilter};
use serde_json::Value;
use uuid::Uuid;

use super::{Caller, Paged, ServiceError};
use crate::State;

#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub request_id: String,
    pub source_ip: String,
}

impl Actor {
    pub fn of(caller: &Caller) -> Self {
        Self {
            user_id: caller.user_id(),
            api_key_id: caller.api_key_id(),
            request_id: caller.request_id.clone(),
            source_ip: caller.source_ip.clone(),
        }
    }

    /// The actor, once known to be this user (a login names its user only after the password matched).
    pub fn with_user(mut self, user_id: Uuid) -> Self {
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
) -> Result<(), ServiceError> {
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
    audit::record(db_client, &entry).await?;
    Ok(())
}

/// What to list: by acting user, by action, or both.
#[derive(Debug, Default)]
pub struct AuditQuery {
    pub actor: Option<Uuid>,
    pub action: Option<String>,
}

/// Newest first.
pub async fn list(
    state: &State,
    caller: &Caller,
    query: &AuditQuery,
    page: Page,
) -> Result<Paged<AuditLog>, ServiceError> {
    caller.admin()?;
    let filter = AuditFilter {
        actor_user_id: query.actor,
        action: query.action.as_deref(),
        before: page.after,
        limit: page.limit,
    };
    let items = audit::list(&state.db.get().await?, &filter).await?;
    Ok(Paged::of(items, page, |l| l.id))
}

//! The audit log: who did what to which target, with before/after, for every admin action and security
//! event. Rows are written in the same transaction as the change they describe.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::audit::AuditLog;

#[derive(Debug, Clone, Default)]
pub struct AuditEntry<'a> {
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

pub async fn record(db: &impl GenericClient, entry: &AuditEntry<'_>) -> Result<Uuid, StoreError> {
    let id = orderly_domain::new_id();
    db.execute(
        "INSERT INTO audit_logs (id, actor_user_id, actor_api_key_id, action, target_type, target_id, before, after,
                                 request_id, source_ip)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::inet)",
        &[
            &id,
            &entry.actor_user_id,
            &entry.actor_api_key_id,
            &entry.action,
            &entry.target_type,
            &entry.target_id,
            &entry.before,
            &entry.after,
            &entry.request_id,
            &entry.source_ip.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
        ],
    )
    .await?;
    Ok(id)
}

pub struct AuditFilter<'a> {
    pub actor_user_id: Option<Uuid>,
    pub action: Option<&'a str>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Newest first.
pub async fn list(
    db: &impl GenericClient,
    filter: &AuditFilter<'_>,
) -> Result<Vec<AuditLog>, StoreError> {
    let rows = db
        .query(
            "SELECT id, actor_user_id, actor_api_key_id, action, target_type, target_id, before, after, request_id,
                    host(source_ip), created_at
               FROM audit_logs
              WHERE ($1::uuid IS NULL OR actor_user_id = $1) AND ($2::text IS NULL OR action = $2)
                AND ($3::uuid IS NULL OR id < $3)
              ORDER BY id DESC LIMIT $4",
            &[&filter.actor_user_id, &filter.action, &filter.before, &filter.limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AuditLog {
            id: r.get(0),
            actor_user_id: r.get(1),
            actor_api_key_id: r.get(2),
            action: r.get(3),
            target_type: r.get(4),
            target_id: r.get(5),
            before: r.get(6),
            after: r.get(7),
            request_id: r.get(8),
            source_ip: r.get(9),
            created_at: r.get(10),
        })
        .collect())
}

//! What would otherwise grow forever: rows that no request can use any more.

use std::time::Duration;

use orderly_store::{Pool, StoreError, idempotency, rate_limits, sessions, ws_tickets};
use serde::Serialize;

/// A rate-limit row whose TAT is this far in the past has recovered its whole quota: it carries no state.
const RATE_LIMIT_IDLE: Duration = Duration::from_secs(3600);
/// Ended sessions stay this long, so a reuse of one of their tokens is still recognised (and audited) as
/// reuse for a while.
const SESSION_GRACE: Duration = Duration::from_secs(7 * 86_400);
const TICKET_GRACE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Purged {
    pub rate_limits: u64,
    pub idempotency_keys: u64,
    pub sessions: u64,
    pub refresh_tokens: u64,
    pub ws_tickets: u64,
}

pub async fn purge(db: &Pool) -> Result<Purged, StoreError> {
    let client = db.get().await?;
    let rate_limits = rate_limits::forget_idle(&client, RATE_LIMIT_IDLE).await?;
    let idempotency_keys = idempotency::purge_expired(&client).await?;
    let (sessions, refresh_tokens) = sessions::purge_ended(&client, SESSION_GRACE).await?;
    let ws_tickets = ws_tickets::purge_expired(&client, TICKET_GRACE).await?;
    Ok(Purged {
        rate_limits,
        idempotency_keys,
        sessions,
        refresh_tokens,
        ws_tickets,
    })
}

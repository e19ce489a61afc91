//! Applies pending migrations. Invoked after each deploy, and by the local stack at start.

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::adapt::FunctionError;
use crate::services::ServiceError;
use crate::{Invocation, State};

pub async fn handle(
    _: Value,
    invocation: Invocation,
    state: &'static State,
) -> Result<Value, FunctionError> {
    let applied = orderly_store::migrations::apply(&state.db)
        .await
        .map_err(ServiceError::from)?;
    tracing::info!(request_id = %invocation.request_id, ?applied, "migrations applied");
    // The first admin: created once from the ADMIN_SECRET_ARN secret, never changed here.
    let admin_created = match &state.first_admin {
        Some((email, password)) => {
            crate::services::identity::ensure_admin(state, email, password.expose_secret()).await?
        }
        None => false,
    };
    // The event partitions the months around now need, so a deploy never waits for the first upkeep run.
    let partitions_made =
        crate::services::event_metrics::ensure_partitions(&state.db, chrono::Utc::now()).await?;
    Ok(
        json!({ "applied": applied, "admin_created": admin_created, "partitions_made": partitions_made }),
    )
}

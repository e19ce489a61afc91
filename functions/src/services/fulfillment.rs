//! Fulfilment of a paid order: reserved units become sold (FULFILLED), then the order completes.

use orderly_domain::orders::OrderStatus;
use orderly_store::orders;
use uuid::Uuid;

use super::ServiceError;
use super::orders::apply_transition;
use crate::State;

/// Returns whether the order was fulfilled now (false: not paid, or already done).
pub async fn fulfil(
    state: &State,
    order_id: Uuid,
    correlation_id: Option<String>,
) -> Result<bool, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let Some(order) = orders::lock(&tx, order_id).await? else {
        return Ok(false);
    };
    if order.status != OrderStatus::Paid {
        return Ok(false);
    }
    let fulfilled = apply_transition(
        &tx,
        &order,
        OrderStatus::Fulfilled,
        "units shipped",
        None,
        correlation_id.clone(),
    )
    .await?;
    apply_transition(
        &tx,
        &fulfilled,
        OrderStatus::Completed,
        "delivered",
        None,
        correlation_id,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

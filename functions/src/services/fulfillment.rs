//! Fulfilment of a paid order: reserved units become sold (FULFILLED), then the order completes.

use orderly_domain::orders::OrderStatus;
use orderly_store::orders;
use orderly_store::transaction::Transaction;
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
    // The `BEGIN` goes in the same flight as the lock: a round trip fewer.
    let tx = Transaction::not_begun(state.db.get().await?, "BEGIN");
    let Some(order) = tx.begin_along(orders::lock(tx.client(), order_id)).await? else {
        return Ok(false);
    };
    if order.status != OrderStatus::Paid {
        return Ok(false);
    }
    let fulfilled = apply_transition(
        tx.client(),
        &order,
        OrderStatus::Fulfilled,
        "units shipped",
        None,
        correlation_id.clone(),
    )
    .await?;
    apply_transition(
        tx.client(),
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

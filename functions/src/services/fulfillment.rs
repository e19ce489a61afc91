//! Fulfilment of a paid order: reserved units become sold (FULFILLED), then the order completes.

use orderly_domain::orders::OrderStatus;
use orderly_store::orders;
use uuid::Uuid;

use super::orders::{apply_transition, publish};
use crate::State;

/// Returns whether the order was fulfilled now (false: not paid, or already done).
pub async fn fulfil(
    state: &State,
    order_id: Uuid,
    correlation_id: Option<String>,
) -> Result<bool, String> {
    let mut client = state.db.get().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let Some(order) = orders::lock(&tx, order_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(false);
    };
    if order.status != OrderStatus::Paid {
        return Ok(false);
    }
    let (fulfilled, first) = apply_transition(
        &tx,
        &order,
        OrderStatus::Fulfilled,
        "units shipped",
        None,
        correlation_id.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (_, second) = apply_transition(
        &tx,
        &fulfilled,
        OrderStatus::Completed,
        "delivered",
        None,
        correlation_id,
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    drop(client);
    publish(state, vec![first, second]).await;
    Ok(true)
}

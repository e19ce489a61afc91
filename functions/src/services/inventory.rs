//! Stock levels: public reads, audited admin counts that never touch reserved units (announced, for the
//! stock's WebSocket followers), low-stock alerts.

use orderly_domain::events::{Event, InventoryChanged};
use orderly_domain::inventory::{LowStock, Stock, StockError, StockInput, stock_change};
use orderly_domain::pagination::Page;
use orderly_store::inventory;
use orderly_store::outbox as outbox_store;
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::idempotency::Idempotent;
use super::{Caller, Paged, ServiceError, outbox};
use crate::State;

pub async fn get(state: &State, product_id: Uuid) -> Result<Stock, ServiceError> {
    inventory::find(&state.db.get().await?, product_id)
        .await?
        .ok_or(ServiceError::NotFound)
}

fn snapshot(stock: &Stock) -> serde_json::Value {
    json!({
        "available": stock.available, "reserved": stock.reserved, "sold": stock.sold,
        "low_stock_threshold": stock.low_stock_threshold, "flash_sale": stock.flash_sale,
        "buyer_limit": stock.buyer_limit,
    })
}

/// Counts, adjusts or switches a product's stock. Returns the status and the body `render` made of the
/// new levels, which a retry with the same `Idempotency-Key` gets again: an adjustment retried after a
/// lost answer is applied once (the key is stored in the same transaction as the count).
pub async fn change(
    state: &State,
    caller: &Caller,
    product_id: Uuid,
    input: StockInput,
    idempotency_key: Option<&str>,
    render: fn(Uuid, &Stock) -> Value,
) -> Result<(u16, Value), ServiceError> {
    let admin = caller.admin()?;
    let change = stock_change(&input).map_err(ServiceError::Invalid)?;
    let idempotent = Idempotent::new(
        idempotency_key,
        format!("user:{admin}:PUT /api/v1/products/{{id}}/inventory"),
        &(product_id, change),
    )?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(replay) = idempotent.claim(&tx, "stock change").await? {
        return Ok(replay);
    }
    let before = inventory::lock(&tx, product_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let after = before.apply(change).map_err(|e| match e {
        StockError::BelowReserved { .. } => ServiceError::conflict("BELOW_RESERVED", e.to_string()),
        StockError::Negative { .. } => ServiceError::conflict("INSUFFICIENT_STOCK", e.to_string()),
        StockError::TooMuch => ServiceError::conflict("STOCK_LIMIT", e.to_string()),
        StockError::LimitWithoutFlashSale => {
            ServiceError::conflict("NOT_IN_FLASH_SALE", e.to_string())
        }
    })?;
    inventory::save_count(&tx, product_id, &after).await?;
    let record = Change {
        action: "inventory.changed",
        target_type: "product",
        target_id: Some(product_id.to_string()),
        before: Some(snapshot(&before)),
        after: Some(snapshot(&after)),
    };
    audit::record(&tx, &Actor::of(caller), record).await?;
    let event = outbox::event(
        Event::InventoryChanged(InventoryChanged {
            product_ids: vec![product_id],
        }),
        Some(caller.request_id.clone()),
    );
    outbox_store::insert(&tx, &event).await?;
    let body = render(product_id, &after);
    idempotent.complete(&tx, 200, &body).await?;
    tx.commit().await?;
    Ok((200, body))
}

pub async fn low_stock(
    state: &State,
    caller: &Caller,
    page: Page,
) -> Result<Paged<LowStock>, ServiceError> {
    caller.admin()?;
    let items = inventory::low_stock(&state.db.get().await?, page.after, page.limit).await?;
    Ok(Paged::of(items, page, |l| l.product_id))
}

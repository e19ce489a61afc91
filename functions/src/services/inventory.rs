//! Stock levels: public reads, audited admin counts that never touch reserved units, low-stock alerts.

use orderly_domain::inventory::{Stock, StockError, StockInput, stock_change};
use orderly_domain::pagination::next_cursor;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::inventory::{self, LowStock};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Paged, db};
use crate::State;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockView {
    pub product_id: Uuid,
    pub available: i32,
    pub reserved: i32,
    pub sold: i32,
    pub low_stock_threshold: i32,
    pub low_stock: bool,
}

fn view(product_id: Uuid, stock: &Stock) -> StockView {
    StockView {
        product_id,
        available: stock.available,
        reserved: stock.reserved,
        sold: stock.sold,
        low_stock_threshold: stock.low_stock_threshold,
        low_stock: stock.low_stock(),
    }
}

pub async fn get(state: &State, product_id: Uuid) -> Result<StockView, ApiError> {
    let stock = inventory::find(&state.db.get().await.map_err(db)?, product_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    Ok(view(product_id, &stock))
}

pub async fn change(
    state: &State,
    request: &HttpRequest,
    product_id: Uuid,
    input: StockInput,
) -> Result<StockView, ApiError> {
    request.admin()?;
    let change = stock_change(&input).map_err(ApiError::Validation)?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let before = inventory::lock(&tx, product_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    let after = before.apply(change).map_err(|e| match e {
        StockError::BelowReserved { .. } => ApiError::conflict("BELOW_RESERVED", e.to_string()),
        StockError::Negative { .. } => ApiError::conflict("INSUFFICIENT_STOCK", e.to_string()),
        StockError::TooMuch => ApiError::conflict("STOCK_LIMIT", e.to_string()),
    })?;
    inventory::save_count(&tx, product_id, &after)
        .await
        .map_err(db)?;
    let record = Change {
        action: "inventory.changed",
        target_type: "product",
        target_id: Some(product_id.to_string()),
        before: Some(json!(view(product_id, &before))),
        after: Some(json!(view(product_id, &after))),
    };
    audit::record(&tx, &Actor::of(request), record).await?;
    tx.commit().await.map_err(db)?;
    Ok(view(product_id, &after))
}

pub async fn low_stock(state: &State, request: &HttpRequest) -> Result<Paged<LowStock>, ApiError> {
    request.admin()?;
    let page = request.page()?;
    let items = inventory::low_stock(&state.db.get().await.map_err(db)?, page.after, page.limit)
        .await
        .map_err(db)?;
    let next_cursor = next_cursor(&items, page, |l| l.product_id);
    Ok(Paged { items, next_cursor })
}

//! Products: public reads, admin writes guarded by ETags, every write audited.

use orderly_domain::pagination::next_cursor;
use orderly_domain::products::{ProductInput, etag, new_product, replacement};
use orderly_http::{ApiError, HttpRequest};
use orderly_store::products::{self, Product, ProductFilter, Refused};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Paged, db};
use crate::State;

fn refused(reason: Refused) -> ApiError {
    match reason {
        Refused::SkuTaken => ApiError::conflict("SKU_TAKEN", "another product has this SKU"),
        Refused::UnknownMerchant => {
            ApiError::Validation(vec![orderly_domain::validation::FieldError::new(
                "merchant_id",
                "no merchant has this id",
            )])
        }
    }
}

fn snapshot(product: &Product) -> serde_json::Value {
    json!(product)
}

pub async fn get(state: &State, id: Uuid) -> Result<Product, ApiError> {
    products::find(&state.db.get().await.map_err(db)?, id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)
}

pub async fn list(state: &State, request: &HttpRequest) -> Result<Paged<Product>, ApiError> {
    let page = request.page()?;
    let text = request.query("q").map(str::trim).filter(|q| !q.is_empty());
    if text.is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::Validation(vec![
            orderly_domain::validation::FieldError::new("q", "must have at most 200 characters"),
        ]));
    }
    let filter = ProductFilter {
        merchant_id: request.query_id("merchant_id")?,
        text,
        after: page.after,
        limit: page.limit,
    };
    let items = products::list(&state.db.get().await.map_err(db)?, &filter)
        .await
        .map_err(db)?;
    let next_cursor = next_cursor(&items, page, |p| p.id);
    Ok(Paged { items, next_cursor })
}

pub async fn create(
    state: &State,
    request: &HttpRequest,
    input: ProductInput,
) -> Result<Product, ApiError> {
    request.admin()?;
    let new = new_product(&input).map_err(ApiError::Validation)?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let product = products::insert(&tx, orderly_domain::new_id(), &new)
        .await
        .map_err(db)?
        .map_err(refused)?;
    let mut after = snapshot(&product);
    after["stock"] = json!(new.stock);
    after["low_stock_threshold"] = json!(new.low_stock_threshold);
    let change = Change {
        action: "product.created",
        target_type: "product",
        target_id: Some(product.id.to_string()),
        before: None,
        after: Some(after),
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)?;
    Ok(product)
}

/// Locks the product and checks `If-Match` against its version: 404, 412 (with the current ETag), or it.
async fn lock_version(
    tx: &orderly_store::Transaction<'_>,
    id: Uuid,
    expected: i64,
) -> Result<Product, ApiError> {
    let current = products::lock(tx, id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed {
            current_etag: etag(current.version),
        });
    }
    Ok(current)
}

pub async fn replace(
    state: &State,
    request: &HttpRequest,
    id: Uuid,
    input: ProductInput,
) -> Result<Product, ApiError> {
    request.admin()?;
    let expected = request.if_match()?;
    let fields = replacement(&input).map_err(ApiError::Validation)?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let before = lock_version(&tx, id, expected).await?;
    let after = products::replace(&tx, id, &fields)
        .await
        .map_err(db)?
        .map_err(refused)?;
    let change = Change {
        action: "product.updated",
        target_type: "product",
        target_id: Some(id.to_string()),
        before: Some(snapshot(&before)),
        after: Some(snapshot(&after)),
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)?;
    Ok(after)
}

pub async fn delete(state: &State, request: &HttpRequest, id: Uuid) -> Result<(), ApiError> {
    request.admin()?;
    let expected = request.if_match()?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let before = lock_version(&tx, id, expected).await?;
    products::soft_delete(&tx, id).await.map_err(db)?;
    let change = Change {
        action: "product.deleted",
        target_type: "product",
        target_id: Some(id.to_string()),
        before: Some(snapshot(&before)),
        after: None,
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)
}

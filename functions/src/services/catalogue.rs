//! Products: public reads, admin writes guarded by ETags, every write audited.

use orderly_domain::pagination::Page;
use orderly_domain::products::{Product, ProductInput, etag, new_product, replacement};
use orderly_store::products::{self, ProductFilter, Refused};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Caller, Paged, ServiceError};
use crate::State;

fn refused(reason: Refused) -> ServiceError {
    match reason {
        Refused::SkuTaken => ServiceError::conflict("SKU_TAKEN", "another product has this SKU"),
        Refused::UnknownMerchant => ServiceError::invalid("merchant_id", "no merchant has this id"),
    }
}

fn snapshot(product: &Product) -> serde_json::Value {
    json!(product)
}

pub async fn get(state: &State, id: Uuid) -> Result<Product, ServiceError> {
    products::find(&state.db.get().await?, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// What to list: one merchant's products, those matching words, or all.
#[derive(Debug, Default)]
pub struct ProductQuery {
    pub merchant_id: Option<Uuid>,
    pub text: Option<String>,
}

pub async fn list(
    state: &State,
    query: &ProductQuery,
    page: Page,
) -> Result<Paged<Product>, ServiceError> {
    let text = query
        .text
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if text.is_some_and(|q| q.chars().count() > 200) {
        return Err(ServiceError::invalid(
            "q",
            "must have at most 200 characters",
        ));
    }
    let filter = ProductFilter {
        merchant_id: query.merchant_id,
        text,
        after: page.after,
        limit: page.limit,
    };
    let items = products::list(&state.db.get().await?, &filter).await?;
    Ok(Paged::of(items, page, |p| p.id))
}

pub async fn create(
    state: &State,
    caller: &Caller,
    input: ProductInput,
) -> Result<Product, ServiceError> {
    caller.admin()?;
    let new = new_product(&input).map_err(ServiceError::Invalid)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let product = products::insert(&tx, orderly_domain::new_id(), &new)
        .await?
        .map_err(refused)?;
    let change = Change {
        action: "product.created",
        target_type: "product",
        target_id: Some(product.id.to_string()),
        before: None,
        after: Some(snapshot(&product)),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(product)
}

/// Locks the product and checks `If-Match` against its version: 404, 412 (with the current ETag), or it.
async fn lock_version(
    tx: &orderly_store::Transaction<'_>,
    id: Uuid,
    expected: i64,
) -> Result<Product, ServiceError> {
    let current = products::lock(tx, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if current.version != expected {
        return Err(ServiceError::Stale {
            current_etag: etag(current.version),
        });
    }
    Ok(current)
}

/// Replaces a product whose version is still `expected` (the client's `If-Match`).
pub async fn replace(
    state: &State,
    caller: &Caller,
    id: Uuid,
    expected: i64,
    input: ProductInput,
) -> Result<Product, ServiceError> {
    caller.admin()?;
    let fields = replacement(&input).map_err(ServiceError::Invalid)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let before = lock_version(&tx, id, expected).await?;
    let after = products::replace(&tx, id, &fields)
        .await?
        .map_err(refused)?;
    let change = Change {
        action: "product.updated",
        target_type: "product",
        target_id: Some(id.to_string()),
        before: Some(snapshot(&before)),
        after: Some(snapshot(&after)),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(after)
}

/// Soft-deletes a product whose version is still `expected`.
pub async fn delete(
    state: &State,
    caller: &Caller,
    id: Uuid,
    expected: i64,
) -> Result<(), ServiceError> {
    caller.admin()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let before = lock_version(&tx, id, expected).await?;
    products::soft_delete(&tx, id).await?;
    let change = Change {
        action: "product.deleted",
        target_type: "product",
        target_id: Some(id.to_string()),
        before: Some(snapshot(&before)),
        after: None,
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(())
}

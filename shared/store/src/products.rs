//! The catalogue. Products are soft-deleted (orders keep pointing at them) and versioned for ETags.

use deadpool_postgres::GenericClient;
use orderly_domain::products::{NewProduct, ProductFields};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::products::Product;

/// A product with its stock figures: `p` is the product row, `i` its inventory row.
const COLUMNS: &str =
    "p.id, p.merchant_id, p.sku, p.name, p.description, p.price_cents, p.currency, p.version,
                       p.created_at, p.updated_at, i.available, i.low_stock_threshold";
const FROM: &str = "products p JOIN inventory i ON i.product_id = p.id";

fn product(row: &Row) -> Product {
    Product {
        id: row.get("id"),
        merchant_id: row.get("merchant_id"),
        sku: row.get("sku"),
        name: row.get("name"),
        description: row.get("description"),
        price_cents: row.get("price_cents"),
        currency: row.get("currency"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        available: row.get("available"),
        low_stock_threshold: row.get("low_stock_threshold"),
    }
}

/// Why a write was refused by a constraint the client can fix.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    SkuTaken,
    UnknownMerchant,
}

fn refused(e: &tokio_postgres::Error) -> Option<Refused> {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Some(Refused::SkuTaken),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Some(Refused::UnknownMerchant),
        _ => None,
    }
}

/// Inserts the product and its inventory row, in one statement.
pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    new: &NewProduct,
) -> Result<Result<Product, Refused>, StoreError> {
    let f = &new.fields;
    let inserted = db
        .query_one(
            &format!(
                "WITH p AS (
                     INSERT INTO products (id, merchant_id, sku, name, description, price_cents, currency)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *),
                 i AS (
                     INSERT INTO inventory (product_id, available, low_stock_threshold)
                     SELECT id, $8, $9 FROM p RETURNING *)
                 SELECT {COLUMNS} FROM p JOIN i ON i.product_id = p.id"
            ),
            &[
                &id, &f.merchant_id, &f.sku, &f.name, &f.description, &f.price_cents, &f.currency,
                &new.stock, &new.low_stock_threshold,
            ],
        )
        .await;
    match inserted {
        Ok(row) => Ok(Ok(product(&row))),
        Err(e) => refused(&e).map(Err).ok_or(e.into()),
    }
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<Product>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1 AND p.deleted_at IS NULL"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(product))
}

/// Locks a live product for a versioned change; run it in a transaction.
pub async fn lock(db: &impl GenericClient, id: Uuid) -> Result<Option<Product>, StoreError> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE p.id = $1 AND p.deleted_at IS NULL FOR UPDATE OF p"
            ),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(product))
}

pub struct ProductFilter<'a> {
    pub merchant_id: Option<Uuid>,
    pub text: Option<&'a str>,
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// Live products in creation order; `text` matches words of the name or description.
pub async fn list(
    db: &impl GenericClient,
    filter: &ProductFilter<'_>,
) -> Result<Vec<Product>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM {FROM}
                  WHERE p.deleted_at IS NULL
                    AND ($1::uuid IS NULL OR p.merchant_id = $1)
                    AND ($2::text IS NULL OR to_tsvector('simple', p.name || ' ' || p.description) @@ plainto_tsquery('simple', $2))
                    AND ($3::uuid IS NULL OR p.id > $3)
                  ORDER BY p.id LIMIT $4"
            ),
            &[&filter.merchant_id, &filter.text, &filter.after, &filter.limit],
        )
        .await?;
    Ok(rows.iter().map(product).collect())
}

/// Replaces a locked product's fields and bumps its version.
pub async fn replace(
    db: &impl GenericClient,
    id: Uuid,
    f: &ProductFields,
) -> Result<Result<Product, Refused>, StoreError> {
    let updated = db
        .query_one(
            &format!(
                "WITH p AS (
                     UPDATE products SET merchant_id = $2, sku = $3, name = $4, description = $5, price_cents = $6,
                            currency = $7, version = version + 1, updated_at = now()
                      WHERE id = $1 RETURNING *)
                 SELECT {COLUMNS} FROM p JOIN inventory i ON i.product_id = p.id"
            ),
            &[&id, &f.merchant_id, &f.sku, &f.name, &f.description, &f.price_cents, &f.currency],
        )
        .await;
    match updated {
        Ok(row) => Ok(Ok(product(&row))),
        Err(e) => refused(&e).map(Err).ok_or(e.into()),
    }
}

pub async fn soft_delete(db: &impl GenericClient, id: Uuid) -> Result<(), StoreError> {
    db.execute("UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

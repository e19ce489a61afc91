use chrono::{DateTime, Utc};
use orderly_domain::products::Product;
use serde::Serialize;
use uuid::Uuid;

/// A product as the catalogue shows it, with its stock now, so a shop page needs one request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// Minor units of `currency`.
    pub price_cents: i64,
    pub currency: String,
    /// The row version: the ETag a write sends back in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Units on sale now.
    pub available: i32,
    /// At or under the restocking threshold.
    pub low_stock: bool,
}

impl From<Product> for ProductView {
    fn from(product: Product) -> Self {
        Self {
            low_stock: product.low_stock(),
            id: product.id,
            merchant_id: product.merchant_id,
            sku: product.sku,
            name: product.name,
            description: product.description,
            price_cents: product.price_cents,
            currency: product.currency,
            version: product.version,
            created_at: product.created_at,
            updated_at: product.updated_at,
            available: product.available,
        }
    }
}

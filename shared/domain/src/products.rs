//! The catalogue: what a product must be, and optimistic locking through ETags.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{FieldError, Problems, text};

pub const MAX_PRICE_CENTS: i64 = 10_000_000_000; // 100 million in major units
pub const MAX_STOCK: i32 = 1_000_000_000;

/// What a client sends to create or replace a product. Everything is optional here so that every missing
/// or wrong field is reported at once.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub merchant_id: Option<Uuid>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    /// Only on create: units available from the start.
    pub stock: Option<i32>,
    /// Only on create: at or under this many available units the product is low on stock.
    pub low_stock_threshold: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductFields {
    pub merchant_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    pub fields: ProductFields,
    pub stock: i32,
    pub low_stock_threshold: i32,
}

fn required<T>(problems: &mut Problems, field: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        problems.add(field, "is required");
    }
    value
}

pub fn check_sku(raw: &str) -> Result<String, FieldError> {
    let sku = text("sku", raw, 1, 64)?;
    if sku
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Ok(sku)
    } else {
        Err(FieldError::new(
            "sku",
            "may contain only letters, digits, '-', '_' and '.'",
        ))
    }
}

pub fn check_currency(raw: &str) -> Result<String, FieldError> {
    if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "currency",
            "must be an ISO 4217 code such as USD",
        ))
    }
}

pub fn check_price(cents: i64) -> Result<i64, FieldError> {
    if (0..=MAX_PRICE_CENTS).contains(&cents) {
        Ok(cents)
    } else {
        Err(FieldError::new(
            "price_cents",
            format!("must be from 0 to {MAX_PRICE_CENTS} (minor units)"),
        ))
    }
}

pub fn check_count(field: &str, value: i32) -> Result<i32, FieldError> {
    if (0..=MAX_STOCK).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            field,
            format!("must be from 0 to {MAX_STOCK}"),
        ))
    }
}

fn fields(input: &ProductInput, problems: &mut Problems) -> Option<ProductFields> {
    let merchant_id = required(problems, "merchant_id", input.merchant_id);
    let sku =
        required(problems, "sku", input.sku.as_deref()).and_then(|s| problems.check(check_sku(s)));
    let name = required(problems, "name", input.name.as_deref())
        .and_then(|n| problems.check(text("name", n, 1, 200)));
    let description = problems.check(text(
        "description",
        input.description.as_deref().unwrap_or(""),
        0,
        5000,
    ));
    let price = required(problems, "price_cents", input.price_cents)
        .and_then(|p| problems.check(check_price(p)));
    let currency = required(problems, "currency", input.currency.as_deref())
        .and_then(|c| problems.check(check_currency(c)));
    Some(ProductFields {
        merchant_id: merchant_id?,
        sku: sku?,
        name: name?,
        description: description?,
        price_cents: price?,
        currency: currency?,
    })
}

pub fn new_product(input: &ProductInput) -> Result<NewProduct, Vec<FieldError>> {
    let mut problems = Problems::default();
    let fields = fields(input, &mut problems);
    let stock = problems.check(check_count("stock", input.stock.unwrap_or(0)));
    let threshold = problems.check(check_count(
        "low_stock_threshold",
        input.low_stock_threshold.unwrap_or(0),
    ));
    problems.into_result(|| NewProduct {
        fields: fields.expect("no problems means every field parsed"),
        stock: stock.unwrap_or_default(),
        low_stock_threshold: threshold.unwrap_or_default(),
    })
}

/// A `PUT` replaces the product's fields; stock is changed through the inventory endpoint instead.
pub fn replacement(input: &ProductInput) -> Result<ProductFields, Vec<FieldError>> {
    let mut problems = Problems::default();
    if input.stock.is_some() {
        problems.add("stock", "is changed with PUT /products/{id}/inventory");
    }
    if input.low_stock_threshold.is_some() {
        problems.add(
            "low_stock_threshold",
            "is changed with PUT /products/{id}/inventory",
        );
    }
    let fields = fields(input, &mut problems);
    problems.into_result(|| fields.expect("no problems means every field parsed"))
}

/// A product's ETag is its row version, quoted as RFC 9110 wants.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    Missing,
    Malformed,
    Version(i64),
}

/// Reads `If-Match`. Only a version this API issued counts: `*` would defeat optimistic locking.
pub fn if_match(header: Option<&str>) -> Precondition {
    let Some(raw) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Precondition::Missing;
    };
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    match tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
    {
        Some(version) => Precondition::Version(version),
        None => Precondition::Malformed,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Units on sale now (not reserved by an unpaid order, not sold).
    pub available: i32,
    pub low_stock_threshold: i32,
}

impl Product {
    /// At or under its threshold: time to restock.
    pub fn low_stock(&self) -> bool {
        self.available <= self.low_stock_threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> ProductInput {
        ProductInput {
            merchant_id: Some(Uuid::now_v7()),
            sku: Some("SKU-1".into()),
            name: Some(" Lamp ".into()),
            description: None,
            price_cents: Some(1999),
            currency: Some("EUR".into()),
            stock: Some(5),
            low_stock_threshold: Some(2),
        }
    }

    #[test]
    fn a_complete_product_is_accepted_and_trimmed() {
        let product = new_product(&complete()).unwrap();
        assert_eq!(
            (
                product.fields.name.as_str(),
                product.stock,
                product.low_stock_threshold
            ),
            ("Lamp", 5, 2)
        );
        assert_eq!(product.fields.description, "");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let input = ProductInput {
            price_cents: Some(-1),
            currency: Some("eur".into()),
            stock: Some(-3),
            ..Default::default()
        };
        let fields: Vec<String> = new_product(&input)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "merchant_id",
                "sku",
                "name",
                "price_cents",
                "currency",
                "stock"
            ]
        );
    }

    #[test]
    fn a_replacement_may_not_touch_stock() {
        let fields: Vec<String> = replacement(&complete())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["stock", "low_stock_threshold"]);
        let input = ProductInput {
            stock: None,
            low_stock_threshold: None,
            ..complete()
        };
        assert_eq!(replacement(&input).unwrap().sku, "SKU-1");
    }

    #[test]
    fn skus_are_restricted() {
        assert!(check_sku("A-b_c.9").is_ok());
        assert!(check_sku("has space").is_err());
    }

    #[test]
    fn if_match_reads_our_etags_only() {
        assert_eq!(if_match(Some(&etag(7))), Precondition::Version(7));
        assert_eq!(if_match(Some("W/\"7\"")), Precondition::Version(7));
        assert_eq!(if_match(None), Precondition::Missing);
        assert_eq!(if_match(Some("  ")), Precondition::Missing);
        assert_eq!(if_match(Some("*")), Precondition::Malformed);
        assert_eq!(if_match(Some("7")), Precondition::Malformed);
    }
}

//! Merchants own products; admins create them.

use orderly_domain::pagination::next_cursor;
use orderly_domain::validation::text;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::merchants::{self, Merchant};
use serde::Deserialize;
use serde_json::json;

use super::audit::{self, Actor, Change};
use super::{Paged, db};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchant {
    pub name: String,
}

pub async fn create(
    state: &State,
    request: &HttpRequest,
    input: NewMerchant,
) -> Result<Merchant, ApiError> {
    request.admin()?;
    let name = text("name", &input.name, 1, 200).map_err(|e| ApiError::Validation(vec![e]))?;
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let merchant = merchants::insert(&tx, orderly_domain::new_id(), &name)
        .await
        .map_err(db)?
        .ok_or_else(|| ApiError::conflict("MERCHANT_EXISTS", "a merchant with this name exists"))?;
    let change = Change {
        action: "merchant.created",
        target_type: "merchant",
        target_id: Some(merchant.id.to_string()),
        before: None,
        after: Some(json!(merchant)),
    };
    audit::record(&tx, &Actor::of(request), change).await?;
    tx.commit().await.map_err(db)?;
    Ok(merchant)
}

pub async fn list(state: &State, request: &HttpRequest) -> Result<Paged<Merchant>, ApiError> {
    request.admin()?;
    let page = request.page()?;
    let items = merchants::list(&state.db.get().await.map_err(db)?, page.limit, page.after)
        .await
        .map_err(db)?;
    let next_cursor = next_cursor(&items, page, |m| m.id);
    Ok(Paged { items, next_cursor })
}

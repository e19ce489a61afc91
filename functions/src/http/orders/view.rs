use chrono::{DateTime, Utc};
use orderly_domain::orders::{Order, OrderLine, OrderStatus, StatusChange};
use serde::Serialize;
use uuid::Uuid;

use crate::services::orders::{OrderDetail, OrderHistory};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    /// Minor units of `currency`.
    pub total_cents: i64,
    pub currency: String,
    /// When an unpaid order expires and its stock is released.
    pub expires_at: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Order> for OrderView {
    fn from(order: Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            status: order.status,
            total_cents: order.total_cents,
            currency: order.currency,
            expires_at: order.expires_at,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderLineView {
    pub product_id: Uuid,
    pub name: String,
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

impl From<OrderLine> for OrderLineView {
    fn from(line: OrderLine) -> Self {
        Self {
            product_id: line.product_id,
            name: line.name,
            sku: line.sku,
            quantity: line.quantity,
            unit_price_cents: line.unit_price_cents,
            line_total_cents: line.line_total_cents,
        }
    }
}

/// An order with its lines.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderDetailView {
    #[serde(flatten)]
    pub order: OrderView,
    pub items: Vec<OrderLineView>,
}

impl From<OrderDetail> for OrderDetailView {
    fn from(detail: OrderDetail) -> Self {
        Self {
            order: detail.order.into(),
            items: detail.items.into_iter().map(OrderLineView::from).collect(),
        }
    }
}

impl OrderDetailView {
    /// The stored (and replayed) body of a placement.
    pub fn render(detail: &OrderDetail) -> serde_json::Value {
        serde_json::to_value(Self::from(detail.clone())).expect("a view serialises")
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusChangeView {
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub reason: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
}

impl From<StatusChange> for StatusChangeView {
    fn from(change: StatusChange) -> Self {
        Self {
            from_status: change.from_status,
            to_status: change.to_status,
            reason: change.reason,
            actor_user_id: change.actor_user_id,
            changed_at: change.changed_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderHistoryView {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub history: Vec<StatusChangeView>,
}

impl From<OrderHistory> for OrderHistoryView {
    fn from(history: OrderHistory) -> Self {
        Self {
            order_id: history.order_id,
            status: history.status,
            history: history
                .history
                .into_iter()
                .map(StatusChangeView::from)
                .collect(),
        }
    }
}

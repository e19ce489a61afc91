//! Orders: the status machine (the only legal transitions) and what a basket must be.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{FieldError, Problems};

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY_PER_LINE: i32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// A flash-sale order waiting for the reservation function to decide it (no stock held yet).
    Queued,
    PendingPayment,
    Paid,
    Fulfilled,
    Completed,
    PaymentFailed,
    Cancelled,
    Expired,
    /// A flash-sale order decided after the stock ran out.
    RejectedOutOfStock,
    /// A flash-sale order that would have taken its buyer past the sale's limit per buyer.
    RejectedBuyerLimit,
}

/// What happens to the units an order holds when it moves to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEffect {
    /// Reserved units go back to available (cancel, expiry, failed payment).
    Release,
    /// Reserved units become sold (fulfilment).
    Sell,
    None,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::Queued,
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Completed,
        OrderStatus::PaymentFailed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
        OrderStatus::RejectedOutOfStock,
        OrderStatus::RejectedBuyerLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Queued => "QUEUED",
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::Fulfilled => "FULFILLED",
            OrderStatus::Completed => "COMPLETED",
            OrderStatus::PaymentFailed => "PAYMENT_FAILED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::RejectedOutOfStock => "REJECTED_OUT_OF_STOCK",
            OrderStatus::RejectedBuyerLimit => "REJECTED_BUYER_LIMIT",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an admin may set this status by hand. `PAID` and `PAYMENT_FAILED` record what happened to
    /// money and are set only by the payment path (a captured or declined charge); `EXPIRED` only by
    /// the expiry schedule; `PENDING_PAYMENT` by placement. An admin may cancel (a paid order is then
    /// refunded) and move a paid order through fulfilment by hand (shipped outside the system). A queued
    /// order is decided only by the reservation function, first come first served.
    pub fn admin_may_set(self) -> bool {
        matches!(
            self,
            OrderStatus::Cancelled | OrderStatus::Fulfilled | OrderStatus::Completed
        )
    }

    /// The only legal transitions (docs/architecture.md, "Order lifecycle").
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (
                Queued,
                PendingPayment | RejectedOutOfStock | RejectedBuyerLimit
            ) | (PendingPayment, Paid | PaymentFailed | Cancelled | Expired)
                | (Paid, Fulfilled | Cancelled)
                | (Fulfilled, Completed)
        )
    }

    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|next| !self.can_become(*next))
    }

    /// The stock effect of entering `next` from `self`. Units are held from placement until fulfilment,
    /// so leaving before fulfilment releases them and fulfilment sells them; a paid order that is
    /// cancelled is refunded and releases too. A queued order holds nothing, and its acceptance reserves
    /// in the reservation function's batch, not through a transition.
    pub fn stock_effect(self, next: OrderStatus) -> StockEffect {
        if self == OrderStatus::Queued {
            return StockEffect::None;
        }
        match next {
            OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::PaymentFailed => {
                StockEffect::Release
            }
            OrderStatus::Fulfilled => StockEffect::Sell,
            _ => StockEffect::None,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLineInput {
    pub product_id: Option<Uuid>,
    pub quantity: Option<i32>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderInput {
    pub items: Option<Vec<OrderLineInput>>,
}

/// A valid basket: one line per product (repeated products are added up), in product-id order, which
/// is also the order rows are locked in, so concurrent orders cannot deadlock.
pub fn basket(input: &PlaceOrderInput) -> Result<Vec<(Uuid, i32)>, Vec<FieldError>> {
    let mut problems = Problems::default();
    let Some(items) = &input.items else {
        return Err(vec![FieldError::new("items", "is required")]);
    };
    if items.is_empty() {
        problems.add("items", "must have at least one line");
    }
    if items.len() > MAX_LINES {
        problems.add("items", format!("must have at most {MAX_LINES} lines"));
    }
    let mut lines: BTreeMap<Uuid, i64> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let product = item.product_id;
        if product.is_none() {
            problems.add(&format!("items[{i}].product_id"), "is required");
        }
        match item.quantity {
            None => problems.add(&format!("items[{i}].quantity"), "is required"),
            Some(q) if !(1..=MAX_QUANTITY_PER_LINE).contains(&q) => problems.add(
                &format!("items[{i}].quantity"),
                format!("must be from 1 to {MAX_QUANTITY_PER_LINE}"),
            ),
            Some(q) => {
                if let Some(product) = product {
                    *lines.entry(product).or_default() += i64::from(q);
                }
            }
        }
    }
    for (product, quantity) in &lines {
        if *quantity > i64::from(MAX_QUANTITY_PER_LINE) {
            problems.add("items", format!("product {product} adds up to {quantity} units; at most {MAX_QUANTITY_PER_LINE} per product"));
        }
    }
    problems.into_result(|| lines.into_iter().map(|(p, q)| (p, q as i32)).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub name: String,
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    pub reason: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_set_by_hand_only_what_records_neither_money_nor_time() {
        let by_hand: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|s| s.admin_may_set())
            .collect();
        assert_eq!(
            by_hand,
            vec![
                OrderStatus::Fulfilled,
                OrderStatus::Completed,
                OrderStatus::Cancelled
            ]
        );
    }
    use OrderStatus::*;

    #[test]
    fn only_the_documented_transitions_are_legal() {
        let legal = [
            (Queued, PendingPayment),
            (Queued, RejectedOutOfStock),
            (Queued, RejectedBuyerLimit),
            (PendingPayment, Paid),
            (PendingPayment, PaymentFailed),
            (PendingPayment, Cancelled),
            (PendingPayment, Expired),
            (Paid, Fulfilled),
            (Paid, Cancelled),
            (Fulfilled, Completed),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from:?} → {to:?}"
                );
            }
        }
        assert!(
            Completed.is_final()
                && Cancelled.is_final()
                && Expired.is_final()
                && PaymentFailed.is_final()
                && RejectedOutOfStock.is_final()
        );
        assert!(!Queued.is_final() && !PendingPayment.is_final() && !Paid.is_final());
    }

    #[test]
    fn leaving_before_fulfilment_releases_and_fulfilment_sells() {
        assert_eq!(PendingPayment.stock_effect(Cancelled), StockEffect::Release);
        assert_eq!(Paid.stock_effect(Cancelled), StockEffect::Release);
        assert_eq!(PendingPayment.stock_effect(Expired), StockEffect::Release);
        assert_eq!(
            PendingPayment.stock_effect(PaymentFailed),
            StockEffect::Release
        );
        assert_eq!(Paid.stock_effect(Fulfilled), StockEffect::Sell);
        assert_eq!(PendingPayment.stock_effect(Paid), StockEffect::None);
        assert_eq!(Queued.stock_effect(RejectedOutOfStock), StockEffect::None);
        assert_eq!(Queued.stock_effect(PendingPayment), StockEffect::None);
    }

    #[test]
    fn statuses_round_trip_as_text() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    fn line(product: Option<Uuid>, quantity: Option<i32>) -> OrderLineInput {
        OrderLineInput {
            product_id: product,
            quantity,
        }
    }

    #[test]
    fn a_basket_is_sorted_by_product_and_merges_repeated_lines() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let input = PlaceOrderInput {
            items: Some(vec![
                line(Some(b), Some(1)),
                line(Some(a), Some(2)),
                line(Some(b), Some(3)),
            ]),
        };
        assert_eq!(basket(&input).unwrap(), vec![(a, 2), (b, 4)]);
    }

    #[test]
    fn bad_baskets_name_every_bad_field() {
        assert_eq!(
            basket(&PlaceOrderInput { items: None }).unwrap_err()[0].field,
            "items"
        );
        assert_eq!(
            basket(&PlaceOrderInput {
                items: Some(vec![])
            })
            .unwrap_err()[0]
                .field,
            "items"
        );
        let input = PlaceOrderInput {
            items: Some(vec![
                line(None, Some(0)),
                line(Some(Uuid::now_v7()), Some(101)),
                line(Some(Uuid::now_v7()), None),
            ]),
        };
        let fields: Vec<String> = basket(&input)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "items[0].product_id",
                "items[0].quantity",
                "items[1].quantity",
                "items[2].quantity"
            ]
        );
        let p = Uuid::now_v7();
        let over = PlaceOrderInput {
            items: Some(vec![line(Some(p), Some(60)), line(Some(p), Some(60))]),
        };
        assert_eq!(basket(&over).unwrap_err()[0].field, "items");
        let many = PlaceOrderInput {
            items: Some(
                (0..=MAX_LINES)
                    .map(|_| line(Some(Uuid::now_v7()), Some(1)))
                    .collect(),
            ),
        };
        assert_eq!(basket(&many).unwrap_err()[0].field, "items");
    }
}

//! Stock of one product: `available` can be reserved; `reserved` waits for payment; `sold` is gone.
//! On hand = available + reserved. Restocking and adjusting change `available` and never touch units
//! that orders hold.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::orders::MAX_QUANTITY_PER_LINE;
use crate::products::{MAX_STOCK, check_count};
use crate::validation::{FieldError, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    pub available: i32,
    pub reserved: i32,
    pub sold: i32,
    pub low_stock_threshold: i32,
    /// Orders for the product are queued and decided in batches (docs/adr/0018-flash-sales.md).
    pub flash_sale: bool,
    /// During a flash sale, the most units one buyer may hold (`None`: no limit).
    pub buyer_limit: Option<i32>,
}

impl Stock {
    pub fn on_hand(&self) -> i32 {
        self.available + self.reserved
    }

    pub fn low_stock(&self) -> bool {
        self.available <= self.low_stock_threshold
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    /// Counted stock: units physically on hand, reserved ones included.
    pub on_hand: Option<i32>,
    /// A correction: units found (+) or lost/damaged (−).
    pub adjust: Option<i32>,
    pub low_stock_threshold: Option<i32>,
    /// Switches flash-sale mode: orders answer `202 QUEUED` and are decided in batches, first come
    /// first served, so thousands of buyers do not queue on the product's row lock. Switching it off
    /// clears `buyer_limit`.
    pub flash_sale: Option<bool>,
    /// During the flash sale, the most units one buyer may hold across their orders (1–100); `null`
    /// removes the limit. Needs flash-sale mode.
    #[serde(default, deserialize_with = "crate::validation::present")]
    #[schema(value_type = Option<i32>, nullable, minimum = 1, maximum = 100)]
    pub buyer_limit: Option<Option<i32>>,
}

/// Serialised, a change is what an `Idempotency-Key` is compared by: two requests that change the same
/// thing the same way are the same request, however their JSON was spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    OnHand(i32),
    Adjust(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StockChange {
    pub count: Option<Count>,
    pub low_stock_threshold: Option<i32>,
    pub flash_sale: Option<bool>,
    /// `Some(None)` removes the limit (serialised as `null`, where "unchanged" leaves the field out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buyer_limit: Option<Option<i32>>,
}

pub fn stock_change(input: &StockInput) -> Result<StockChange, Vec<FieldError>> {
    let mut problems = Problems::default();
    let count = match (input.on_hand, input.adjust) {
        (Some(_), Some(_)) => {
            problems.add("adjust", "give either on_hand or adjust, not both");
            None
        }
        (Some(n), None) => problems.check(check_count("on_hand", n)).map(Count::OnHand),
        (None, Some(d)) if d == 0 || d.unsigned_abs() > MAX_STOCK as u32 => {
            problems.add(
                "adjust",
                format!("must be a non-zero change of at most {MAX_STOCK} units"),
            );
            None
        }
        (None, Some(d)) => Some(Count::Adjust(d)),
        (None, None) => None,
    };
    let threshold = input
        .low_stock_threshold
        .and_then(|t| problems.check(check_count("low_stock_threshold", t)));
    if count.is_none()
        && input.low_stock_threshold.is_none()
        && input.on_hand.is_none()
        && input.adjust.is_none()
        && input.flash_sale.is_none()
        && input.buyer_limit.is_none()
    {
        problems.add(
            "on_hand",
            "give on_hand, adjust, low_stock_threshold, flash_sale or buyer_limit",
        );
    }
    if let Some(Some(limit)) = input.buyer_limit
        && !(1..=MAX_QUANTITY_PER_LINE).contains(&limit)
    {
        problems.add(
            "buyer_limit",
            format!("must be 1 to {MAX_QUANTITY_PER_LINE} units, or null for no limit"),
        );
    }
    if matches!(input.buyer_limit, Some(Some(_))) && input.flash_sale == Some(false) {
        problems.add(
            "buyer_limit",
            "is a limit of the flash sale; it cannot be set while switching the sale off",
        );
    }
    problems.into_result(|| StockChange {
        count,
        low_stock_threshold: threshold,
        flash_sale: input.flash_sale,
        buyer_limit: input.buyer_limit,
    })
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StockError {
    #[error("{reserved} units are reserved by orders; on hand cannot go below that")]
    BelowReserved { reserved: i32 },
    #[error("only {available} units are available; the adjustment would make it negative")]
    Negative { available: i32 },
    #[error("stock would exceed {MAX_STOCK} units")]
    TooMuch,
    #[error(
        "a buyer limit applies to a flash sale; put the product in flash-sale mode first, or in the same request"
    )]
    LimitWithoutFlashSale,
}

impl Stock {
    /// The stock after a count, or why it cannot be.
    pub fn apply(&self, change: StockChange) -> Result<Stock, StockError> {
        let available = match change.count {
            None => self.available,
            Some(Count::OnHand(n)) if n < self.reserved => {
                return Err(StockError::BelowReserved {
                    reserved: self.reserved,
                });
            }
            Some(Count::OnHand(n)) => n - self.reserved,
            Some(Count::Adjust(d)) => {
                let next = i64::from(self.available) + i64::from(d);
                if next < 0 {
                    return Err(StockError::Negative {
                        available: self.available,
                    });
                }
                if next > i64::from(MAX_STOCK) {
                    return Err(StockError::TooMuch);
                }
                next as i32
            }
        };
        let flash_sale = change.flash_sale.unwrap_or(self.flash_sale);
        let buyer_limit = match change.buyer_limit {
            Some(Some(_)) if !flash_sale => return Err(StockError::LimitWithoutFlashSale),
            Some(limit) => limit,
            // The limit belongs to the sale: it ends with it.
            None if !flash_sale => None,
            None => self.buyer_limit,
        };
        Ok(Stock {
            available,
            low_stock_threshold: change
                .low_stock_threshold
                .unwrap_or(self.low_stock_threshold),
            flash_sale,
            buyer_limit,
            ..*self
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LowStock {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub available: i32,
    pub reserved: i32,
    pub low_stock_threshold: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: Stock = Stock {
        available: 5,
        reserved: 3,
        sold: 10,
        low_stock_threshold: 2,
        flash_sale: false,
        buyer_limit: None,
    };

    #[test]
    fn a_change_serialises_by_what_it_changes_not_how_it_was_spelled() {
        let parsed = |body: &str| {
            let input: StockInput = serde_json::from_str(body).unwrap();
            serde_json::to_string(&stock_change(&input).unwrap()).unwrap()
        };
        assert_eq!(
            parsed(r#"{"adjust": 5}"#),
            parsed(r#"{"low_stock_threshold": null, "adjust": 5}"#)
        );
        let distinct = [
            r#"{"adjust": 5}"#,
            r#"{"on_hand": 5}"#,
            r#"{"adjust": 5, "buyer_limit": null}"#,
            r#"{"adjust": 5, "buyer_limit": 3}"#,
            r#"{"adjust": 5, "flash_sale": false}"#,
            r#"{"adjust": 5, "low_stock_threshold": 5}"#,
        ]
        .map(parsed);
        for (i, a) in distinct.iter().enumerate() {
            for b in &distinct[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    fn change(
        on_hand: Option<i32>,
        adjust: Option<i32>,
        threshold: Option<i32>,
    ) -> Result<StockChange, Vec<FieldError>> {
        stock_change(&StockInput {
            on_hand,
            adjust,
            low_stock_threshold: threshold,
            flash_sale: None,
            buyer_limit: None,
        })
    }

    #[test]
    fn flash_sale_mode_switches_alone_and_keeps_the_counts() {
        let on = stock_change(&StockInput {
            flash_sale: Some(true),
            ..StockInput::default()
        })
        .unwrap();
        let next = STOCK.apply(on).unwrap();
        assert!(next.flash_sale);
        assert_eq!(
            next,
            Stock {
                flash_sale: true,
                ..STOCK
            }
        );
        let kept = next.apply(change(None, Some(1), None).unwrap()).unwrap();
        assert!(kept.flash_sale, "a count leaves the mode alone");
    }

    fn input(json: serde_json::Value) -> Result<StockChange, Vec<FieldError>> {
        stock_change(&serde_json::from_value::<StockInput>(json).unwrap())
    }

    #[test]
    fn a_buyer_limit_belongs_to_the_flash_sale() {
        let on_sale = STOCK
            .apply(input(serde_json::json!({"flash_sale": true, "buyer_limit": 2})).unwrap())
            .unwrap();
        assert_eq!((on_sale.flash_sale, on_sale.buyer_limit), (true, Some(2)));
        let counted = on_sale
            .apply(input(serde_json::json!({"adjust": 5})).unwrap())
            .unwrap();
        assert_eq!(counted.buyer_limit, Some(2), "a count keeps the limit");
        let lifted = on_sale
            .apply(input(serde_json::json!({"buyer_limit": null})).unwrap())
            .unwrap();
        assert_eq!((lifted.flash_sale, lifted.buyer_limit), (true, None));
        let over = on_sale
            .apply(input(serde_json::json!({"flash_sale": false})).unwrap())
            .unwrap();
        assert_eq!(
            (over.flash_sale, over.buyer_limit),
            (false, None),
            "the limit ends with the sale"
        );
        assert_eq!(
            STOCK.apply(input(serde_json::json!({"buyer_limit": 1})).unwrap()),
            Err(StockError::LimitWithoutFlashSale)
        );
    }

    #[test]
    fn a_buyer_limit_is_one_to_a_line_s_maximum() {
        for bad in [
            serde_json::json!({"buyer_limit": 0}),
            serde_json::json!({"buyer_limit": 101}),
            serde_json::json!({"flash_sale": false, "buyer_limit": 1}),
        ] {
            let problems = input(bad.clone()).unwrap_err();
            assert_eq!(problems[0].field, "buyer_limit", "{bad}");
        }
        assert!(
            input(serde_json::json!({"buyer_limit": null})).is_ok(),
            "null is a change"
        );
    }

    #[test]
    fn counting_on_hand_keeps_reserved_units() {
        let next = STOCK.apply(change(Some(20), None, None).unwrap()).unwrap();
        assert_eq!((next.available, next.reserved, next.sold), (17, 3, 10));
        assert_eq!(
            STOCK.apply(change(Some(2), None, None).unwrap()),
            Err(StockError::BelowReserved { reserved: 3 })
        );
    }

    #[test]
    fn adjusting_never_goes_negative() {
        assert_eq!(
            STOCK
                .apply(change(None, Some(-5), None).unwrap())
                .unwrap()
                .available,
            0
        );
        assert_eq!(
            STOCK.apply(change(None, Some(-6), None).unwrap()),
            Err(StockError::Negative { available: 5 })
        );
    }

    #[test]
    fn the_threshold_alone_can_change_and_defines_low_stock() {
        let next = STOCK.apply(change(None, None, Some(5)).unwrap()).unwrap();
        assert_eq!(next.available, 5);
        assert!(next.low_stock());
        assert!(!STOCK.low_stock());
    }

    #[test]
    fn ambiguous_or_empty_changes_are_refused() {
        assert_eq!(
            change(Some(1), Some(1), None).unwrap_err()[0].field,
            "adjust"
        );
        assert_eq!(change(None, None, None).unwrap_err()[0].field, "on_hand");
        assert_eq!(change(None, Some(0), None).unwrap_err()[0].field, "adjust");
        assert_eq!(
            change(Some(-1), None, None).unwrap_err()[0].field,
            "on_hand"
        );
    }
}

//! Flash sales: a product's queue of orders, decided in arrival order against what is available and,
//! when the sale has one, each buyer's limit.

use std::collections::HashMap;

use uuid::Uuid;

/// An order waiting in a product's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedOrder {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub quantity: i32,
}

/// What one pass over the queue decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub accepted: Vec<QueuedOrder>,
    /// Refused because what was left did not cover them.
    pub rejected: Vec<QueuedOrder>,
    /// Refused because they would take their buyer past the sale's limit.
    pub over_limit: Vec<QueuedOrder>,
}

/// At most `units` of the product per buyer, counting what the buyer already holds (`held`: units in
/// their orders that hold or took stock) and what the same pass accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuyerLimit {
    pub units: i32,
    pub held: HashMap<Uuid, i32>,
}

impl Decision {
    /// Units the accepted orders take from `available`.
    pub fn reserved(&self) -> i32 {
        self.accepted.iter().map(|o| o.quantity).sum()
    }
}

/// First come first served: each order, in arrival order, is accepted when what is left covers it and
/// rejected otherwise. A smaller order behind a refused larger one may still be accepted, so no unit
/// stays unsold while someone in the queue could take it. Never accepts more than `available`.
///
/// With a `limit`, an order that would take its buyer past it is refused as over the limit first,
/// whatever the stock, and takes nothing; the buyer's later, smaller order may still fit. Never lets a
/// buyer hold more than the limit through this pass.
pub fn allocate(available: i32, limit: Option<&BuyerLimit>, queue: &[QueuedOrder]) -> Decision {
    let mut left = available.max(0);
    let mut taken: HashMap<Uuid, i32> = HashMap::new();
    let mut decision = Decision::default();
    for order in queue {
        if let Some(limit) = limit {
            let held = limit.held.get(&order.user_id).copied().unwrap_or(0)
                + taken.get(&order.user_id).copied().unwrap_or(0);
            if held + order.quantity > limit.units {
                decision.over_limit.push(*order);
                continue;
            }
        }
        if order.quantity <= left {
            left -= order.quantity;
            *taken.entry(order.user_id).or_default() += order.quantity;
            decision.accepted.push(*order);
        } else {
            decision.rejected.push(*order);
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(quantities: &[i32]) -> Vec<QueuedOrder> {
        quantities
            .iter()
            .map(|&quantity| QueuedOrder {
                order_id: Uuid::now_v7(),
                user_id: Uuid::now_v7(),
                quantity,
            })
            .collect()
    }

    #[test]
    fn the_first_comers_take_the_stock_and_the_rest_are_rejected() {
        let orders = queue(&[1, 1, 1, 1, 1]);
        let decision = allocate(3, None, &orders);
        assert_eq!(decision.accepted, orders[..3]);
        assert_eq!(decision.rejected, orders[3..]);
        assert_eq!(decision.reserved(), 3);
    }

    #[test]
    fn a_smaller_order_behind_a_refused_one_still_fits() {
        let orders = queue(&[2, 5, 1, 3]);
        let decision = allocate(4, None, &orders);
        assert_eq!(decision.accepted, vec![orders[0], orders[2]]);
        assert_eq!(decision.rejected, vec![orders[1], orders[3]]);
        assert_eq!(decision.reserved(), 3);
    }

    #[test]
    fn never_more_than_available_whatever_the_queue() {
        for available in [-1, 0, 1, 7, 100] {
            for seed in 0..50_i32 {
                let quantities: Vec<i32> = (0..40).map(|i| (i * 7 + seed) % 5 + 1).collect();
                let decision = allocate(available, None, &queue(&quantities));
                assert!(decision.reserved() <= available.max(0));
                assert_eq!(
                    decision.accepted.len() + decision.rejected.len(),
                    quantities.len(),
                    "every order is decided"
                );
                assert!(decision.over_limit.is_empty(), "no limit, nobody over it");
            }
        }
    }

    fn from(buyer: Uuid, quantity: i32) -> QueuedOrder {
        QueuedOrder {
            order_id: Uuid::now_v7(),
            user_id: buyer,
            quantity,
        }
    }

    #[test]
    fn a_buyer_limit_counts_what_is_held_and_what_the_pass_accepts() {
        let (ann, bob, cat) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let limit = BuyerLimit {
            units: 2,
            held: HashMap::from([(cat, 2)]),
        };
        let orders = [
            from(ann, 1), // accepted: ann holds 1
            from(ann, 2), // over: 1 + 2 > 2
            from(bob, 3), // over on its own, whatever the stock
            from(ann, 1), // accepted: ann holds 2
            from(cat, 1), // over: cat held 2 before the pass
            from(bob, 2), // accepted: the refused order took nothing
            from(ann, 1), // over
        ];
        let decision = allocate(100, Some(&limit), &orders);
        assert_eq!(decision.accepted, vec![orders[0], orders[3], orders[5]]);
        assert_eq!(
            decision.over_limit,
            vec![orders[1], orders[2], orders[4], orders[6]]
        );
        assert!(decision.rejected.is_empty());
    }

    #[test]
    fn over_the_limit_comes_before_out_of_stock_and_a_refused_order_counts_for_nothing() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let limit = BuyerLimit {
            units: 1,
            held: HashMap::new(),
        };
        let orders = [from(ann, 1), from(ann, 1), from(bob, 1), from(bob, 1)];
        let decision = allocate(1, Some(&limit), &orders);
        assert_eq!(decision.accepted, vec![orders[0]]);
        assert_eq!(decision.over_limit, vec![orders[1]]);
        assert_eq!(
            decision.rejected,
            vec![orders[2], orders[3]],
            "bob was within his limit both times: out of stock, not over it"
        );
    }

    #[test]
    fn nobody_passes_the_limit_and_the_stock_is_never_exceeded() {
        let buyers: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        for units in 1..4 {
            for seed in 0..40_usize {
                let orders: Vec<QueuedOrder> = (0..60)
                    .map(|i| from(buyers[(i * 3 + seed) % 5], ((i + seed) % 3 + 1) as i32))
                    .collect();
                let held = HashMap::from([(buyers[seed % 5], (seed % 3) as i32)]);
                let limit = BuyerLimit { units, held };
                let decision = allocate(25, Some(&limit), &orders);
                assert!(decision.reserved() <= 25);
                assert_eq!(
                    decision.accepted.len() + decision.rejected.len() + decision.over_limit.len(),
                    orders.len()
                );
                for buyer in &buyers {
                    let took: i32 = decision
                        .accepted
                        .iter()
                        .filter(|o| o.user_id == *buyer)
                        .map(|o| o.quantity)
                        .sum();
                    let before = limit.held.get(buyer).copied().unwrap_or(0);
                    assert!(took == 0 || before + took <= units, "{units} {seed}");
                }
            }
        }
    }
}

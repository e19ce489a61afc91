//! Flash sales: a product's queue of orders, decided in arrival order against what is available.

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
    pub rejected: Vec<QueuedOrder>,
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
pub fn allocate(available: i32, queue: &[QueuedOrder]) -> Decision {
    let mut left = available.max(0);
    let mut decision = Decision::default();
    for order in queue {
        if order.quantity <= left {
            left -= order.quantity;
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
        let decision = allocate(3, &orders);
        assert_eq!(decision.accepted, orders[..3]);
        assert_eq!(decision.rejected, orders[3..]);
        assert_eq!(decision.reserved(), 3);
    }

    #[test]
    fn a_smaller_order_behind_a_refused_one_still_fits() {
        let orders = queue(&[2, 5, 1, 3]);
        let decision = allocate(4, &orders);
        assert_eq!(decision.accepted, vec![orders[0], orders[2]]);
        assert_eq!(decision.rejected, vec![orders[1], orders[3]]);
        assert_eq!(decision.reserved(), 3);
    }

    #[test]
    fn never_more_than_available_whatever_the_queue() {
        for available in [-1, 0, 1, 7, 100] {
            for seed in 0..50_i32 {
                let quantities: Vec<i32> = (0..40).map(|i| (i * 7 + seed) % 5 + 1).collect();
                let decision = allocate(available, &queue(&quantities));
                assert!(decision.reserved() <= available.max(0));
                assert_eq!(
                    decision.accepted.len() + decision.rejected.len(),
                    quantities.len(),
                    "every order is decided"
                );
            }
        }
    }
}

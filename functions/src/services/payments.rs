//! Settling an order's payment. The provider is called outside any transaction, with the payment id as
//! its idempotency key, so a redelivered or concurrent message never charges twice; the outcome is then
//! recorded only if the payment is still pending. A capture that arrives after the order was cancelled
//! or expired is refunded (compensation). Charges the provider leaves pending (asynchronous payment
//! methods) are reconciled on a schedule.

use std::time::Duration;

use orderly_domain::orders::OrderStatus;
use orderly_domain::payments::{Payment, PaymentStatus};
use orderly_store::transaction::Transaction;
use orderly_store::{ledger, orders, payments};
use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
use super::orders::apply_transition;
use super::payment_provider::{ChargeOutcome, PaymentProvider};
use crate::State;

#[derive(Debug, PartialEq, Eq)]
pub enum Settlement {
    Paid,
    Declined,
    Pending,
    Refunded,
    /// Nothing to do: already settled, or the order is no longer payable.
    Skipped,
}

/// Charges an order's payment once and records what the provider answered.
pub async fn settle(
    state: &State,
    provider: &impl PaymentProvider,
    order_id: Uuid,
    correlation_id: Option<String>,
) -> Result<Settlement, ServiceError> {
    let payment = {
        // Each `BEGIN` of this file goes in the same flight as the transaction's first statement.
        let tx = Transaction::not_begun(state.db.get().await?, "BEGIN");
        let locked = tx.begin_along(payments::lock_for_order(tx.client(), order_id));
        let Some(payment) = locked.await? else {
            return Ok(Settlement::Skipped);
        };
        let payable = orders::find(tx.client(), order_id)
            .await?
            .is_some_and(|o| o.status == OrderStatus::PendingPayment);
        if payment.status != PaymentStatus::Pending || !payable {
            return Ok(Settlement::Skipped);
        }
        payments::count_attempt(tx.client(), payment.id).await?;
        tx.commit().await?;
        payment
    };
    let outcome = provider
        .charge(
            payment.id,
            payment.amount_cents,
            &payment.currency,
            order_id,
        )
        .await?;
    record(state, provider, &payment, outcome, correlation_id).await
}

/// Records a charge's outcome if the payment is still pending: a capture pays the order (or, if the
/// order left PENDING_PAYMENT meanwhile, is refunded), a decline fails it.
async fn record(
    state: &State,
    provider: &impl PaymentProvider,
    payment: &Payment,
    outcome: ChargeOutcome,
    correlation_id: Option<String>,
) -> Result<Settlement, ServiceError> {
    // A pending charge changes nothing: locking the order for it would only make a concurrent expiry
    // (SKIP LOCKED) pass the order over until its next run.
    if outcome == ChargeOutcome::Pending {
        return Ok(Settlement::Pending);
    }
    let order_id = payment.order_id;
    let tx = Transaction::not_begun(state.db.get().await?, "BEGIN");
    let current = tx
        .begin_along(payments::lock_for_order(tx.client(), order_id))
        .await?
        .ok_or_else(|| ServiceError::internal("the payment vanished"))?;
    if current.status != PaymentStatus::Pending {
        return Ok(Settlement::Skipped);
    }
    let order = orders::lock(tx.client(), order_id)
        .await?
        .ok_or_else(|| ServiceError::internal("the order vanished"))?;
    let still_payable = order.status == OrderStatus::PendingPayment;
    let settlement = match outcome {
        ChargeOutcome::Pending => return Ok(Settlement::Pending),
        ChargeOutcome::Captured { reference } => {
            payments::capture(tx.client(), payment.id, &reference).await?;
            record_capture(tx.client(), payment).await?;
            if !still_payable {
                tx.commit().await?;
                drop(tx);
                // Cancelled or expired while the charge was in flight: give the money back.
                provider.refund(payment.id, &reference).await?;
                payments::refund(&state.db.get().await?, payment.id).await?;
                tracing::info!(%order_id, "captured after the order left PENDING_PAYMENT; refunded");
                return Ok(Settlement::Refunded);
            }
            apply_transition(
                tx.client(),
                &order,
                OrderStatus::Paid,
                "payment captured",
                None,
                correlation_id,
            )
            .await?;
            Settlement::Paid
        }
        ChargeOutcome::Declined { reason } => {
            payments::decline(tx.client(), payment.id, &reason).await?;
            if still_payable {
                apply_transition(
                    tx.client(),
                    &order,
                    OrderStatus::PaymentFailed,
                    &reason,
                    None,
                    correlation_id,
                )
                .await?;
            }
            Settlement::Declined
        }
    };
    tx.commit().await?;
    Ok(settlement)
}

/// The merchants' side of a capture: each merchant's share of the order, with the fee its schedule
/// sets, written to the ledger in the capture's transaction.
async fn record_capture(
    tx: &impl orderly_store::GenericClient,
    payment: &Payment,
) -> Result<(), ServiceError> {
    let rows: Vec<_> = ledger::shares(tx, payment.order_id)
        .await?
        .iter()
        .map(|share| {
            (
                share.merchant_id,
                share.gross_cents,
                share.fees.fee(share.gross_cents),
            )
        })
        .collect();
    ledger::record_capture(tx, payment.id, payment.order_id, &payment.currency, &rows).await?;
    Ok(())
}

/// Compensation for a cancelled order: refunds its payment if it was captured (idempotent: the refund's
/// key is the payment's, and a refunded payment is left alone).
pub async fn refund_cancelled(
    state: &State,
    provider: &impl PaymentProvider,
    order_id: Uuid,
) -> Result<Settlement, ServiceError> {
    let (payment, reference) = {
        let client = state.db.get().await?;
        let Some(order) = orders::find(&client, order_id).await? else {
            return Ok(Settlement::Skipped);
        };
        match payments::find_for_order(&client, order_id).await? {
            Some(p)
                if order.status == OrderStatus::Cancelled
                    && p.status == PaymentStatus::Captured =>
            {
                let reference = p.provider_reference.clone().unwrap_or_default();
                (p, reference)
            }
            _ => return Ok(Settlement::Skipped),
        }
    };
    provider.refund(payment.id, &reference).await?;
    payments::refund(&state.db.get().await?, payment.id).await?;
    tracing::info!(%order_id, "cancelled after payment; refunded");
    Ok(Settlement::Refunded)
}

/// A pending charge is asked about again once it has been left alone this long.
pub const RECONCILE_AFTER: Duration = Duration::from_secs(60);
const RECONCILE_BATCH: i64 = 100;

/// What one reconciliation run did.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub checked: usize,
    pub paid: usize,
    pub declined: usize,
    pub refunded: usize,
    pub still_pending: usize,
    /// The provider had no charge for the payment (the first call never reached it): charged now.
    pub charged_again: usize,
}

/// Asks the provider about charges it left pending and records how they settled: a capture pays the
/// order (or is refunded if the order expired or was cancelled meanwhile), a decline fails it.
pub async fn reconcile(
    state: &State,
    provider: &impl PaymentProvider,
) -> Result<Reconciliation, ServiceError> {
    let pending =
        payments::pending_idle(&state.db.get().await?, RECONCILE_AFTER, RECONCILE_BATCH).await?;
    let mut run = Reconciliation::default();
    for payment in &pending {
        run.checked += 1;
        let settlement = match provider.charge_status(payment.id).await? {
            Some(outcome) => record(state, provider, payment, outcome, None).await?,
            None => {
                run.charged_again += 1;
                settle(state, provider, payment.order_id, None).await?
            }
        };
        match settlement {
            Settlement::Paid => run.paid += 1,
            Settlement::Declined => run.declined += 1,
            Settlement::Refunded => run.refunded += 1,
            Settlement::Pending => {
                // Ask about the others first next time.
                payments::touch(&state.db.get().await?, payment.id).await?;
                run.still_pending += 1;
            }
            Settlement::Skipped => {}
        }
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use orderly_domain::orders::{OrderLineInput, PlaceOrderInput};
    use orderly_store::orders as orders_store;
    use orderly_store::testing::{TestDatabase, fresh_database, product, stock, user};
    use serde_json::json;

    use super::*;
    use crate::services::orders::{self, OrderDetail};
    use crate::services::payment_provider::ProviderUnavailable;
    use crate::testing;

    /// The payment provider, faked: charges are idempotent per key, as the real API promises, and every
    /// charge, refund and look-up is counted.
    #[derive(Default)]
    struct FakeProvider {
        /// What a new charge comes to.
        answer: Mutex<Option<ChargeOutcome>>,
        charges: Mutex<HashMap<Uuid, ChargeOutcome>>,
        charge_calls: Mutex<u32>,
        refunds: Mutex<Vec<Uuid>>,
    }

    impl FakeProvider {
        fn answering(outcome: ChargeOutcome) -> Self {
            let fake = Self::default();
            *fake.answer.lock().unwrap() = Some(outcome);
            fake
        }

        /// The provider settles a charge it had left pending.
        fn settle(&self, key: Uuid, outcome: ChargeOutcome) {
            self.charges.lock().unwrap().insert(key, outcome);
        }
    }

    impl PaymentProvider for FakeProvider {
        async fn charge(
            &self,
            key: Uuid,
            _: i64,
            _: &str,
            _: Uuid,
        ) -> Result<ChargeOutcome, ProviderUnavailable> {
            *self.charge_calls.lock().unwrap() += 1;
            let answer = self
                .answer
                .lock()
                .unwrap()
                .clone()
                .ok_or_else(|| ProviderUnavailable("down".into()))?;
            Ok(self
                .charges
                .lock()
                .unwrap()
                .entry(key)
                .or_insert(answer)
                .clone())
        }

        async fn refund(&self, key: Uuid, _: &str) -> Result<(), ProviderUnavailable> {
            self.refunds.lock().unwrap().push(key);
            Ok(())
        }

        async fn charge_status(
            &self,
            key: Uuid,
        ) -> Result<Option<ChargeOutcome>, ProviderUnavailable> {
            Ok(self.charges.lock().unwrap().get(&key).cloned())
        }
    }

    fn captured() -> ChargeOutcome {
        ChargeOutcome::Captured {
            reference: "ch_1".into(),
        }
    }

    struct Fixture {
        db: TestDatabase,
        state: &'static State,
        buyer: Uuid,
        product: Uuid,
    }

    async fn fixture() -> Fixture {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let buyer = user(&db.pool).await;
        let product = product(&db.pool, 10, 4999).await;
        Fixture {
            db,
            state,
            buyer,
            product,
        }
    }

    async fn place(f: &Fixture, quantity: i32) -> Uuid {
        let input = PlaceOrderInput {
            items: Some(vec![OrderLineInput {
                product_id: Some(f.product),
                quantity: Some(quantity),
            }]),
        };
        let render: fn(&OrderDetail) -> serde_json::Value = |d| json!({"id": d.order.id});
        let (_, body) = orders::place(f.state, &testing::customer(f.buyer), input, None, render)
            .await
            .unwrap();
        body["id"].as_str().unwrap().parse().unwrap()
    }

    async fn status_of(f: &Fixture, order: Uuid) -> (OrderStatus, PaymentStatus) {
        let client = f.db.pool.get().await.unwrap();
        let order_status = orders_store::find(&client, order)
            .await
            .unwrap()
            .unwrap()
            .status;
        let payment = payments::find_for_order(&client, order)
            .await
            .unwrap()
            .unwrap();
        (order_status, payment.status)
    }

    #[tokio::test]
    async fn two_deliveries_settling_at_once_charge_once_and_pay_once() {
        let f = fixture().await;
        let order = place(&f, 2).await;
        let provider = FakeProvider::answering(captured());
        let (a, b) = tokio::join!(
            settle(f.state, &provider, order, None),
            settle(f.state, &provider, order, None)
        );
        let mut outcomes = vec![a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes, vec![Settlement::Paid, Settlement::Skipped]);
        assert_eq!(
            provider.charges.lock().unwrap().len(),
            1,
            "one charge, whatever the calls"
        );
        assert_eq!(
            status_of(&f, order).await,
            (OrderStatus::Paid, PaymentStatus::Captured)
        );
        assert_eq!(stock(&f.db.pool, f.product).await, (8, 2, 0));
        assert_eq!(
            settle(f.state, &provider, order, None).await.unwrap(),
            Settlement::Skipped
        );
    }

    #[tokio::test]
    async fn a_decline_fails_the_order_and_returns_its_stock() {
        let f = fixture().await;
        let order = place(&f, 3).await;
        let provider = FakeProvider::answering(ChargeOutcome::Declined {
            reason: "insufficient_funds".into(),
        });
        assert_eq!(
            settle(f.state, &provider, order, None).await.unwrap(),
            Settlement::Declined
        );
        assert_eq!(
            status_of(&f, order).await,
            (OrderStatus::PaymentFailed, PaymentStatus::Declined)
        );
        assert_eq!(stock(&f.db.pool, f.product).await, (10, 0, 0));
    }

    #[tokio::test]
    async fn an_outage_fails_the_message_and_changes_nothing_but_the_attempt_count() {
        let f = fixture().await;
        let order = place(&f, 1).await;
        let provider = FakeProvider::default();
        let error = settle(f.state, &provider, order, None).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        let client = f.db.pool.get().await.unwrap();
        let payment = payments::find_for_order(&client, order)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (payment.status, payment.attempts),
            (PaymentStatus::Pending, 1)
        );
    }

    #[tokio::test]
    async fn a_cancelled_paid_order_is_refunded_once() {
        let f = fixture().await;
        let order = place(&f, 1).await;
        let provider = FakeProvider::answering(captured());
        settle(f.state, &provider, order, None).await.unwrap();
        orders::cancel(f.state, &testing::customer(f.buyer), order)
            .await
            .unwrap();
        assert_eq!(
            refund_cancelled(f.state, &provider, order).await.unwrap(),
            Settlement::Refunded
        );
        assert_eq!(
            refund_cancelled(f.state, &provider, order).await.unwrap(),
            Settlement::Skipped
        );
        assert_eq!(provider.refunds.lock().unwrap().len(), 1);
        assert_eq!(
            status_of(&f, order).await,
            (OrderStatus::Cancelled, PaymentStatus::Refunded)
        );
    }

    /// The ledger's rows of an order: (merchant, kind, gross, fee), by merchant then kind.
    async fn ledger_of(f: &Fixture, order: Uuid) -> Vec<(Uuid, String, i64, i64)> {
        let client = f.db.pool.get().await.unwrap();
        let rows = client
            .query(
                "SELECT merchant_id, kind, gross_cents, fee_cents FROM merchant_transactions
                  WHERE order_id = $1 ORDER BY merchant_id, kind",
                &[&order],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    #[tokio::test]
    async fn a_capture_books_each_merchants_share_with_its_fee_and_a_refund_books_it_back_without_one()
     {
        let f = fixture().await;
        let other = product(&f.db.pool, 10, 1000).await;
        let client = f.db.pool.get().await.unwrap();
        let merchant_of = |product: Uuid| {
            let client = &client;
            async move {
                let row = client
                    .query_one(
                        "SELECT merchant_id FROM products WHERE id = $1",
                        &[&product],
                    )
                    .await
                    .unwrap();
                row.get::<_, Uuid>(0)
            }
        };
        let (a, b) = (merchant_of(f.product).await, merchant_of(other).await);
        client
            .execute(
                "UPDATE merchants SET fee_rate_bps = 100, fee_fixed_cents = 0 WHERE id = $1",
                &[&b],
            )
            .await
            .unwrap();
        let input = PlaceOrderInput {
            items: Some(vec![
                OrderLineInput {
                    product_id: Some(f.product),
                    quantity: Some(2),
                },
                OrderLineInput {
                    product_id: Some(other),
                    quantity: Some(3),
                },
            ]),
        };
        let render: fn(&OrderDetail) -> serde_json::Value = |d| json!({"id": d.order.id});
        let (_, body) = orders::place(f.state, &testing::customer(f.buyer), input, None, render)
            .await
            .unwrap();
        let order: Uuid = body["id"].as_str().unwrap().parse().unwrap();
        let provider = FakeProvider::answering(captured());
        let (first, second) = tokio::join!(
            settle(f.state, &provider, order, None),
            settle(f.state, &provider, order, None)
        );
        assert!(first.is_ok() && second.is_ok());
        // 2 × 49.99 at 2.9 % + 0.30: 289.942 cents round to 290, plus 30. 3 × 10.00 at 1 %: 30.
        let mut expected = vec![
            (a, "CAPTURE".to_owned(), 9_998, 320),
            (b, "CAPTURE".to_owned(), 3_000, 30),
        ];
        expected.sort();
        assert_eq!(
            ledger_of(&f, order).await,
            expected,
            "one capture row per merchant"
        );

        orders::cancel(f.state, &testing::customer(f.buyer), order)
            .await
            .unwrap();
        refund_cancelled(f.state, &provider, order).await.unwrap();
        refund_cancelled(f.state, &provider, order).await.unwrap();
        let mut expected = vec![
            (a, "CAPTURE".to_owned(), 9_998, 320),
            (a, "REFUND".to_owned(), -9_998, 0),
            (b, "CAPTURE".to_owned(), 3_000, 30),
            (b, "REFUND".to_owned(), -3_000, 0),
        ];
        expected.sort();
        assert_eq!(
            ledger_of(&f, order).await,
            expected,
            "refunded once, fee kept"
        );
    }

    #[tokio::test]
    async fn reconciliation_pays_what_settled_and_refunds_what_settled_too_late() {
        let f = fixture().await;
        let provider = FakeProvider::answering(ChargeOutcome::Pending);
        let (paid, late, still) = (place(&f, 1).await, place(&f, 1).await, place(&f, 1).await);
        for order in [paid, late, still] {
            assert_eq!(
                settle(f.state, &provider, order, None).await.unwrap(),
                Settlement::Pending
            );
        }
        let key = |order| {
            let db = &f.db;
            async move {
                let client = db.pool.get().await.unwrap();
                payments::find_for_order(&client, order)
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
        };
        provider.settle(key(paid).await, captured());
        provider.settle(key(late).await, captured());
        // The late order was cancelled before its charge settled (expiry is the same move).
        orders::cancel(f.state, &testing::customer(f.buyer), late)
            .await
            .unwrap();
        f.db.pool
            .get()
            .await
            .unwrap()
            .execute(
                "UPDATE payments SET updated_at = now() - interval '5 minutes'",
                &[],
            )
            .await
            .unwrap();
        let run = reconcile(f.state, &provider).await.unwrap();
        assert_eq!(
            run,
            Reconciliation {
                checked: 3,
                paid: 1,
                refunded: 1,
                still_pending: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            status_of(&f, paid).await,
            (OrderStatus::Paid, PaymentStatus::Captured)
        );
        assert_eq!(
            status_of(&f, late).await,
            (OrderStatus::Cancelled, PaymentStatus::Refunded)
        );
        assert_eq!(
            status_of(&f, still).await,
            (OrderStatus::PendingPayment, PaymentStatus::Pending)
        );
        assert_eq!(
            reconcile(f.state, &provider).await.unwrap().checked,
            0,
            "what is still pending waits before it is asked again"
        );
    }
}

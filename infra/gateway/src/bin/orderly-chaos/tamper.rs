//! `--prove-checks`: after the invariants held, breaks each one on purpose (the run's database is thrown
//! away after) and checks again: every check must now report its violation. A check that cannot fail
//! would pass every chaos run and prove nothing.

use serde_json::json;
use uuid::Uuid;

use crate::Stack;
use crate::check;
use crate::load::{Outcome, World};

/// The checks that did not see the breakage meant for them.
pub async fn prove_checks_can_fail(
    stack: &Stack,
    world: &World,
    outcome: &mut Outcome,
) -> Vec<&'static str> {
    // The relay would publish the outbox row put back below before the checks look.
    let relay = format!(
        "{}/functions/OutboxRelayFunction/concurrency",
        stack.control
    );
    stack
        .http
        .put(&relay)
        .json(&json!({"reserved": 0}))
        .send()
        .await
        .expect("the control API");
    let db = stack.database().await;
    let product = *world.initial_stock.keys().next().expect("a product");
    let completed: Uuid = db
        .query_one(
            "SELECT id FROM orders WHERE status = 'COMPLETED' LIMIT 1",
            &[],
        )
        .await
        .expect("a completed order")
        .get(0);
    for statement in [
        // A unit sold out of nowhere.
        format!("UPDATE inventory SET sold = sold + 1 WHERE product_id = '{product}'"),
        // A notification lost, a report counted twice, an event left unpublished.
        format!("DELETE FROM notifications WHERE type = 'order.completed' AND data->>'order_id' = '{completed}'"),
        "UPDATE daily_sales SET orders = orders + 1 WHERE day = (SELECT max(day) FROM daily_sales)".to_owned(),
        "UPDATE outbox SET published_at = NULL WHERE id = (SELECT id FROM outbox ORDER BY created_at DESC LIMIT 1)".to_owned(),
        // An order stopped between payment and fulfilment.
        "UPDATE orders SET status = 'PAID' WHERE id = (SELECT id FROM orders WHERE status = 'CANCELLED' LIMIT 1)".to_owned(),
    ] {
        db.batch_execute(&statement).await.expect("a breakage");
    }
    // A second charge kept for a paid order, under another key.
    stack
        .http
        .post(format!("{}/v1/charges", stack.provider))
        .header("idempotency-key", Uuid::now_v7().to_string())
        .json(&json!({"amount_cents": 1000, "currency": "EUR", "reference": completed.to_string()}))
        .send()
        .await
        .expect("the provider");
    // An order a client was told about that the database never saw.
    outcome.placed.push(Uuid::now_v7());

    let rows = check::run(stack, world, outcome).await;
    let expected = [
        "acknowledged orders stored",
        "orders terminal or legitimately pending",
        "stock conserved (available + reserved + sold)",
        "reserved and sold match the orders",
        "each paid order charged exactly once",
        "each completed order notified once",
        "the daily report counts each once",
        "outbox empty",
    ];
    let blind = expected
        .into_iter()
        .filter(|name| rows.iter().any(|r| r.name == *name && r.violations == 0))
        .collect();
    stack
        .http
        .put(&relay)
        .json(&json!({"reserved": null}))
        .send()
        .await
        .expect("the control API");
    blind
}

//! The order pipeline end to end: placement → payment (simulated provider) → fulfilment → notification
//! → reporting, over the real topic, queues, filters and workers of template.yaml.

use std::time::Duration;

use chrono::Utc;
use orderly_e2e::{Answer, Session, Stack, database, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const PIPELINE: Duration = Duration::from_secs(60);

async fn place(stack: &Stack, user: &Session, product: &Value, quantity: i32) -> Answer {
    let placed = stack
        .place_order(
            user,
            json!([{"product_id": product["id"], "quantity": quantity}]),
        )
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    placed
}

async fn reaches(stack: &Stack, user: &Session, order_id: &str, status: &str) -> Value {
    stack.order_reaches(user, order_id, status).await
}

/// Waits until the log notifier has printed its exact line for this order and status.
async fn notified(user: &Session, order_id: &str, status: &str) {
    let line = format!(
        "Email sent to customer {} for Order #{order_id} - Status: {status}",
        user.id
    );
    eventually(&format!("the {status} notification"), PIPELINE, || async {
        stack_log()
            .lines()
            .any(|l| l.trim_end() == line)
            .then_some(())
    })
    .await;
}

fn stack_log() -> String {
    let path = std::env::var("ORDERLY_STACK_LOG")
        .expect("ORDERLY_STACK_LOG: the stack's output; `make test` sets it");
    std::fs::read_to_string(path).expect("the stack's log is readable")
}

#[tokio::test]
async fn a_placed_order_is_paid_fulfilled_completed_notified_and_reported() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let mut socket = stack.connect_as(&user).await;
    let (_, product) = stack.product(10).await;
    let placed = place(&stack, &user, &product, 3).await;
    let order_id = placed.body["id"].as_str().unwrap();

    let status = reaches(&stack, &user, order_id, "COMPLETED").await;
    let path: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        vec!["PENDING_PAYMENT", "PAID", "FULFILLED", "COMPLETED"]
    );
    assert_eq!(
        stack.stock(product["id"].as_str().unwrap()).await,
        (7, 0, 3)
    );
    let captured = stack.charges(order_id).await;
    assert_eq!(captured.len(), 1);
    assert_eq!(
        (
            captured[0]["status"].as_str(),
            captured[0]["amount_cents"].as_i64()
        ),
        (Some("captured"), Some(3 * 4999))
    );

    let notification = eventually("the notification", PIPELINE, || async {
        let list = stack
            .call("GET", "/api/v1/notifications")
            .token(&user.access_token)
            .send()
            .await;
        let found = list.body["items"]
            .as_array()?
            .iter()
            .find(|n| n["data"]["order_id"] == json!(order_id))?
            .clone();
        (found["status"] == "SENT").then_some(found)
    })
    .await;
    assert_eq!(notification["type"], "order.completed");
    // The same notification, live on the customer's socket (it follows nothing: notifications go to
    // every socket of their user).
    let pushed = socket.receive_json(PIPELINE).await;
    assert_eq!(pushed["type"], "notification", "{pushed}");
    assert_eq!(pushed["notification"]["id"], notification["id"], "{pushed}");
    assert_eq!(pushed["notification"]["data"]["order_id"], json!(order_id));
    // The notifier prints before it marks the row SENT: the exact line is there by now.
    notified(&user, order_id, "completed").await;

    let product_id = product["id"].as_str().unwrap();
    let reported = eventually("the daily report to count the order", PIPELINE, || {
        stack.reported_today(product_id)
    })
    .await;
    assert_eq!(
        (
            &reported.1["orders"],
            &reported.1["units"],
            &reported.1["gross_cents"]
        ),
        (&json!(1), &json!(3), &json!(3 * 4999))
    );
    assert!(
        reported.0["orders"].as_i64().unwrap() >= 1
            && reported.0["gross_cents"].as_i64().unwrap() >= 3 * 4999
    );
}

#[tokio::test]
async fn a_declined_payment_fails_the_order_returns_the_stock_and_tells_the_customer() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product_at(5, 1666, "EUR").await; // the simulator declines amounts ending in …666
    let placed = place(&stack, &user, &product, 1).await;
    let order_id = placed.body["id"].as_str().unwrap();
    reaches(&stack, &user, order_id, "PAYMENT_FAILED").await;
    assert_eq!(
        stack.stock(product["id"].as_str().unwrap()).await,
        (5, 0, 0)
    );
    notified(&user, order_id, "payment_failed").await;
}

#[tokio::test]
async fn every_payment_message_delivered_twice_still_charges_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product(10).await;
    let placed = place(&stack, &user, &product, 1).await;
    let order_id = placed.body["id"].as_str().unwrap().to_owned();
    let order_uuid: Uuid = order_id.parse().unwrap();

    // Deliver the very same order.placed message again, twice, as SQS may.
    let envelope: Value = database()
        .await
        .query_one(
            "SELECT payload FROM outbox WHERE aggregate_id = $1 AND event_type = 'order.placed'",
            &[&order_uuid],
        )
        .await
        .unwrap()
        .get(0);
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let queue = stack.queue_url(&sqs, "PaymentsQueue").await;
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(envelope.to_string())
            .send()
            .await
            .expect("send");
    }
    let status = reaches(&stack, &user, &order_id, "COMPLETED").await;
    let paid = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["to_status"] == "PAID")
        .count();
    assert_eq!(paid, 1, "paid once");
    let captured = stack.charges(&order_id).await;
    assert_eq!(
        captured.len(),
        1,
        "one charge at the provider: {captured:?}"
    );
    let payment: (String, i32) = {
        let row = database()
            .await
            .query_one(
                "SELECT status, attempts FROM payments WHERE order_id = $1",
                &[&order_uuid],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(payment.0, "CAPTURED");
}

#[tokio::test]
async fn a_provider_outage_is_retried_and_orders_complete_after_recovery() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product(10).await;
    let before = stack
        .control_json("/invocations?function=PaymentFunction")
        .await
        .as_array()
        .unwrap()
        .len();
    let control = format!("{}/_control", stack.provider);
    stack
        .http
        .put(&control)
        .json(&json!({"outage": true}))
        .send()
        .await
        .unwrap();
    let placed = place(&stack, &user, &product, 2).await;
    let order_id = placed.body["id"].as_str().unwrap();

    // The worker fails the message while the provider is down…
    eventually(
        "a payment batch to fail during the outage",
        Duration::from_secs(20),
        || async {
            let history = stack
                .control_json("/invocations?function=PaymentFunction")
                .await;
            history.as_array()?[before..]
                .iter()
                .any(|r| r["batch"]["failed"].as_u64() > Some(0))
                .then_some(())
        },
    )
    .await;
    let pending = stack
        .call("GET", &format!("/api/v1/orders/{order_id}/status"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(pending.body["status"], "PENDING_PAYMENT");
    // …and SQS redelivers it once the provider is back.
    stack
        .http
        .put(&control)
        .json(&json!({"outage": false}))
        .send()
        .await
        .unwrap();
    reaches(&stack, &user, order_id, "COMPLETED").await;
    assert_eq!(stack.charges(order_id).await.len(), 1);
}

#[tokio::test]
async fn a_cancelled_order_counts_in_the_report_and_tells_the_customer() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let admin = stack.admin().await;
    let today = Utc::now().date_naive();
    let cancelled_before = stack
        .report_today()
        .await
        .map_or(0, |d| d["cancelled_orders"].as_i64().unwrap_or(0));
    // A pending order cancelled by its customer (a paid one may be fulfilled by the pipeline first).
    let (_, product) = stack.unpaid_product(5).await;
    let placed = place(&stack, &user, &product, 1).await;
    let order_id = placed.body["id"].as_str().unwrap();
    let cancelled = stack
        .call("PUT", &format!("/api/v1/orders/{order_id}/cancel"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(cancelled.status, 200);
    eventually(
        "the cancellation to reach the daily report",
        PIPELINE,
        || async {
            let now = stack.report_today().await?["cancelled_orders"].as_i64()?;
            (now > cancelled_before).then_some(())
        },
    )
    .await;
    notified(&user, order_id, "cancelled").await;

    let bad = stack
        .call("GET", "/api/v1/admin/reports/daily?from=2026-02-30&to=x")
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!((bad.status, bad.error_fields()), (422, vec!["from", "to"]));
    let customer_report = stack
        .call(
            "GET",
            &format!("/api/v1/admin/reports/daily?from={today}&to={today}"),
        )
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(customer_report.status, 403);
}

#[tokio::test]
async fn notifications_are_private_to_their_user() {
    let stack = Stack::from_env();
    let (owner, other) = (stack.customer().await, stack.customer().await);
    let (_, product) = stack.product(5).await;
    let placed = place(&stack, &owner, &product, 1).await;
    reaches(
        &stack,
        &owner,
        placed.body["id"].as_str().unwrap(),
        "COMPLETED",
    )
    .await;
    eventually("the owner's notification", PIPELINE, || async {
        let list = stack
            .call("GET", "/api/v1/notifications")
            .token(&owner.access_token)
            .send()
            .await;
        (!list.body["items"].as_array()?.is_empty()).then_some(())
    })
    .await;
    let theirs = stack
        .call("GET", "/api/v1/notifications")
        .token(&other.access_token)
        .send()
        .await;
    assert_eq!(
        (theirs.status, theirs.body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test]
async fn a_payment_that_always_fails_lands_in_the_payments_dlq() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product_at(5, 1503, "EUR").await; // the simulator always answers 503 for …503
    let placed = place(&stack, &user, &product, 1).await;
    let order_id = placed.body["id"].as_str().unwrap().to_owned();

    let dead = stack
        .take_message("PaymentsDLQ", Duration::from_secs(90), |body| {
            body.contains(order_id.as_str())
        })
        .await;
    let envelope: Value = serde_json::from_str(&dead).unwrap();
    assert_eq!(envelope["event_type"], "order.placed");
    let status = stack
        .call("GET", &format!("/api/v1/orders/{order_id}/status"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(
        status.body["status"], "PENDING_PAYMENT",
        "unpaid, awaiting a person (the DLQ alarm) or expiry"
    );
    let attempts: i32 = database()
        .await
        .query_one(
            "SELECT attempts FROM payments WHERE order_id = $1",
            &[&order_id.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        attempts, 5,
        "one attempt per receive, maxReceiveCount of PaymentsQueue"
    );
}

#[tokio::test]
async fn a_charge_left_pending_is_reconciled_paid_failed_or_refunded() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.unpaid_product(10).await;

    let paid = stack.pending_charge(&user, &product).await;
    let declined = stack.pending_charge(&user, &product).await;
    let late = stack.pending_charge(&user, &product).await;
    // The third order runs out of time before its charge settles: the expiry releases its stock.
    database()
        .await
        .execute(
            "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid",
            &[&late],
        )
        .await
        .unwrap();
    stack.fire_schedule("OrdersExpireFunction").await;
    reaches(&stack, &user, &late, "EXPIRED").await;

    stack.settle_charge(&paid, "captured").await;
    stack.settle_charge(&declined, "declined").await;
    stack.settle_charge(&late, "captured").await;
    let run = stack.fire_schedule("PaymentsReconcileFunction").await;
    let result = &run["result"];
    assert!(
        result["paid"].as_u64() >= Some(1)
            && result["declined"].as_u64() >= Some(1)
            && result["refunded"].as_u64() >= Some(1),
        "{run}"
    );

    reaches(&stack, &user, &paid, "COMPLETED").await;
    reaches(&stack, &user, &declined, "PAYMENT_FAILED").await;
    let refunded = stack.charges(&late).await;
    assert_eq!(
        (refunded.len(), refunded[0]["refunded"].as_bool()),
        (1, Some(true)),
        "captured after the order expired, so refunded: {refunded:?}"
    );
    let payment: String = database()
        .await
        .query_one(
            "SELECT status FROM payments WHERE order_id = $1::text::uuid",
            &[&late],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(payment, "REFUNDED");
    // Every unit came back except the one the paid order sold.
    assert_eq!(
        stack.stock(product["id"].as_str().unwrap()).await,
        (9, 0, 1)
    );
}

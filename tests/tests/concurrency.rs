//! Every consumer under Lambda's concurrency: the same message delivered twice and handled by two
//! invocations at the same moment (the local gateway runs several pollers per queue, as Lambda does)
//! charges once, fulfils once, notifies once and counts once in the report. Each test proves that its two
//! copies really were in flight together, from the gateway's invocation history. Two copies of a new event
//! received in one batch count once too (the chaos run found the report counting both).

use std::time::Duration;

use orderly_e2e::{Session, Stack, database, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const PIPELINE: Duration = Duration::from_secs(60);
/// An amount ending in …777 takes the simulated provider two seconds to charge.
const SLOW_CHARGE_CENTS: i64 = 1777;

/// The envelope the outbox published for this order and event type.
async fn published(order_id: &str, event_type: &str) -> Value {
    let order: Uuid = order_id.parse().unwrap();
    database()
        .await
        .query_one(
            "SELECT payload FROM outbox WHERE aggregate_id = $1 AND event_type = $2",
            &[&order, &event_type],
        )
        .await
        .unwrap()
        .get(0)
}

/// Sends two copies of `envelope` to `queue`, the second once a poller has taken the first (so that
/// the two do not land in one receive, and so in one invocation) while that invocation still waits in
/// its slow start, until the gateway has handled a pair in two invocations that overlapped in time.
async fn deliver_twice_at_once(stack: &Stack, queue: &str, function: &str, envelope: &Value) {
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let url = stack.queue_url(&sqs, queue).await;
    let send = || {
        sqs.send_message()
            .queue_url(&url)
            .message_body(envelope.to_string())
            .send()
    };
    for _ in 0..5 {
        // Whatever starts in the next seconds waits a moment first, as behind a cold start: two copies
        // received by two pollers are then in flight together, not one after the other.
        let slowed = stack
            .http
            .post(format!(
                "{}/faults/functions/{function}/slow-start",
                stack.control
            ))
            .json(&json!({"delay_ms": 1_000, "for_ms": 3_000}))
            .send()
            .await
            .unwrap();
        assert_eq!(slowed.status(), 204);
        let a = send().await.expect("send");
        // Until the first copy is no longer visible (taken by a poller), for at most a second: copies sent
        // together are often received together, by one poller, into one batch.
        for _ in 0..10 {
            if waiting(&sqs, &url).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let b = send().await.expect("send");
        let first = stack.handled(function, a.message_id().unwrap()).await;
        let second = stack.handled(function, b.message_id().unwrap()).await;
        let overlapped = first.0 != second.0 && first.1 < second.2 && second.1 < first.2;
        if overlapped {
            return;
        }
    }
    panic!(
        "{function} never handled two copies at once in five tries: are its pollers concurrent?"
    );
}

/// Messages visible on the queue (not yet taken by a poller).
async fn waiting(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes");
    attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn completed_order(stack: &Stack, user: &Session) -> (String, String) {
    let (_, product) = stack.product(10).await;
    let placed = stack
        .place_order(user, json!([{"product_id": product["id"], "quantity": 1}]))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let order_id = placed.body["id"].as_str().unwrap().to_owned();
    stack.order_reaches(user, &order_id, "COMPLETED").await;
    (order_id, product["id"].as_str().unwrap().to_owned())
}

fn times_reached(order: &Value, status: &str) -> usize {
    order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["to_status"] == status)
        .count()
}

#[tokio::test]
async fn two_deliveries_of_a_placement_at_once_charge_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product_at(10, SLOW_CHARGE_CENTS, "EUR").await;
    let placed = stack
        .place_order(&user, json!([{"product_id": product["id"], "quantity": 1}]))
        .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let order_id = placed.body["id"].as_str().unwrap().to_owned();

    // While the original's charge is still at the provider, two more copies arrive at once.
    let envelope = published(&order_id, "order.placed").await;
    deliver_twice_at_once(&stack, "PaymentsQueue", "PaymentFunction", &envelope).await;

    let order = stack.order_reaches(&user, &order_id, "COMPLETED").await;
    assert_eq!(times_reached(&order, "PAID"), 1, "{order}");
    let charges = stack.charges(&order_id).await;
    assert_eq!(charges.len(), 1, "one charge at the provider: {charges:?}");
    let ledger: i64 = database()
        .await
        .query_one(
            "SELECT count(*) FROM merchant_transactions WHERE order_id = $1::text::uuid AND kind = 'CAPTURE'",
            &[&order_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ledger, 1, "one merchant share in the ledger");
}

#[tokio::test]
async fn two_deliveries_of_a_payment_at_once_fulfil_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (order_id, _) = completed_order(&stack, &user).await;

    let envelope = published(&order_id, "order.paid").await;
    deliver_twice_at_once(&stack, "FulfillmentQueue", "FulfillmentFunction", &envelope).await;

    let order = stack.order_reaches(&user, &order_id, "COMPLETED").await;
    assert_eq!(times_reached(&order, "FULFILLED"), 1, "{order}");
    assert_eq!(times_reached(&order, "COMPLETED"), 1, "{order}");
}

/// How many stored notifications of `user` are about the order's completion.
async fn completion_notices(stack: &Stack, user: &Session, order_id: &str) -> usize {
    let notifications = stack
        .call("GET", "/api/v1/notifications?limit=100")
        .token(&user.access_token)
        .send()
        .await;
    notifications.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["data"]["order_id"] == order_id && n["type"] == "order.completed")
        .count()
}

/// Today's report line of the product: (orders, units), once it has one.
async fn reported(stack: &Stack, product_id: &str) -> Option<(Value, Value)> {
    let (_, line) = stack.reported_today(product_id).await?;
    Some((line["orders"].clone(), line["units"].clone()))
}

#[tokio::test]
async fn two_deliveries_of_a_completion_at_once_notify_once_and_count_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (order_id, product_id) = completed_order(&stack, &user).await;
    // The original delivery first: then any second notice or count could only come from the copies.
    eventually("the completion notice", PIPELINE, || async {
        (completion_notices(&stack, &user, &order_id).await == 1).then_some(())
    })
    .await;
    let counted = eventually("the report to count the order", PIPELINE, || {
        reported(&stack, &product_id)
    })
    .await;
    assert_eq!(counted, (json!(1), json!(1)));

    let envelope = published(&order_id, "order.completed").await;
    deliver_twice_at_once(
        &stack,
        "NotificationsQueue",
        "NotificationFunction",
        &envelope,
    )
    .await;
    deliver_twice_at_once(&stack, "ReportingQueue", "ReportFunction", &envelope).await;

    assert_eq!(completion_notices(&stack, &user, &order_id).await, 1);
    assert_eq!(reported(&stack, &product_id).await, Some(counted));
}

/// Sends two copies of `envelope` in one `SendMessageBatch`, so that a poller usually receives them
/// together; returns whether `function` handled both in one invocation.
async fn deliver_twice_in_one_batch(
    stack: &Stack,
    queue: &str,
    function: &str,
    envelope: &Value,
) -> bool {
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let url = stack.queue_url(&sqs, queue).await;
    let entry = |id: &str| {
        aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body(envelope.to_string())
            .build()
            .unwrap()
    };
    let sent = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("a"))
        .entries(entry("b"))
        .send()
        .await
        .expect("send");
    assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    let ids: Vec<&str> = sent.successful().iter().map(|s| s.message_id()).collect();
    let first = stack.handled(function, ids[0]).await;
    let second = stack.handled(function, ids[1]).await;
    first.0 == second.0
}

#[tokio::test]
async fn two_copies_of_a_new_completion_in_one_batch_count_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (order_id, product_id) = completed_order(&stack, &user).await;
    let counted = eventually("the report to count the order", PIPELINE, || {
        reported(&stack, &product_id)
    })
    .await;
    assert_eq!(counted, (json!(1), json!(1)));

    // Copies of an event the report has not seen yet (the relay republishes a row it died before
    // marking sent, and both copies can be received together). Under a new event id the completion is
    // another event, which counts the order once more: each such event adds one order, whatever the
    // number of its copies or how they were batched.
    let mut envelope = published(&order_id, "order.completed").await;
    let mut events = 0;
    let mut together = false;
    while !together && events < 5 {
        envelope["event_id"] = json!(Uuid::now_v7());
        together =
            deliver_twice_in_one_batch(&stack, "ReportingQueue", "ReportFunction", &envelope).await;
        events += 1;
    }
    assert!(
        together,
        "ReportFunction never received two copies in one batch in five tries"
    );
    assert_eq!(
        reported(&stack, &product_id).await,
        Some((json!(1 + events), json!(1 + events)))
    );
}

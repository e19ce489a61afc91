//! Events through the real topology: SNS `order-events` → filtered SQS subscription → event source
//! mapping → worker → WebSocket, including a retry after a failure and a poison message in the DLQ, and
//! the outbox: published by the relay as it commits, and by the sweeper when the relay left it behind.
//! (Not beside the order load tests: a swept event would wait behind their backlog.)

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use orderly_e2e::{Session, Socket, Stack, database, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// Publishes an order event for `user`'s order stream straight to the topic, as the outbox would.
async fn publish_order_event(stack: &Stack, user: &Session, order: Uuid, status: &str) -> Uuid {
    let sns = aws_sdk_sns::Client::new(&stack.aws().await);
    let event_id = Uuid::now_v7();
    let envelope = json!({
        "event_id": event_id,
        "event_type": "order.paid",
        "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"order_id": order, "user_id": user.id, "status": status, "previous_status": "PENDING_PAYMENT", "total_cents": 4999, "currency": "EUR"},
    });
    let attribute = MessageAttributeValue::builder()
        .data_type("String")
        .string_value("order.paid")
        .build()
        .unwrap();
    sns.publish()
        .topic_arn(stack.topic_arn(&sns, "OrderEventsTopic").await)
        .message(envelope.to_string())
        .message_attributes("event_type", attribute)
        .send()
        .await
        .expect("publish");
    event_id
}

/// A socket of a new customer following their own orders.
async fn follow_own_orders(stack: &Stack) -> (Session, Socket) {
    let user = stack.customer().await;
    let mut socket = stack.connect_as(&user).await;
    socket
        .send(json!({"action": "subscribe", "topics": ["orders"]}))
        .await;
    assert_eq!(
        socket.receive_json(Duration::from_secs(10)).await["type"],
        "subscribed"
    );
    (user, socket)
}

#[tokio::test]
async fn an_order_event_published_to_sns_reaches_the_socket_following_it() {
    let stack = Stack::from_env();
    let order = Uuid::now_v7();
    let (user, mut socket) = follow_own_orders(&stack).await;
    let event_id = publish_order_event(&stack, &user, order, "PAID").await;

    let update = socket.receive_json(WAIT).await;
    assert_eq!(update["type"], "order.status");
    assert_eq!(update["order_id"], json!(order));
    assert_eq!(update["status"], "PAID");
    assert_eq!(update["event_id"], json!(event_id));
    socket.close().await;
}

#[tokio::test]
async fn a_message_whose_push_fails_once_is_redelivered_and_then_succeeds() {
    let stack = Stack::from_env();
    let order = Uuid::now_v7();
    let (user, mut socket) = follow_own_orders(&stack).await;
    let connection_id = socket.connection_id().await;
    let before = stack
        .control_json("/invocations?function=WsPushFunction")
        .await
        .as_array()
        .unwrap()
        .len();

    // The next push to this connection fails with a non-retryable AWS error, so the worker reports the
    // message as a batch item failure and SQS redelivers it after the visibility timeout.
    let fault = json!({"status": 403, "error_type": "ForbiddenException", "count": 1, "connection_id": connection_id});
    let armed = stack
        .http
        .post(format!("{}/faults/post-to-connection", stack.control))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 204);
    publish_order_event(&stack, &user, order, "PAID").await;

    let update = socket.receive_json(WAIT).await;
    assert_eq!(
        (update["type"].as_str(), update["status"].as_str()),
        (Some("order.status"), Some("PAID"))
    );
    let remaining = stack.control_json("/faults/post-to-connection").await;
    assert_eq!(
        remaining["count"], 0,
        "the fault was hit before the delivery that succeeded"
    );
    let history = stack
        .control_json("/invocations?function=WsPushFunction")
        .await;
    let failed_batches = history.as_array().unwrap()[before..]
        .iter()
        .filter(|r| r["batch"]["failed"].as_u64() > Some(0))
        .count();
    assert!(
        failed_batches >= 1,
        "a batch reported the failed message: {history}"
    );
    socket.close().await;
}

#[tokio::test]
async fn a_message_that_always_fails_lands_in_the_dead_letter_queue() {
    let stack = Stack::from_env();
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let queue = stack.queue_url(&sqs, "WsPushQueue").await;
    let poison = format!("not an event envelope {}", Uuid::now_v7());
    sqs.send_message()
        .queue_url(&queue)
        .message_body(&poison)
        .send()
        .await
        .expect("send");

    let dead = stack
        .take_message("WsPushDLQ", Duration::from_secs(60), |body| body == poison)
        .await;
    assert_eq!(dead, poison);
    let history = stack
        .control_json("/invocations?function=WsPushFunction")
        .await;
    let failures = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["batch"]["failed"].as_u64() > Some(0))
        .count();
    assert!(
        failures >= 3,
        "the worker failed it on each of the 3 receives (maxReceiveCount) first: {history}"
    );
}

#[tokio::test]
async fn the_relay_publishes_events_as_they_commit_and_the_sweeper_what_the_relay_left_behind() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.unpaid_product(5).await;
    let placed = stack
        .place_order(&user, json!([{"product_id": product["id"], "quantity": 1}]))
        .await;
    let order_id: Uuid = placed.body["id"].as_str().unwrap().parse().unwrap();
    let db = database().await;
    eventually(
        "the relay to publish order.placed",
        Duration::from_secs(10),
        || async {
            db.query_one(
                "SELECT bool_and(published_at IS NOT NULL) FROM outbox WHERE aggregate_id = $1",
                &[&order_id],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
            .then_some(())
        },
    )
    .await;

    // An event the relay did not publish within its window (relay down, topic down): stage one.
    let mut socket = stack.connect_as(&user).await;
    socket
        .send(json!({"action": "subscribe", "topics": [format!("order:{order_id}")]}))
        .await;
    assert_eq!(
        socket.receive_json(Duration::from_secs(10)).await["type"],
        "subscribed"
    );
    let event_id = Uuid::now_v7();
    let envelope = json!({"event_id": event_id, "event_type": "order.paid", "occurred_at": "2026-01-01T00:00:00Z",
                          "data": {"order_id": order_id, "user_id": user.id, "status": "PAID",
                                   "previous_status": "PENDING_PAYMENT", "total_cents": 4999, "currency": "XTS"}});
    db.execute(
        "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, created_at)
         VALUES ($1, 'order', $2, 'order.paid', $3, now() - interval '5 minutes')",
        &[&event_id, &order_id, &envelope],
    )
    .await
    .unwrap();
    let swept: Value = stack.fire_schedule("OutboxSweepFunction").await;
    assert!(
        swept["result"]["published"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{swept}"
    );
    // The order's own order.placed may arrive first: wait for the swept event itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let update = loop {
        let message = socket
            .receive_json(deadline - tokio::time::Instant::now())
            .await;
        if message["event_id"] == json!(event_id) {
            break message;
        }
    };
    assert_eq!(
        (update["type"].as_str(), update["status"].as_str()),
        (Some("order.status"), Some("PAID"))
    );
    let row = db
        .query_one(
            "SELECT published_at IS NOT NULL FROM outbox WHERE id = $1",
            &[&event_id],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0), "the sweeper marked it published");
    socket.close().await;
}

/// SNS refuses a `PublishBatch` whose messages come to more than 256 KiB together, whatever the count
/// (the emulator too). Three sends committed at once, each over half that (3,500 recipients; a page of
/// 1,000 is about 39 KB), are claimed by the relay together: no two fit in one batch, and each must
/// still go out and reach its recipient.
#[tokio::test]
async fn events_too_large_to_share_a_publish_batch_are_relayed_in_batches_that_fit() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let mut socket = stack.connect_as(&user).await;
    let run = Uuid::now_v7();
    let mut client = database().await;
    let tx = client.transaction().await.unwrap();
    let mut sent = Vec::new();
    for i in 0..3 {
        let (event_id, batch_id) = (Uuid::now_v7(), Uuid::now_v7());
        let title = format!("large {i} {run}");
        // The user's notification, as the send stores it; the others have no socket.
        let user_id: Uuid = user.id.parse().unwrap();
        tx.execute(
            "INSERT INTO notifications (id, user_id, event_id, type, title, message, status, sent_at)
             VALUES ($1, $2, $3, 'note', $4, 'm', 'SENT', now())",
            &[&Uuid::now_v7(), &user_id, &batch_id, &title],
        )
        .await
        .unwrap();
        let user_ids: Vec<Uuid> = std::iter::once(user_id)
            .chain((1..3_500).map(|_| Uuid::now_v7()))
            .collect();
        let envelope = json!({"event_id": event_id, "event_type": "notification.sent",
                              "occurred_at": chrono::Utc::now(),
                              "data": {"batch_id": batch_id, "sent_by": user.id, "user_ids": user_ids,
                                       "type": "note", "title": title, "message": "m", "data": {},
                                       "timestamp": chrono::Utc::now()}});
        assert!(envelope.to_string().len() > orderly_cloud::PUBLISH_BATCH_MAX_BYTES / 2);
        tx.execute(
            "INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload)
             VALUES ($1, 'notification', $2, 'notification.sent', $3)",
            &[&event_id, &batch_id, &envelope],
        )
        .await
        .unwrap();
        sent.push((event_id, title));
    }
    tx.commit().await.unwrap();

    let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    let refused: i64 = eventually(
        "the relay to publish all three",
        Duration::from_secs(20),
        || async {
            let row = client
                .query_one(
                    "SELECT count(*) FILTER (WHERE published_at IS NOT NULL), count(last_error)
                       FROM outbox WHERE id = ANY($1)",
                    &[&ids],
                )
                .await
                .unwrap();
            (row.get::<_, i64>(0) == 3).then(|| row.get::<_, i64>(1))
        },
    )
    .await;
    assert_eq!(refused, 0, "no batch was refused on the way");
    let mut titles = Vec::new();
    while titles.len() < 3 {
        let pushed = socket.receive_json(Duration::from_secs(30)).await;
        if pushed["type"] == "notification" {
            titles.push(pushed["notification"]["title"].as_str().unwrap().to_owned());
        }
    }
    titles.sort();
    let expected: Vec<String> = sent.into_iter().map(|(_, title)| title).collect();
    assert_eq!(titles, expected);
    socket.close().await;
}

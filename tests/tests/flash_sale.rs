//! Flash sales (docs/adr/0018-flash-sales.md): a product in flash-sale mode answers orders `202 QUEUED`
//! and the reservation function, fed by its SQS queue, decides them in batches, first come first served:
//! never more accepted than the stock, each buyer told over the WebSocket, and a redelivered message
//! changes nothing.

use std::time::Duration;

use futures::StreamExt;
use orderly_e2e::{Answer, Session, Stack, database, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const DECIDED: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(20);

/// A product with `stock` units whose orders stay `PENDING_PAYMENT`, switched to flash-sale mode.
async fn flash_sale_product(stack: &Stack, stock: i32) -> String {
    let (_, product) = stack.unpaid_product(stock).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let admin = stack.admin().await;
    let switched = stack
        .call("PUT", &format!("/api/v1/products/{id}/inventory"))
        .token(&admin.access_token)
        .json(&json!({"flash_sale": true}))
        .send()
        .await;
    assert_eq!(switched.status, 200, "{switched:?}");
    assert_eq!(switched.body["flash_sale"], true);
    assert_eq!(switched.body["available"], stock);
    id
}

/// Holds the product's stock row as a long reservation pass would, until `release`: orders queue
/// meanwhile and are decided together afterwards.
async fn hold_stock_row(product: &str) -> tokio_postgres::Client {
    let holder = database().await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute(
            "SELECT 1 FROM inventory WHERE product_id = $1 FOR UPDATE",
            &[&product.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    holder
}

async fn release(holder: tokio_postgres::Client) {
    holder.batch_execute("COMMIT").await.unwrap();
}

/// Sends the event of `event_type` about `aggregate` (as the outbox wrote it) to a worker's queue again,
/// as SQS may, and waits until the worker has handled it.
async fn redeliver(
    stack: &Stack,
    aggregate: &str,
    event_type: &str,
    (queue, worker): (&str, &str),
) {
    let envelope: Value = database()
        .await
        .query_one(
            "SELECT payload FROM outbox WHERE aggregate_id = $1 AND event_type = $2",
            &[&aggregate.parse::<Uuid>().unwrap(), &event_type],
        )
        .await
        .unwrap()
        .get(0);
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let url = stack.queue_url(&sqs, queue).await;
    let again = sqs
        .send_message()
        .queue_url(&url)
        .message_body(envelope.to_string())
        .send()
        .await
        .unwrap();
    stack.handled(worker, again.message_id().unwrap()).await;
}

/// The buyer's stored notifications about rejected flash-sale orders, once `count` are there.
async fn rejection_notices(stack: &Stack, buyer: &Session, count: usize) -> Vec<Value> {
    eventually("the rejection notifications", WAIT, || async {
        let listed = stack
            .call("GET", "/api/v1/notifications?limit=100")
            .token(&buyer.access_token)
            .send()
            .await;
        let notices: Vec<Value> = listed.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["type"] == "orders.rejected")
            .cloned()
            .collect();
        (notices.len() >= count).then_some(notices)
    })
    .await
}

async fn order_one(stack: &Stack, buyer: &Session, product: &str) -> Answer {
    stack
        .place_order(buyer, json!([{"product_id": product, "quantity": 1}]))
        .await
}

/// How many of the product's orders are in each status.
async fn statuses(product: &str) -> Vec<(String, i64)> {
    let product: Uuid = product.parse().unwrap();
    database()
        .await
        .query(
            "SELECT o.status, count(*) FROM orders o JOIN order_items i ON i.order_id = o.id
              WHERE i.product_id = $1 GROUP BY o.status ORDER BY o.status",
            &[&product],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn until_none_queued(product: &str) -> Vec<(String, i64)> {
    eventually("every queued order to be decided", DECIDED, || async {
        let now = statuses(product).await;
        now.iter().all(|(s, _)| s != "QUEUED").then_some(now)
    })
    .await
}

/// The `order.status` update the socket receives for each of `order_ids` (in whatever order they
/// come), skipping anything else.
async fn statuses_pushed(
    socket: &mut orderly_e2e::Socket,
    order_ids: &[&str],
) -> std::collections::HashMap<String, Value> {
    let mut pushed = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + WAIT;
    while pushed.len() < order_ids.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "pushes for {order_ids:?} within {WAIT:?}; got {pushed:?}"
        );
        let message = socket.receive_json(WAIT).await;
        let order = message["order_id"].as_str().unwrap_or_default().to_owned();
        if message["type"] == "order.status" && order_ids.contains(&order.as_str()) {
            pushed.insert(order, message);
        }
    }
    pushed
}

#[tokio::test]
async fn queued_orders_are_decided_first_come_first_served_pushed_and_a_redelivery_changes_nothing()
{
    let stack = Stack::from_env();
    let product = flash_sale_product(&stack, 1).await;
    let buyer = stack.customer().await;
    let mut socket = stack.connect_as(&buyer).await;
    socket
        .send(json!({"action": "subscribe", "topics": ["orders"]}))
        .await;
    assert_eq!(socket.receive_json(WAIT).await["type"], "subscribed");

    // Both orders are queued before any decision.
    let hold = hold_stock_row(&product).await;
    let first = order_one(&stack, &buyer, &product).await;
    let second = order_one(&stack, &buyer, &product).await;
    for queued in [&first, &second] {
        assert_eq!(queued.status, 202, "{queued:?}");
        assert_eq!(queued.body["status"], "QUEUED");
        assert_eq!(queued.body["items"][0]["quantity"], 1);
    }
    let two_lines = stack
        .place_order(
            &buyer,
            json!([{"product_id": product, "quantity": 1}, {"product_id": Uuid::now_v7(), "quantity": 1}]),
        )
        .await;
    assert_eq!(two_lines.status, 422, "{two_lines:?}");
    release(hold).await;

    let (first_id, second_id) = (
        first.body["id"].as_str().unwrap(),
        second.body["id"].as_str().unwrap(),
    );
    stack
        .order_reaches(&buyer, first_id, "PENDING_PAYMENT")
        .await;
    stack
        .order_reaches(&buyer, second_id, "REJECTED_OUT_OF_STOCK")
        .await;
    let pushed = statuses_pushed(&mut socket, &[first_id, second_id]).await;
    let (accepted, rejected) = (&pushed[first_id], &pushed[second_id]);
    assert_eq!(accepted["status"], "PENDING_PAYMENT", "{accepted}");
    assert_eq!(rejected["status"], "REJECTED_OUT_OF_STOCK", "{rejected}");
    assert_eq!(rejected["event"], "orders.rejected");
    assert_eq!(rejected["product_id"], product.as_str());
    assert_eq!(stack.stock(&product).await, (0, 1, 0));

    // Sold out: the next order is refused at once, as a normal placement would be.
    let late = order_one(&stack, &buyer, &product).await;
    assert_eq!(
        (late.status, late.error_code()),
        (409, "OUT_OF_STOCK"),
        "{late:?}"
    );

    // SQS delivers at least once: the first order's message again finds nothing to decide.
    redeliver(
        &stack,
        first_id,
        "order.queued",
        ("FlashSaleQueue", "FlashSaleReservationFunction"),
    )
    .await;
    assert_eq!(stack.stock(&product).await, (0, 1, 0));
    assert_eq!(
        statuses(&product).await,
        [
            ("PENDING_PAYMENT".to_owned(), 1),
            ("REJECTED_OUT_OF_STOCK".to_owned(), 1)
        ]
    );

    // The rejection is also a stored notification, and its redelivery stores nothing more.
    let notices = rejection_notices(&stack, &buyer, 1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["title"], "Sold out");
    assert_eq!(notices[0]["data"]["product_id"], product.as_str());
    assert_eq!(notices[0]["data"]["status"], "REJECTED_OUT_OF_STOCK");
    redeliver(
        &stack,
        &product,
        "orders.rejected",
        ("NotificationsQueue", "NotificationFunction"),
    )
    .await;
    assert_eq!(rejection_notices(&stack, &buyer, 1).await.len(), 1);
    socket.close().await;
}

#[tokio::test]
async fn a_ten_thousand_order_burst_for_a_hundred_units_accepts_exactly_a_hundred() {
    let _turn = orderly_e2e::load_test_turn().await;
    let stack = Stack::from_env();
    let product = flash_sale_product(&stack, 100).await;
    // A hundred signed-in buyers, a hundred orders each (registration costs two argon2 hashes, so ten
    // thousand distinct accounts would measure the password hashing, not the sale).
    let buyers = stack.customers(100).await;
    let attempts = (0..10_000).map(|n| order_one(&stack, &buyers[n % buyers.len()], &product));
    let answers: Vec<Answer> = futures::stream::iter(attempts)
        .buffer_unordered(100)
        .collect()
        .await;

    let unexpected: Vec<&Answer> = answers
        .iter()
        .filter(|a| {
            !((a.status == 202 && a.body["status"] == "QUEUED")
                || (a.status == 409 && a.error_code() == "OUT_OF_STOCK"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "every buyer is queued or told it is sold out: {:?}",
        unexpected.iter().take(3).collect::<Vec<_>>()
    );
    let queued = answers.iter().filter(|a| a.status == 202).count() as i64;
    assert!(queued >= 100, "at least the stock was queued: {queued}");

    let decided = until_none_queued(&product).await;
    assert_eq!(
        decided,
        [
            ("PENDING_PAYMENT".to_owned(), 100),
            ("REJECTED_OUT_OF_STOCK".to_owned(), queued - 100)
        ],
        "exactly the stock is accepted; every other queued order is rejected"
    );
    assert_eq!(stack.stock(&product).await, (0, 100, 0));
    let waiting: i64 = database()
        .await
        .query_one("SELECT count(*) FROM flash_sale_queue", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 0, "the queue is empty");
}

async fn set_stock(stack: &Stack, admin: &Session, product: &str, body: Value) -> Answer {
    stack
        .call("PUT", &format!("/api/v1/products/{product}/inventory"))
        .token(&admin.access_token)
        .json(&body)
        .send()
        .await
}

async fn order(stack: &Stack, buyer: &Session, product: &str, quantity: i32) -> String {
    let answer = stack
        .place_order(
            buyer,
            json!([{"product_id": product, "quantity": quantity}]),
        )
        .await;
    assert_eq!(answer.status, 202, "{answer:?}");
    answer.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_buyer_limit_counts_what_each_buyer_holds_and_ends_with_the_sale() {
    let stack = Stack::from_env();
    let product = flash_sale_product(&stack, 10).await;
    let admin = stack.admin().await;
    let limited = set_stock(&stack, &admin, &product, json!({"buyer_limit": 2})).await;
    assert_eq!(
        (limited.status, &limited.body["buyer_limit"]),
        (200, &json!(2)),
        "{limited:?}"
    );
    let (ann, bob) = (stack.customer().await, stack.customer().await);
    let mut socket = stack.connect_as(&ann).await;
    socket
        .send(json!({"action": "subscribe", "topics": ["orders"]}))
        .await;
    assert_eq!(socket.receive_json(WAIT).await["type"], "subscribed");

    // One order above the limit can never be accepted: refused at the door, nothing queued.
    let too_many = stack
        .place_order(&ann, json!([{"product_id": product, "quantity": 3}]))
        .await;
    assert_eq!(too_many.status, 422, "{too_many:?}");
    assert_eq!(
        too_many.body["error"]["details"][0]["field"],
        "items[0].quantity"
    );

    // Held back so that all four are decided in one pass, which must count its own acceptances.
    let hold = hold_stock_row(&product).await;
    let ann_first = order(&stack, &ann, &product, 1).await;
    let ann_second = order(&stack, &ann, &product, 2).await;
    let ann_third = order(&stack, &ann, &product, 1).await;
    let bob_first = order(&stack, &bob, &product, 2).await;
    release(hold).await;

    for (id, status) in [
        (&ann_first, "PENDING_PAYMENT"),
        (&ann_second, "REJECTED_BUYER_LIMIT"),
        (&ann_third, "PENDING_PAYMENT"),
    ] {
        stack.order_reaches(&ann, id, status).await;
    }
    stack
        .order_reaches(&bob, &bob_first, "PENDING_PAYMENT")
        .await;
    let pushed = statuses_pushed(&mut socket, &[&ann_second]).await;
    let refused = &pushed[&ann_second];
    assert_eq!(refused["status"], "REJECTED_BUYER_LIMIT", "{refused}");
    assert_eq!(refused["event"], "orders.rejected");
    let notices = rejection_notices(&stack, &ann, 1).await;
    assert_eq!(
        notices[0]["title"], "Over the limit per buyer",
        "{notices:?}"
    );
    assert!(
        rejection_notices(&stack, &bob, 0).await.is_empty(),
        "bob was not rejected"
    );

    // A later pass counts what Ann already holds; a cancelled order gives its units back to her limit.
    let ann_fourth = order(&stack, &ann, &product, 1).await;
    stack
        .order_reaches(&ann, &ann_fourth, "REJECTED_BUYER_LIMIT")
        .await;
    let cancelled = stack
        .call("PUT", &format!("/api/v1/orders/{ann_first}/cancel"))
        .token(&ann.access_token)
        .send()
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let ann_fifth = order(&stack, &ann, &product, 1).await;
    stack
        .order_reaches(&ann, &ann_fifth, "PENDING_PAYMENT")
        .await;
    assert_eq!(
        stack.stock(&product).await,
        (6, 4, 0),
        "ann 1 + 1, bob 2 reserved"
    );

    // The limit belongs to the sale.
    let zero = set_stock(&stack, &admin, &product, json!({"buyer_limit": 0})).await;
    assert_eq!(zero.status, 422, "{zero:?}");
    assert_eq!(zero.body["error"]["details"][0]["field"], "buyer_limit");
    let ended = set_stock(&stack, &admin, &product, json!({"flash_sale": false})).await;
    assert_eq!(
        (&ended.body["flash_sale"], &ended.body["buyer_limit"]),
        (&json!(false), &Value::Null),
        "{ended:?}"
    );
    let without_sale = set_stock(&stack, &admin, &product, json!({"buyer_limit": 1})).await;
    assert_eq!(
        (without_sale.status, without_sale.error_code()),
        (409, "NOT_IN_FLASH_SALE"),
        "{without_sale:?}"
    );
    socket.close().await;
}

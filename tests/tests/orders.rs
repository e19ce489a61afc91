//! Orders: placement with reserved stock, idempotency, races for the last units, the status machine,
//! expiry and the outbox, black box through the local gateway (with direct SQL only to read stock
//! totals and to stage an expired order or a crashed publish).

use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orderly_e2e::{Answer, Session, Stack, database};
use serde_json::{Value, json};
use uuid::Uuid;

async fn order(stack: &Stack, user: &Session, items: Value) -> Answer {
    stack.place_order(user, items).await
}

async fn stock(stack: &Stack, product_id: &str) -> (i64, i64, i64) {
    stack.stock(product_id).await
}

fn id(product: &Value) -> String {
    product["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_order_reserves_its_lines_and_can_be_read_back() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let ((_, lamp), (_, mug)) = (
        stack.unpaid_product(10).await,
        stack.unpaid_product(5).await,
    );
    let placed = order(
        &stack,
        &user,
        json!([{"product_id": id(&lamp), "quantity": 2}, {"product_id": id(&mug), "quantity": 1}]),
    )
    .await;
    assert_eq!(placed.status, 201, "{placed:?}");
    assert_eq!(placed.body["status"], "PENDING_PAYMENT");
    assert_eq!(placed.body["total_cents"], 3 * 4999);
    assert_eq!(placed.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(stock(&stack, &id(&lamp)).await, (8, 2, 0));
    assert_eq!(stock(&stack, &id(&mug)).await, (4, 1, 0));

    let order_id = placed.body["id"].as_str().unwrap();
    let read = stack
        .call("GET", &format!("/api/v1/orders/{order_id}"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(
        (read.status, &read.body["items"][0]["quantity"]),
        (200, &json!(if id(&lamp) < id(&mug) { 2 } else { 1 }))
    );
    // The placement answers with its lines as stored (built from the locked stock, not read back).
    assert_eq!(placed.body["items"], read.body["items"], "{placed:?}");
    assert_eq!(placed.body["items"][0]["sku"], read.body["items"][0]["sku"]);
    assert!(
        placed.body["items"][0]["name"]
            .as_str()
            .is_some_and(|name| !name.is_empty())
    );
    let status = stack
        .call("GET", &format!("/api/v1/orders/{order_id}/status"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(status.body["history"][0]["to_status"], "PENDING_PAYMENT");
    let mine = stack
        .call("GET", "/api/v1/orders?status=PENDING_PAYMENT")
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(mine.body["items"][0]["id"], json!(order_id));
    let other = stack.customer().await;
    assert_eq!(
        stack
            .call("GET", &format!("/api/v1/orders/{order_id}"))
            .token(&other.access_token)
            .send()
            .await
            .status,
        404
    );
    let bad_filter = stack
        .call("GET", "/api/v1/orders?status=SHIPPED")
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(bad_filter.status, 422);
}

#[tokio::test]
async fn not_enough_stock_is_409_naming_each_short_line_and_writes_nothing() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let ((_, a), (_, b), (_, c)) = (
        stack.product(1).await,
        stack.product(5).await,
        stack.product(0).await,
    );
    let refused = order(
        &stack,
        &user,
        json!([{"product_id": id(&a), "quantity": 2}, {"product_id": id(&b), "quantity": 5}, {"product_id": id(&c), "quantity": 1}]),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (409, "OUT_OF_STOCK")
    );
    let mut short: Vec<(String, i64, i64)> = refused.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["product_id"].as_str().unwrap().to_owned(),
                d["requested"].as_i64().unwrap(),
                d["available"].as_i64().unwrap(),
            )
        })
        .collect();
    short.sort();
    let mut expected = vec![(id(&a), 2, 1), (id(&c), 1, 0)];
    expected.sort();
    assert_eq!(short, expected);
    assert_eq!(
        stock(&stack, &id(&b)).await,
        (5, 0, 0),
        "the line that fitted was not reserved either"
    );
    let mine = stack
        .call("GET", "/api/v1/orders")
        .token(&user.access_token)
        .send()
        .await;
    assert!(
        mine.body["items"].as_array().unwrap().is_empty(),
        "no order was written"
    );
}

#[tokio::test]
async fn bad_baskets_and_unknown_or_deleted_products_are_422() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product(5).await;
    for (items, field) in [
        (json!([]), "items"),
        (
            json!([{"product_id": id(&product), "quantity": 0}]),
            "items[0].quantity",
        ),
        (
            json!([{"product_id": id(&product), "quantity": 101}]),
            "items[0].quantity",
        ),
        (json!([{"quantity": 1}]), "items[0].product_id"),
        (
            json!([{"product_id": Uuid::now_v7(), "quantity": 1}]),
            "items",
        ),
    ] {
        let answer = order(&stack, &user, items.clone()).await;
        assert_eq!(
            (answer.status, answer.error_fields().first().copied()),
            (422, Some(field)),
            "{items}"
        );
    }
    let admin = stack.admin().await;
    let deleted = stack
        .call("DELETE", &format!("/api/v1/products/{}", id(&product)))
        .token(&admin.access_token)
        .header("if-match", "\"1\"")
        .send()
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        order(
            &stack,
            &user,
            json!([{"product_id": id(&product), "quantity": 1}])
        )
        .await
        .status,
        422
    );
    let not_json = stack
        .call("POST", "/api/v1/orders")
        .token(&user.access_token)
        .body("{\"items\": [")
        .send()
        .await;
    assert_eq!(not_json.status, 400);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_body() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.unpaid_product(10).await;
    let key = Uuid::now_v7().to_string();
    let send = |quantity: i32| {
        let body = json!({"items": [{"product_id": id(&product), "quantity": quantity}]});
        stack
            .call("POST", "/api/v1/orders")
            .token(&user.access_token)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
    };
    let (first, concurrent) = tokio::join!(send(2), send(2));
    let again = send(2).await;
    assert_eq!(
        (first.status, concurrent.status, again.status),
        (201, 201, 201)
    );
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(
        first.body["id"], concurrent.body["id"],
        "a concurrent retry waits for the first and replays it"
    );
    assert_eq!(
        stock(&stack, &id(&product)).await,
        (8, 2, 0),
        "reserved once"
    );
    let other_body = send(3).await;
    assert_eq!(
        (other_body.status, other_body.error_fields()),
        (422, vec!["Idempotency-Key"])
    );
}

#[tokio::test]
async fn five_hundred_buyers_for_one_hundred_units_give_exactly_one_hundred_orders() {
    let _turn = orderly_e2e::load_test_turn().await;
    let stack = Stack::from_env();
    let (_, product) = stack.product(100).await;
    let buyers: Vec<Session> = stack.customers(50).await;
    let attempts = (0..500).map(|n| {
        order(
            &stack,
            &buyers[n % buyers.len()],
            json!([{"product_id": id(&product), "quantity": 1}]),
        )
    });
    let answers = futures::future::join_all(attempts).await;
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for answer in &answers {
        *by_status.entry(answer.status).or_default() += 1;
        if answer.status == 409 {
            assert_eq!(answer.error_code(), "OUT_OF_STOCK", "{answer:?}");
        }
    }
    assert_eq!(
        by_status,
        HashMap::from([(201, 100), (409, 400)]),
        "no other outcome (no deadlock, no 500)"
    );
    let (available, reserved, sold) = stock(&stack, &id(&product)).await;
    assert_eq!((available, reserved + sold), (0, 100));
    let product_id: Uuid = id(&product).parse().unwrap();
    let orders: i64 = database()
        .await
        .query_one(
            "SELECT count(*) FROM order_items WHERE product_id = $1",
            &[&product_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orders, 100);
}

#[tokio::test]
async fn a_thousand_multi_line_orders_never_oversell_and_conserve_every_unit() {
    let _turn = orderly_e2e::load_test_turn().await;
    let stack = Stack::from_env();
    let products: Vec<Value> = futures::future::join_all((0..50).map(|_| stack.product(40)))
        .await
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let ids: Vec<Uuid> = products.iter().map(|p| id(p).parse().unwrap()).collect();
    let initial: i64 = 50 * 40;
    let users: Vec<Session> = stack.customers(200).await;

    // A checker samples the totals while the orders race.
    let done = Arc::new(AtomicBool::new(false));
    let checker = {
        let (done, ids) = (done.clone(), ids.clone());
        tokio::spawn(async move {
            let db = database().await;
            let mut checks = 0;
            while !done.load(Ordering::Relaxed) || checks == 0 {
                let row = db
                    .query_one(
                        "SELECT sum(available + reserved + sold)::bigint, min(available), min(reserved) FROM inventory WHERE product_id = ANY($1)",
                        &[&ids],
                    )
                    .await
                    .unwrap();
                let (total, min_available, min_reserved): (i64, i32, i32) =
                    (row.get(0), row.get(1), row.get(2));
                assert_eq!(total, initial, "units are conserved at every check");
                assert!(
                    min_available >= 0 && min_reserved >= 0,
                    "no stock below zero"
                );
                checks += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            checks
        })
    };
    let attempts = (0..1000).map(|n| {
        let lines: Vec<Value> = (0..3)
            .map(|k| json!({"product_id": ids[(n * 7 + k * 13) % 50], "quantity": 1 + (n + k) % 3}))
            .collect();
        order(&stack, &users[n % users.len()], json!(lines))
    });
    // A hundred in flight at any moment: plenty of races on 50 products, without 1,000 requests queueing
    // on two cores behind the emulator's in-request SNS fan-out until they pass their timeout.
    let answers: Vec<Answer> = futures::stream::iter(attempts)
        .buffer_unordered(100)
        .collect()
        .await;
    done.store(true, Ordering::Relaxed);
    let checks = checker.await.expect("the checker found no violation");
    assert!(checks > 1, "the totals were checked during the run");

    let unexpected: Vec<&Answer> = answers
        .iter()
        .filter(|a| !(a.status == 201 || (a.status == 409 && a.error_code() == "OUT_OF_STOCK")))
        .collect();
    assert!(
        unexpected.is_empty(),
        "only 201 or OUT_OF_STOCK reach clients: {unexpected:?}"
    );
    let reserved_by_orders: i64 = answers
        .iter()
        .filter(|a| a.status == 201)
        .flat_map(|a| {
            a.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["quantity"].as_i64().unwrap())
        })
        .sum();
    let row = database()
        .await
        .query_one("SELECT sum(available)::bigint, sum(reserved)::bigint FROM inventory WHERE product_id = ANY($1)", &[&ids])
        .await
        .unwrap();
    let (available, reserved): (i64, i64) = (row.get(0), row.get(1));
    let sold = initial - available - reserved;
    // Paid orders move on to sold while this runs: what the orders took is reserved or sold.
    assert_eq!(
        (reserved + sold, available + reserved + sold),
        (reserved_by_orders, initial)
    );
}

async fn admin_status(stack: &Stack, order_id: &str, status: &str) -> Answer {
    let admin = stack.admin().await;
    stack
        .call("PUT", &format!("/api/v1/admin/orders/{order_id}/status"))
        .token(&admin.access_token)
        .json(&json!({"status": status}))
        .send()
        .await
}

#[tokio::test]
async fn the_status_machine_moves_stock_exactly_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.unpaid_product(10).await;
    let line = json!([{"product_id": id(&product), "quantity": 3}]);

    let cancelled = order(&stack, &user, line.clone()).await;
    let cancelled_id = cancelled.body["id"].as_str().unwrap();
    let other = stack.customer().await;
    let foreign = stack
        .call("PUT", &format!("/api/v1/orders/{cancelled_id}/cancel"))
        .token(&other.access_token)
        .send()
        .await;
    assert_eq!(foreign.status, 404);
    let cancel = stack
        .call("PUT", &format!("/api/v1/orders/{cancelled_id}/cancel"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(
        (cancel.status, cancel.body["status"].as_str()),
        (200, Some("CANCELLED"))
    );
    let twice = stack
        .call("PUT", &format!("/api/v1/orders/{cancelled_id}/cancel"))
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(
        (twice.status, twice.error_code()),
        (409, "ILLEGAL_TRANSITION")
    );
    assert_eq!(
        stock(&stack, &id(&product)).await,
        (10, 0, 0),
        "released once"
    );

    // Money is the payment path's: an admin cannot declare an order paid (nor failed, nor expired).
    let unpaid = order(&stack, &user, line).await;
    let unpaid_id = unpaid.body["id"].as_str().unwrap();
    for status in ["PAID", "PAYMENT_FAILED", "EXPIRED"] {
        let refused = admin_status(&stack, unpaid_id, status).await;
        assert_eq!(
            (refused.status, refused.error_fields()),
            (422, vec!["status"]),
            "{status}: {refused:?}"
        );
    }
    assert_eq!(
        stock(&stack, &id(&product)).await,
        (7, 3, 0),
        "nothing moved"
    );

    // What an admin may set must still be a legal move (the paid path is the pipeline's own test).
    for (status, code) in [
        ("FULFILLED", "ILLEGAL_TRANSITION"),
        ("CANCELLED", "ILLEGAL_TRANSITION"),
    ] {
        let refused = admin_status(&stack, cancelled_id, status).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, code),
            "{status}"
        );
    }
    let unknown = admin_status(&stack, unpaid_id, "SHIPPED").await;
    assert_eq!(unknown.status, 422);
}

#[tokio::test]
async fn cancel_racing_payment_releases_stock_at_most_once() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.product(100).await;
    let mut placed_ids = Vec::new();
    for round in 0..20 {
        let placed = order(
            &stack,
            &user,
            json!([{"product_id": id(&product), "quantity": 1}]),
        )
        .await;
        assert_eq!(placed.status, 201, "round {round}: {placed:?}");
        let order_id = placed.body["id"].as_str().unwrap().to_owned();
        // The payment worker is already charging it; cancel now, at any point of that.
        let cancel = stack
            .call("PUT", &format!("/api/v1/orders/{order_id}/cancel"))
            .token(&user.access_token)
            .send()
            .await;
        assert!(
            [200, 409].contains(&cancel.status),
            "round {round}: {cancel:?}"
        );
        placed_ids.push(order_id.parse::<Uuid>().unwrap());
    }
    // Once the pipeline has settled every order: each unit is back or held by a paid order, a capture
    // that lost the race was refunded, and no order is in an illegal state.
    let db = database().await;
    let settled = orderly_e2e::eventually("the pipeline to settle the orders", Duration::from_secs(60), || {
        let (db, ids) = (&db, &placed_ids);
        async move {
            let row = db
                .query_one(
                    "SELECT count(*) FILTER (WHERE o.status IN ('PENDING_PAYMENT', 'PAID', 'FULFILLED')),
                            count(*) FILTER (WHERE o.status = 'CANCELLED' AND p.status = 'CAPTURED'),
                            count(*) FILTER (WHERE o.status = 'COMPLETED')
                       FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = ANY($1)",
                    &[ids],
                )
                .await
                .unwrap();
            let (moving, captured_but_cancelled, completed): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            (moving == 0 && captured_but_cancelled == 0).then_some(completed)
        }
    })
    .await;
    let (available, reserved, sold) = stock(&stack, &id(&product)).await;
    assert_eq!(
        (available + reserved + sold, reserved, sold),
        (100, 0, settled),
        "released at most once, sold exactly once"
    );
    let statuses = db
        .query(
            "SELECT DISTINCT status FROM orders WHERE id = ANY($1)",
            &[&placed_ids],
        )
        .await
        .unwrap();
    for row in statuses {
        let status: String = row.get(0);
        assert!(
            ["CANCELLED", "COMPLETED"].contains(&status.as_str()),
            "{status}"
        );
    }
}

#[tokio::test]
async fn unpaid_orders_expire_and_release_their_stock() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (_, product) = stack.unpaid_product(5).await;
    let placed = order(
        &stack,
        &user,
        json!([{"product_id": id(&product), "quantity": 2}]),
    )
    .await;
    let order_id: Uuid = placed.body["id"].as_str().unwrap().parse().unwrap();
    database()
        .await
        .execute(
            "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id = $1",
            &[&order_id],
        )
        .await
        .unwrap();

    let fired: Value = stack.fire_schedule("OrdersExpireFunction").await;
    // The count may be 0: the stack also runs the schedule every minute, and a run of its own may have
    // taken the order between the update and this one (or hold it, SKIP LOCKED, while this one runs).
    assert!(fired["result"]["expired"].as_u64().is_some(), "{fired}");
    stack
        .order_reaches(&user, &order_id.to_string(), "EXPIRED")
        .await;
    assert_eq!(stock(&stack, &id(&product)).await, (5, 0, 0));
}

#[tokio::test]
async fn admins_list_every_order_filtered_by_status_user_and_time() {
    let stack = Stack::from_env();
    let (alice, bob) = (stack.customer().await, stack.customer().await);
    let (_, product) = stack.unpaid_product(10).await;
    let line = json!([{"product_id": id(&product), "quantity": 1}]);
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let first = order(&stack, &alice, line.clone()).await;
    order(&stack, &alice, line.clone()).await;
    let bobs = order(&stack, &bob, line).await;
    let cancel = stack
        .call(
            "PUT",
            &format!(
                "/api/v1/orders/{}/cancel",
                first.body["id"].as_str().unwrap()
            ),
        )
        .token(&alice.access_token)
        .send()
        .await;
    assert_eq!(cancel.status, 200);

    let admin = stack.admin().await;
    let list = |query: String| {
        let token = admin.access_token.clone();
        let stack = &stack;
        async move {
            stack
                .call("GET", &format!("/api/v1/admin/orders?{query}"))
                .token(&token)
                .send()
                .await
        }
    };
    let alices = list(format!("user_id={}", alice.id)).await;
    assert_eq!(alices.body["items"].as_array().unwrap().len(), 2);
    let cancelled = list(format!("user_id={}&status=CANCELLED", alice.id)).await;
    assert_eq!(cancelled.body["items"][0]["id"], first.body["id"]);
    assert_eq!(cancelled.body["items"].as_array().unwrap().len(), 1);
    let since_text = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let recent = list(format!(
        "user_id={}&from={}",
        bob.id,
        since_text.replace('+', "%2B")
    ))
    .await;
    assert_eq!(recent.body["items"][0]["id"], bobs.body["id"]);
    let none = list(format!(
        "user_id={}&to={}",
        bob.id,
        since_text.replace('+', "%2B")
    ))
    .await;
    assert!(none.body["items"].as_array().unwrap().is_empty());
    let paged = list(format!("user_id={}&limit=1", alice.id)).await;
    let next = list(format!(
        "user_id={}&limit=1&cursor={}",
        alice.id,
        paged.body["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_ne!(paged.body["items"][0]["id"], next.body["items"][0]["id"]);
    assert_eq!(
        list("from=yesterday".into()).await.error_fields(),
        vec!["from"]
    );
    let as_customer = stack
        .call("GET", "/api/v1/admin/orders")
        .token(&alice.access_token)
        .send()
        .await;
    assert_eq!(as_customer.status, 403);
}

//! The WebSocket API and its `@connections` management API, black box, through the real SDK.

use std::time::Duration;

use orderly_e2e::{Received, Stack, database, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
/// Notifications travel through the outbox and two queues.
const PUSH: Duration = Duration::from_secs(30);

#[tokio::test]
async fn connect_push_through_the_management_api_disconnect_then_gone() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let mut socket = stack.connect().await;
    let id = socket.connection_id().await;

    let info = management
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("an open connection is described");
    assert!(info.connected_at().is_some());
    assert_eq!(
        info.identity().and_then(|i| i.source_ip()),
        Some("127.0.0.1")
    );

    management
        .post_to_connection()
        .connection_id(&id)
        .data(br#"{"type":"hello","n":1}"#.to_vec().into())
        .send()
        .await
        .expect("post to an open connection");
    assert_eq!(
        socket.receive_json(WAIT).await,
        json!({"type": "hello", "n": 1})
    );

    socket.close().await;
    let gone = eventually("PostToConnection to answer 410 Gone", WAIT, || {
        let management = management.clone();
        let id = id.clone();
        async move {
            match management
                .post_to_connection()
                .connection_id(&id)
                .data(b"{}".to_vec().into())
                .send()
                .await
            {
                Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Some(()),
                _ => None,
            }
        }
    })
    .await;
    assert_eq!(gone, ());
    let get_after = management
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        get_after
            .as_service_error()
            .is_some_and(|s| s.is_gone_exception())
    );

    // $disconnect ran: the connection's row is gone.
    stack.until_forgotten(&id).await;
}

#[tokio::test]
async fn connecting_needs_a_fresh_single_use_ticket_never_the_access_token() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    assert_eq!(stack.try_connect(None).await.err(), Some(401));
    assert_eq!(stack.try_connect(Some("wst_guess")).await.err(), Some(401));
    assert_eq!(
        stack.try_connect(Some(&user.access_token)).await.err(),
        Some(401),
        "an access token in the URL is not accepted"
    );
    let ticket = stack.ticket(&user).await;
    let socket = stack.try_connect(Some(&ticket)).await;
    assert!(socket.is_ok());
    assert_eq!(
        stack.try_connect(Some(&ticket)).await.err(),
        Some(401),
        "a ticket opens one connection"
    );

    let stale = stack.ticket(&user).await;
    database()
        .await
        .execute(
            "UPDATE ws_tickets SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(stack.try_connect(Some(&stale)).await.err(), Some(401));

    // API keys have no session to bind a connection to.
    let (_, key) = stack.api_key("ws").await;
    let refused = stack
        .call("POST", "/api/v1/ws/ticket")
        .header("authorization", &format!("ApiKey {key}"))
        .send()
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    socket.unwrap().close().await;
}

#[tokio::test]
async fn a_user_holds_at_most_ten_connections() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let mut sockets = Vec::new();
    for _ in 0..10 {
        sockets.push(stack.connect_as(&user).await);
    }
    let ticket = stack.ticket(&user).await;
    assert_eq!(stack.try_connect(Some(&ticket)).await.err(), Some(429));
    let closing = sockets.pop().unwrap();
    let id = {
        let mut closing = closing;
        let id = closing.connection_id().await;
        closing.close().await;
        id
    };
    // $disconnect forgets it; then there is room again.
    stack.until_forgotten(&id).await;
    sockets.push(stack.connect_as(&user).await);
    for socket in sockets {
        socket.close().await;
    }
}

#[tokio::test]
async fn the_prune_schedule_closes_the_sockets_of_a_logout_and_of_a_demotion() {
    let stack = Stack::from_env();
    let leaving = stack.customer().await;
    let mut signed_out = stack.connect_as(&leaving).await;
    let out = stack
        .call("POST", "/api/v1/auth/logout")
        .token(&leaving.access_token)
        .json(&json!({"refresh_token": leaving.refresh_token}))
        .send()
        .await;
    assert_eq!(out.status, 204, "{out:?}");

    // An admin for a moment: connected as an admin, then demoted.
    let promoted = stack.customer().await;
    stack.set_role(&promoted.id, "admin").await;
    let mut demoted = stack.connect_as(&promoted).await;
    stack.set_role(&promoted.id, "customer").await;
    let mut staying = stack.connect().await;
    let staying_id = staying.connection_id().await;

    stack.fire_schedule("WsPruneFunction").await;
    for (socket, why) in [(&mut signed_out, "logout"), (&mut demoted, "demotion")] {
        assert!(
            matches!(socket.receive(WAIT).await, Received::Closed),
            "the socket of a {why} is closed"
        );
    }
    assert_eq!(staying.connection_id().await, staying_id);
    staying.close().await;
}

#[tokio::test]
async fn subscribing_validates_topics_allows_only_own_orders_and_bad_messages_get_an_error_reply() {
    let stack = Stack::from_env();
    let mut socket = stack.connect().await;
    let product = uuid::Uuid::now_v7();

    socket
        .send(json!({"action": "subscribe", "topics": [format!("inventory:{product}"), "orders"]}))
        .await;
    let reply = socket.receive_json(WAIT).await;
    assert_eq!(reply["type"], "subscribed");
    assert_eq!(
        reply["topics"],
        json!([format!("inventory:{product}"), "orders"])
    );

    // Someone else's order (or one that does not exist) is not followable.
    let other = stack.customer().await;
    let (_, item) = stack.unpaid_product(1).await;
    let theirs = stack
        .place_order(&other, json!([{"product_id": item["id"], "quantity": 1}]))
        .await;
    socket.send(json!({"action": "subscribe", "topics": [format!("order:{}", theirs.body["id"].as_str().unwrap())]})).await;
    let refused = socket.receive_json(WAIT).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("FORBIDDEN_TOPIC"))
    );

    socket
        .send(json!({"action": "subscribe", "topics": ["order:not-a-uuid"]}))
        .await;
    let reply = socket.receive_json(WAIT).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("INVALID_TOPIC"))
    );

    socket.send_text("{this is not json").await;
    let reply = socket.receive_json(WAIT).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("BAD_MESSAGE"))
    );

    socket
        .send(json!({"action": "unsubscribe", "topics": ["orders"]}))
        .await;
    assert_eq!(
        socket.receive_json(WAIT).await["topics"],
        json!([format!("inventory:{product}")])
    );
    socket.close().await;
}

#[tokio::test]
async fn the_prune_schedule_closes_connections_past_two_hours() {
    let stack = Stack::from_env();
    let mut stale = stack.connect().await;
    let stale_id = stale.connection_id().await;
    let mut fresh = stack.connect().await;
    let fresh_id = fresh.connection_id().await;
    database()
        .await
        .execute("UPDATE ws_connections SET connected_at = now() - interval '3 hours' WHERE connection_id = $1", &[&stale_id])
        .await
        .unwrap();

    // The schedule also runs by itself every minute: which run closes the stale socket does not matter.
    let fired: serde_json::Value = stack.fire_schedule("WsPruneFunction").await;
    assert!(fired["result"]["forgotten"].is_u64(), "{fired}");

    assert!(
        matches!(stale.receive(WAIT).await, Received::Closed),
        "the stale socket is closed by the gateway"
    );
    let management = stack.management().await;
    assert!(
        management
            .get_connection()
            .connection_id(&fresh_id)
            .send()
            .await
            .is_ok(),
        "a young connection stays open"
    );
    assert_eq!(fresh.connection_id().await, fresh_id);
    fresh.close().await;
}

/// Reads stock updates of `product_id` until one says `available` units (what came before is skipped:
/// updates are coalesced, so intermediate counts may never be sent); returns it.
async fn stock_reaches(
    socket: &mut orderly_e2e::Socket,
    product_id: &str,
    available: i64,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let update = socket.receive_json(left).await;
        assert_eq!(update["type"], "inventory.changed", "{update}");
        assert_eq!(update["product_id"], product_id, "{update}");
        if update["available"] == available {
            return update;
        }
    }
}

#[tokio::test]
async fn followers_of_a_product_see_its_stock_after_orders_cancels_and_counts_and_end_on_the_latest()
 {
    let stack = Stack::from_env();
    let (admin, buyer) = (stack.admin().await, stack.customer().await);
    let (_, product) = stack.unpaid_product(10).await;
    let id = product["id"].as_str().unwrap().to_owned();
    let mut watcher = stack.connect().await;
    watcher
        .send(json!({"action": "subscribe", "topics": [format!("inventory:{id}")]}))
        .await;
    assert_eq!(watcher.receive_json(WAIT).await["type"], "subscribed");

    let order = stack
        .place_order(&buyer, json!([{"product_id": id, "quantity": 3}]))
        .await;
    assert_eq!(order.status, 201, "{order:?}");
    let reserved = stock_reaches(&mut watcher, &id, 7).await;
    assert_eq!(reserved["low_stock"], false);

    let order_id = order.body["id"].as_str().unwrap();
    let cancel = stack
        .call("PUT", &format!("/api/v1/orders/{order_id}/cancel"))
        .token(&buyer.access_token)
        .send()
        .await;
    assert_eq!(cancel.status, 200, "{cancel:?}");
    stock_reaches(&mut watcher, &id, 10).await;

    let count = stack
        .call("PUT", &format!("/api/v1/products/{id}/inventory"))
        .token(&admin.access_token)
        .json(&json!({"on_hand": 2}))
        .send()
        .await;
    assert_eq!(count.status, 200, "{count:?}");
    let low = stock_reaches(&mut watcher, &id, 2).await;
    assert_eq!(low["low_stock"], true, "at the threshold of 2: {low}");

    // A burst, faster than the updates may go out: the followers still end on the final count.
    let restock = stack
        .call("PUT", &format!("/api/v1/products/{id}/inventory"))
        .token(&admin.access_token)
        .json(&json!({"on_hand": 20}))
        .send()
        .await;
    assert_eq!(restock.status, 200, "{restock:?}");
    for _ in 0..5 {
        let placed = stack
            .place_order(&buyer, json!([{"product_id": id, "quantity": 1}]))
            .await;
        assert_eq!(placed.status, 201, "{placed:?}");
    }
    stock_reaches(&mut watcher, &id, 15).await;
}

#[tokio::test]
async fn a_flooding_client_is_answered_with_errors_and_keeps_its_connection() {
    let stack = Stack::from_env();
    let mut socket = stack.connect().await;
    let sent = 160;
    for _ in 0..sent {
        socket.send(json!({"action": "ping"})).await;
    }
    let (mut pongs, mut refused) = (0, 0);
    for _ in 0..sent {
        let reply = socket.receive_json(WAIT).await;
        match (reply["type"].as_str(), reply["code"].as_str()) {
            (Some("pong"), _) => pongs += 1,
            (Some("error"), Some("RATE_LIMITED")) => refused += 1,
            _ => panic!("unexpected reply {reply}"),
        }
    }
    assert!(
        pongs >= 100,
        "a burst within the limit is served: {pongs} pongs"
    );
    assert!(
        refused >= 1,
        "past 120 a minute, refused: {pongs} pongs, {refused} refused"
    );
    socket
        .send(json!({"action": "subscribe", "topics": ["orders"]}))
        .await;
    let still_open = socket.receive(WAIT).await;
    assert!(
        matches!(still_open, Received::Json(_)),
        "the connection stays open"
    );
}

/// Sets a connection's access token as expired `seconds_ago`.
async fn expire_access(connection_id: &str, seconds_ago: f64) {
    database()
        .await
        .execute(
            "UPDATE ws_connections SET access_expires_at = now() - make_interval(secs => $2) WHERE connection_id = $1",
            &[&connection_id, &seconds_ago],
        )
        .await
        .unwrap();
}

async fn notify(stack: &Stack, user: &orderly_e2e::Session, title: &str) {
    let admin = stack.admin().await;
    let sent = stack
        .call("POST", "/api/v1/admin/notifications")
        .token(&admin.access_token)
        .json(&json!({"user_ids": [user.id], "type": "note", "title": title, "message": "m"}))
        .send()
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
}

#[tokio::test]
async fn a_connection_ends_with_its_access_token_unless_the_client_renews_it() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let (mut expired, mut live) = (stack.connect_as(&user).await, stack.connect_as(&user).await);
    let expired_id = expired.connection_id().await;
    let live_id = live.connection_id().await;
    expire_access(&expired_id, 1.0).await;
    // Within the renewal grace (a minute) the prune leaves it open.
    stack.fire_schedule("WsPruneFunction").await;

    // The same notification reaches the live socket; the pusher passes the expired one by.
    notify(&stack, &user, "while expired").await;
    let pushed = live.receive_json(PUSH).await;
    assert_eq!(pushed["notification"]["title"], "while expired");

    // A renewal needs a fresh ticket of the same user: a used one or someone else's is refused.
    let ticket = stack.ticket(&user).await;
    expired
        .send(json!({"action": "renew", "ticket": ticket}))
        .await;
    let renewed = expired.receive_json(WAIT).await;
    assert_eq!(
        renewed["type"], "renewed",
        "{renewed}: nothing was pushed before it"
    );
    let until = renewed["access_expires_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(until).unwrap() > chrono::Utc::now(),
        "{until}"
    );
    expired
        .send(json!({"action": "renew", "ticket": ticket}))
        .await;
    assert_eq!(expired.receive_json(WAIT).await["code"], "INVALID_TICKET");
    let stranger = stack.customer().await;
    let foreign = stack.ticket(&stranger).await;
    expired
        .send(json!({"action": "renew", "ticket": foreign}))
        .await;
    assert_eq!(expired.receive_json(WAIT).await["code"], "RECONNECT");

    // Renewed, it receives again.
    notify(&stack, &user, "after renewal").await;
    let pushed = expired.receive_json(PUSH).await;
    assert_eq!(pushed["notification"]["title"], "after renewal");
    assert_eq!(
        live.receive_json(PUSH).await["notification"]["title"],
        "after renewal"
    );

    // Left expired past the grace, the prune schedule closes it; the other socket of the user stays.
    expire_access(&expired_id, 61.0).await;
    stack.fire_schedule("WsPruneFunction").await;
    assert!(matches!(expired.receive(WAIT).await, Received::Closed));
    stack.until_forgotten(&expired_id).await;
    assert_eq!(live.connection_id().await, live_id);
    live.close().await;
}

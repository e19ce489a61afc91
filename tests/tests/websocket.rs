//! The WebSocket API and its `@connections` management API, black box, through the real SDK.

use std::time::Duration;

use orderly_e2e::{Received, Stack, database, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

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
    let db = database().await;
    eventually(
        "the $disconnect function to forget the connection",
        WAIT,
        || {
            let (db, id) = (&db, id.clone());
            async move {
                let rows = db
                    .query(
                        "SELECT 1 FROM ws_connections WHERE connection_id = $1",
                        &[&id],
                    )
                    .await
                    .unwrap();
                rows.is_empty().then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn connecting_needs_a_valid_access_token() {
    let stack = Stack::from_env();
    assert_eq!(stack.try_connect(None).await.err(), Some(401));
    assert_eq!(
        stack.try_connect(Some("not-a-token")).await.err(),
        Some(401)
    );
    let user = stack.customer().await;
    assert!(stack.try_connect(Some(&user.access_token)).await.is_ok());
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

    let fired: serde_json::Value = stack.fire_schedule("WsPruneFunction").await;
    assert!(
        fired["result"]["forgotten"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{fired}"
    );

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

//! The local `@connections` API and WebSocket endpoint against API Gateway's documented behaviour, case by
//! case, through `aws-sdk-apigatewaymanagement` (the crate our pushers use). A second client that shares no
//! code with ours (boto3) makes the same calls in `tests/parity/ws_management.py`.

use std::time::Duration;

use aws_sdk_apigatewaymanagement::Client;
use orderly_e2e::{Received, Socket, Stack, database};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);
/// API Gateway's largest message (both directions) and frame (client to server).
const MAX_MESSAGE: usize = 128 * 1024;
const MAX_FRAME: usize = 32 * 1024;

async fn post(management: &Client, id: &str, data: Vec<u8>) -> Result<(), String> {
    management
        .post_to_connection()
        .connection_id(id)
        .data(data.into())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            e.as_service_error()
                .and_then(|s| s.meta().code())
                .unwrap_or("no service error")
                .to_owned()
        })
}

/// What each management call answers for this connection: `Ok` or the error code.
async fn all_three(management: &Client, id: &str) -> [Result<(), String>; 3] {
    let code = |e: Option<&str>| e.unwrap_or("no service error").to_owned();
    let posted = post(management, id, b"{}".to_vec()).await;
    let got = management
        .get_connection()
        .connection_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(e.as_service_error().and_then(|s| s.meta().code())));
    let deleted = management
        .delete_connection()
        .connection_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(e.as_service_error().and_then(|s| s.meta().code())));
    [posted, got, deleted]
}

fn gone() -> [Result<(), String>; 3] {
    std::array::from_fn(|_| Err("GoneException".to_owned()))
}

/// Waits for `$disconnect` to forget the connection, then checks all three calls answer 410.
async fn forgotten_and_gone(stack: &Stack, management: &Client, id: &str) {
    stack.until_forgotten(id).await;
    assert_eq!(all_three(management, id).await, gone());
}

/// `GetConnection` of an open connection.
async fn describe(
    management: &Client,
    id: &str,
) -> aws_sdk_apigatewaymanagement::operation::get_connection::GetConnectionOutput {
    management
        .get_connection()
        .connection_id(id)
        .send()
        .await
        .expect("an open connection is described")
}

async fn set_limits(stack: &Stack, id: &str, idle_seconds: u64, max_seconds: u64) {
    // Connection ids are base64: `/`, `+` and `=` must be escaped in a path.
    let escaped = id
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    let response = stack
        .http
        .put(format!("{}/connections/{escaped}/limits", stack.control))
        .json(&json!({"idle_timeout_seconds": idle_seconds, "max_duration_seconds": max_seconds}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "the control API knows {id}");
}

async fn open_socket(stack: &Stack) -> (Socket, String) {
    let mut socket = stack.connect().await;
    let id = socket.connection_id().await;
    (socket, id)
}

#[tokio::test]
async fn after_delete_connection_every_call_is_gone_at_once_and_disconnect_runs() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (mut socket, id) = open_socket(&stack).await;

    management
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("an open connection is deleted");
    // No waiting: API Gateway answers 410 from the moment DeleteConnection returns.
    assert_eq!(all_three(&management, &id).await, gone());
    assert_eq!(socket.closed_with(WAIT).await, Some(1000));
    forgotten_and_gone(&stack, &management, &id).await;
}

#[tokio::test]
async fn after_the_client_closes_every_call_is_gone() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (socket, id) = open_socket(&stack).await;
    socket.close().await;
    // The client's close travels to the gateway; `$disconnect` runs after the connection is forgotten, so
    // once it has run the connection must be gone to every call.
    forgotten_and_gone(&stack, &management, &id).await;
}

#[tokio::test]
async fn get_connection_describes_the_client_and_its_last_activity() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let user = stack.customer().await;
    let ticket = stack.ticket(&user).await;
    let mut socket = stack
        .try_connect_with(Some(&ticket), Some("orderly-e2e/1.0 (parity)"))
        .await
        .expect("connects");
    let id = socket.connection_id().await;

    let first = describe(&management, &id).await;
    let identity = first.identity().expect("an identity");
    assert_eq!(identity.source_ip(), Some("127.0.0.1"));
    assert_eq!(identity.user_agent(), Some("orderly-e2e/1.0 (parity)"));
    let connected_at = first.connected_at().copied().expect("ConnectedAt");
    let active_at = first.last_active_at().copied().expect("LastActiveAt");
    assert!(active_at >= connected_at);

    // A server push is not client activity; a client message is.
    post(&management, &id, br#"{"type":"hello"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(socket.receive_json(WAIT).await["type"], "hello");
    let after_push = describe(&management, &id).await;
    assert_eq!(after_push.last_active_at(), Some(&active_at));
    tokio::time::sleep(Duration::from_millis(20)).await; // timestamps are in milliseconds
    socket.connection_id().await;
    let after_ping = describe(&management, &id).await;
    assert!(after_ping.last_active_at().copied().unwrap() > active_at);
    assert_eq!(after_ping.connected_at(), Some(&connected_at));
    socket.close().await;
}

#[tokio::test]
async fn a_post_over_128_kb_is_413_and_the_connection_stays_open() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (mut socket, id) = open_socket(&stack).await;

    let over = post(&management, &id, vec![b'x'; MAX_MESSAGE + 1]).await;
    assert_eq!(over, Err("PayloadTooLargeException".to_owned()));

    // Exactly the limit is delivered, whole.
    let filler = "y".repeat(MAX_MESSAGE - r#"{"type":"big","filler":""}"#.len());
    let exactly = json!({"type": "big", "filler": filler}).to_string();
    assert_eq!(exactly.len(), MAX_MESSAGE);
    post(&management, &id, exactly.into_bytes()).await.unwrap();
    let received = socket.receive_json(WAIT).await;
    assert_eq!(
        received["filler"].as_str().map(str::len),
        Some(filler.len())
    );
    assert_eq!(socket.connection_id().await, id);
    socket.close().await;
}

#[tokio::test]
async fn a_client_frame_over_32_kb_closes_the_connection_with_1009() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (mut socket, id) = open_socket(&stack).await;

    // A frame of exactly 32 KB is a message like any other (here: not JSON, so an error reply).
    socket.send_text(&"z".repeat(MAX_FRAME)).await;
    assert!(
        matches!(socket.receive(WAIT).await, Received::Json(reply) if reply["type"] == "error")
    );

    socket.send_text(&"z".repeat(MAX_FRAME + 1)).await;
    assert_eq!(socket.closed_with(WAIT).await, Some(1009));
    forgotten_and_gone(&stack, &management, &id).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_1001_but_client_messages_keep_one_open() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (mut idle, idle_id) = open_socket(&stack).await;
    let (mut chatty, chatty_id) = open_socket(&stack).await;
    set_limits(&stack, &idle_id, 3, 7_200).await;
    set_limits(&stack, &chatty_id, 3, 7_200).await;

    // Pushes to the idle one do not keep it open; pings from the chatty one do.
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let _ = post(&management, &idle_id, br#"{"type":"tick"}"#.to_vec()).await;
        assert_eq!(chatty.connection_id().await, chatty_id);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(idle.closed_with(WAIT).await, Some(1001));
    forgotten_and_gone(&stack, &management, &idle_id).await;
    assert!(
        management
            .get_connection()
            .connection_id(&chatty_id)
            .send()
            .await
            .is_ok(),
        "a connection whose client talks stays open past the idle timeout"
    );
    chatty.close().await;
}

#[tokio::test]
async fn the_duration_limit_closes_even_a_busy_connection() {
    let stack = Stack::from_env();
    let management = stack.management().await;
    let (mut socket, id) = open_socket(&stack).await;
    set_limits(&stack, &id, 600, 2).await;

    // Pinging every 300 ms keeps the idle clock at zero; the duration clock closes it all the same.
    let started = tokio::time::Instant::now();
    let closed_by_server = loop {
        assert!(
            started.elapsed() < WAIT,
            "the duration limit closes the socket in time"
        );
        if !socket.try_send(json!({"action": "ping"})).await
            || matches!(
                socket.receive(Duration::from_secs(1)).await,
                Received::Closed
            )
        {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        closed_by_server >= Duration::from_secs(1),
        "{closed_by_server:?}"
    );
    forgotten_and_gone(&stack, &management, &id).await;
}

#[tokio::test]
async fn a_refused_connect_answers_the_functions_status_and_leaves_no_connection() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let first = stack.connect_as(&user).await;
    let ticket = stack.ticket(&user).await;
    let second = stack
        .try_connect(Some(&ticket))
        .await
        .expect("the first use of a ticket connects");
    let db = database().await;
    let stored = || async {
        db.query_one(
            "SELECT count(*) FROM ws_connections WHERE user_id = $1::text::uuid",
            &[&user.id],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
    };
    assert_eq!(stored().await, 2);

    assert_eq!(stack.try_connect(None).await.err(), Some(401));
    assert_eq!(
        stack.try_connect(Some(&ticket)).await.err(),
        Some(401),
        "a ticket is single use"
    );
    let bad_since = format!("{}&since=not-an-id", stack.ticket(&user).await);
    assert_eq!(stack.try_connect(Some(&bad_since)).await.err(), Some(400));

    assert_eq!(stored().await, 2, "refused connections leave no record");
    first.close().await;
    second.close().await;
}

//! The WebSocket API on 127.0.0.1:$ORDERLY_WS_PORT and its `@connections` management API, as API Gateway
//! serves them: `$connect` may refuse the upgrade (with its status, and nothing left behind), messages are
//! routed on the template's `RouteSelectionExpression` (falling back to `$default`), frames over 32 KB and
//! messages over 128 KB close the connection with 1009, the idle timeout and the duration limit close it
//! with 1001, and `$disconnect` follows every close, whoever closed. `aws-sdk-apigatewaymanagement` and
//! boto3 talk to it unchanged.

mod connections;
mod manage;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State};
use axum::response::Response;
use axum::routing::{any, get};
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use connections::{Limits, Sockets, enforce_limits};
pub use manage::PushFault;

use crate::Gateway;
use crate::invoke::{new_request_id, outcome_name};
use crate::rest::{gateway_response, headers_json, query_json};
use connections::{OpenSocket, Outgoing};
use manage::MAX_MESSAGE_BYTES;

/// API Gateway's largest frame: a longer message must be split into frames of at most this.
const MAX_FRAME_BYTES: usize = 32 * 1024;
/// Each socket's read buffer. tungstenite's default (128 KiB) is allocated per socket and zero-filled on
/// every read: 1.3 GB at 10,000 sockets, and in a profile of the WebSocket benchmark a sixth of the
/// gateway's samples were page faults. Clients send small messages; a larger frame grows the buffer for
/// itself.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// What API Gateway closes with when a client sends a frame or message over the limits.
const MESSAGE_TOO_BIG: (u16, &str) = (1009, "Message too big");

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(upgrade))
        .route("/{stage}", get(upgrade))
        .route("/@connections/{id}", any(manage::manage))
        .route("/{stage}/@connections/{id}", any(manage::manage_staged))
        // Over-long posts must reach the handler to get API Gateway's 413, not axum's 2 MB default.
        .layer(DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(gateway)
}

/// API Gateway's connection ids are 16 characters of base64.
fn new_connection_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 12]>())
}

fn request_context(
    gateway: &Gateway,
    connection_id: &str,
    route_key: &str,
    event_type: &str,
    socket: (&str, i64),
    request_id: &str,
) -> Value {
    let now = Utc::now();
    json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestId": request_id,
        "requestTime": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "requestTimeEpoch": now.timestamp_millis(),
        "messageDirection": "IN",
        "stage": gateway.stage,
        "connectedAt": socket.1,
        "identity": { "sourceIp": socket.0 },
        "domainName": format!("127.0.0.1:{}", gateway.ws_port),
        "connectionId": connection_id,
        "apiId": "localws",
    })
}

async fn invoke_route(
    gateway: &Gateway,
    route_key: &str,
    event: Value,
    request_id: &str,
) -> Option<Value> {
    let ws = gateway.template.websocket.as_ref()?;
    let function = ws.routes.get(route_key)?;
    let result = gateway.invoker.invoke(function, event, request_id).await;
    gateway
        .invoker
        .record(function, request_id, outcome_name(&result), None);
    result.ok()
}

async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let connection_id = new_connection_id();
    let request_id = new_request_id();
    let connected_at = Utc::now();
    let source_ip = peer.ip().to_string();
    let (single, multi) = headers_json(&headers);
    let (query_single, query_multi) = query_json(query.as_deref());
    let mut context = request_context(
        &gateway,
        &connection_id,
        "$connect",
        "CONNECT",
        (&source_ip, connected_at.timestamp_millis()),
        &request_id,
    );
    let user_agent = headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    context["identity"]["userAgent"] = json!(user_agent);
    let event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    let has_connect_route = gateway
        .template
        .websocket
        .as_ref()
        .is_some_and(|ws| ws.routes.contains_key("$connect"));
    if has_connect_route {
        let status = invoke_route(&gateway, "$connect", event, &request_id)
            .await
            .and_then(|r| r.get("statusCode").and_then(Value::as_u64))
            .unwrap_or(502);
        if !(200..300).contains(&status) {
            tracing::info!(connection_id, status, "$connect refused the connection");
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY);
            return gateway_response(status, "Forbidden", "ForbiddenException", &request_id);
        }
    }
    let failed = (
        gateway.clone(),
        connection_id.clone(),
        source_ip.clone(),
        connected_at.timestamp_millis(),
    );
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_failed_upgrade(move |e| {
            // `$connect` accepted (and may have stored the connection) but the client never got its
            // socket: API Gateway runs `$disconnect` for it, and so do we.
            let (gateway, connection_id, source_ip, connected_at) = failed;
            tracing::info!(connection_id, error = %e, "upgrade failed after $connect");
            tokio::spawn(async move {
                let socket = (source_ip.as_str(), connected_at);
                disconnect(&gateway, &connection_id, socket, (1006, "Going away")).await;
            });
        })
        .on_upgrade(move |socket| {
            serve(
                gateway,
                socket,
                connection_id,
                connected_at,
                source_ip,
                user_agent,
            )
        })
}
async fn serve(
    gateway: Arc<Gateway>,
    socket: WebSocket,
    connection_id: String,
    connected_at: DateTime<Utc>,
    source_ip: String,
    user_agent: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    gateway.sockets.insert(
        &connection_id,
        OpenSocket {
            sender,
            connected_at,
            last_active_at: connected_at,
            source_ip: source_ip.clone(),
            user_agent,
            limits: gateway.sockets.limits(),
        },
    );
    tracing::info!(connection_id, "connected");
    // The writer ends after sending a close frame, and says which: that close is the one `$disconnect` sees.
    let mut writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let sent = match message {
                Outgoing::Text(text) => sink.send(Message::Text(text.into())).await,
                Outgoing::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: reason.clone().into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return Some((code, reason));
                }
            };
            if sent.is_err() {
                break;
            }
        }
        None
    });

    let socket_info = (source_ip.as_str(), connected_at.timestamp_millis());
    let mut close = (1006, "Going away".to_owned());
    let mut writer_done = false;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            closed = &mut writer => {
                writer_done = true;
                if let Ok(Some(by_server)) = closed {
                    close = by_server;
                }
                break;
            }
        };
        let body = match frame {
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Some(Ok(Message::Close(frame))) => {
                close = match frame {
                    Some(frame) => (frame.code, frame.reason.to_string()),
                    None => (1005, "Client-side close frame status not set".to_owned()),
                };
                break;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) if over_the_limits(&e) => {
                tracing::info!(connection_id, error = %e, "client frame over API Gateway's limits");
                let (code, reason) = MESSAGE_TOO_BIG;
                gateway.sockets.close(&connection_id, code, reason);
                close = (code, reason.to_owned());
                // Let the close frame go out before the socket is dropped.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut writer).await;
                writer_done = true;
                break;
            }
            Some(Err(_)) | None => break,
        };
        if !gateway.sockets.touch(&connection_id) {
            // Closed by the server while this message was in flight: API Gateway drops it too.
            continue;
        }
        let request_id = new_request_id();
        let Some(ws) = gateway.template.websocket.as_ref() else {
            break;
        };
        let selected = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.get(&ws.selection_field)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|key| ws.routes.contains_key(key) && !key.starts_with('$'));
        let route_key = selected.unwrap_or_else(|| "$default".to_owned());
        if !ws.routes.contains_key(&route_key) {
            // What API Gateway sends when no route matches and there is no $default.
            let reply = json!({"message": "Forbidden", "connectionId": connection_id, "requestId": request_id});
            gateway.sockets.send(&connection_id, reply.to_string());
            continue;
        }
        let mut context = request_context(
            &gateway,
            &connection_id,
            &route_key,
            "MESSAGE",
            socket_info,
            &request_id,
        );
        context["messageId"] = json!(new_request_id());
        let event = json!({"requestContext": context, "body": body, "isBase64Encoded": false});
        invoke_route(&gateway, &route_key, event, &request_id).await;
    }

    gateway.sockets.forget(&connection_id);
    if !writer_done {
        writer.abort();
    }
    tracing::info!(connection_id, close_code = close.0, "disconnected");
    disconnect(&gateway, &connection_id, socket_info, (close.0, &close.1)).await;
}

/// Runs `$disconnect` for a connection that is gone, with the close that ended it.
async fn disconnect(
    gateway: &Gateway,
    connection_id: &str,
    socket: (&str, i64),
    (code, reason): (u16, &str),
) {
    let request_id = new_request_id();
    let mut context = request_context(
        gateway,
        connection_id,
        "$disconnect",
        "DISCONNECT",
        socket,
        &request_id,
    );
    context["disconnectStatusCode"] = json!(code);
    context["disconnectReason"] = json!(reason);
    invoke_route(
        gateway,
        "$disconnect",
        json!({"requestContext": context, "isBase64Encoded": false}),
        &request_id,
    )
    .await;
}

/// A read error from a frame over `MAX_FRAME_BYTES` or a message over `MAX_MESSAGE_BYTES`.
fn over_the_limits(e: &axum::Error) -> bool {
    use std::error::Error;
    use tokio_tungstenite::tungstenite;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(tungstenite::Error::Capacity(_)) = cause.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

//! The WebSocket API on 127.0.0.1:$ORDERLY_WS_PORT and its `@connections` management API, as API Gateway
//! serves them: `$connect` may refuse the upgrade, messages are routed on the template's
//! `RouteSelectionExpression` (falling back to `$default`), `$disconnect` follows every close, and
//! `POST/GET/DELETE /@connections/{id}` answer 410 `GoneException` for a connection that is not open.
//! `aws-sdk-apigatewaymanagement` talks to it unchanged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Gateway;
use crate::invoke::{new_request_id, outcome_name};
use crate::rest::{gateway_response, headers_json, query_json};

enum Outgoing {
    Text(String),
    Close,
}

struct OpenSocket {
    sender: mpsc::UnboundedSender<Outgoing>,
    connected_at: DateTime<Utc>,
    last_active_at: DateTime<Utc>,
    source_ip: String,
    user_agent: Option<String>,
}

#[derive(Default)]
pub struct Sockets {
    open: Mutex<HashMap<String, OpenSocket>>,
}

impl Sockets {
    pub fn close_all(&self) {
        for socket in self.open.lock().expect("sockets lock").values() {
            let _ = socket.sender.send(Outgoing::Close);
        }
    }
}

/// A switchable fault on `POST @connections`: the next `count` calls (to `connection_id` only, when set)
/// answer `status` with `error_type`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PushFault {
    pub status: u16,
    pub error_type: String,
    pub count: u32,
    #[serde(default)]
    pub connection_id: Option<String>,
}

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(upgrade))
        .route("/{stage}", get(upgrade))
        .route("/@connections/{id}", any(manage))
        .route("/{stage}/@connections/{id}", any(manage_staged))
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
    upgrade.on_upgrade(move |socket| {
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
    gateway.sockets.open.lock().expect("sockets lock").insert(
        connection_id.clone(),
        OpenSocket {
            sender,
            connected_at,
            last_active_at: connected_at,
            source_ip: source_ip.clone(),
            user_agent,
        },
    );
    tracing::info!(connection_id, "connected");
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let sent = match message {
                Outgoing::Text(text) => sink.send(Message::Text(text.into())).await,
                Outgoing::Close => {
                    let frame = CloseFrame {
                        code: 1000,
                        reason: "Connection closed by the server".into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            };
            if sent.is_err() {
                break;
            }
        }
    });

    let socket_info = (source_ip.as_str(), connected_at.timestamp_millis());
    let (mut close_code, mut close_reason) = (1006, "Going away".to_owned());
    while let Some(frame) = stream.next().await {
        let body = match frame {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Binary(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Ok(Message::Close(frame)) => {
                if let Some(frame) = frame {
                    (close_code, close_reason) = (frame.code, frame.reason.to_string());
                } else {
                    (close_code, close_reason) =
                        (1005, "Client-side close frame status not set".to_owned());
                }
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        };
        if let Some(open) = gateway
            .sockets
            .open
            .lock()
            .expect("sockets lock")
            .get_mut(&connection_id)
        {
            open.last_active_at = Utc::now();
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
            if let Some(open) = gateway
                .sockets
                .open
                .lock()
                .expect("sockets lock")
                .get(&connection_id)
            {
                let _ = open.sender.send(Outgoing::Text(reply.to_string()));
            }
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

    gateway
        .sockets
        .open
        .lock()
        .expect("sockets lock")
        .remove(&connection_id);
    writer.abort();
    tracing::info!(connection_id, close_code, "disconnected");
    let request_id = new_request_id();
    let mut context = request_context(
        &gateway,
        &connection_id,
        "$disconnect",
        "DISCONNECT",
        socket_info,
        &request_id,
    );
    context["disconnectStatusCode"] = json!(close_code);
    context["disconnectReason"] = json!(close_reason);
    invoke_route(
        &gateway,
        "$disconnect",
        json!({"requestContext": context, "isBase64Encoded": false}),
        &request_id,
    )
    .await;
}

fn gone(connection_id: &str) -> Response {
    tracing::debug!(
        connection_id,
        "management call for a connection that is not open"
    );
    gateway_response(StatusCode::GONE, "", "GoneException", &new_request_id())
}

async fn manage_staged(
    state: State<Arc<Gateway>>,
    Path((_, id)): Path<(String, String)>,
    method: http::Method,
    body: Bytes,
) -> Response {
    manage(state, Path(id), method, body).await
}

async fn manage(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    method: http::Method,
    body: Bytes,
) -> Response {
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    if method == http::Method::POST
        && let Some(fault) = gateway.take_push_fault(&id)
    {
        tracing::warn!(connection_id = %id, status = fault.status, "injected fault on PostToConnection");
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return gateway_response(
            status,
            "injected fault",
            &fault.error_type,
            &new_request_id(),
        );
    }
    let open = gateway.sockets.open.lock().expect("sockets lock");
    let Some(socket) = open.get(&id) else {
        return gone(&id);
    };
    match method {
        http::Method::POST => {
            let _ = socket
                .sender
                .send(Outgoing::Text(String::from_utf8_lossy(&body).into_owned()));
            StatusCode::OK.into_response()
        }
        // The wire names of the GetConnection output (restJson1 is camelCase, timestamps ISO 8601).
        http::Method::GET => Json(json!({
            "connectedAt": iso(socket.connected_at),
            "lastActiveAt": iso(socket.last_active_at),
            "identity": {"sourceIp": socket.source_ip, "userAgent": socket.user_agent},
        }))
        .into_response(),
        http::Method::DELETE => {
            let _ = socket.sender.send(Outgoing::Close);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => gateway_response(
            StatusCode::FORBIDDEN,
            "Missing Authentication Token",
            "MissingAuthenticationTokenException",
            &new_request_id(),
        ),
    }
}

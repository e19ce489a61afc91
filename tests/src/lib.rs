//! Harness for the black-box end-to-end tests: where the running local stack is, a WebSocket client, and
//! polling with a deadline for things that happen asynchronously (queues, redelivery). The tests talk to
//! the stack only over HTTP, WebSocket and the AWS SDK, except where a fixture must age a row.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

fn port(name: &str, default: u16) -> u16 {
    std::env::var(name)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

pub struct Stack {
    pub api: String,
    pub ws: String,
    pub management: String,
    pub control: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub fn from_env() -> Self {
        let ws_port = port("ORDERLY_WS_PORT", 3001);
        Self {
            api: format!("http://127.0.0.1:{}", port("ORDERLY_API_PORT", 3000)),
            ws: format!("ws://127.0.0.1:{ws_port}"),
            management: format!("http://127.0.0.1:{ws_port}"),
            control: format!("http://127.0.0.1:{}", port("ORDERLY_CONTROL_PORT", 3002)),
            http: reqwest::Client::new(),
        }
    }

    /// The emulator the stack uses (`AWS_ENDPOINT_URL`), through the real SDK.
    pub async fn aws(&self) -> SdkConfig {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "AWS_ENDPOINT_URL must point at the stack's emulator; `make test` sets it"
        );
        aws_config::defaults(BehaviorVersion::latest()).load().await
    }

    pub async fn management(&self) -> aws_sdk_apigatewaymanagement::Client {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(&self.aws().await)
            .endpoint_url(&self.management)
            .build();
        aws_sdk_apigatewaymanagement::Client::from_conf(config)
    }

    pub async fn queue_url(&self, sqs: &aws_sdk_sqs::Client, name: &str) -> String {
        sqs.get_queue_url()
            .queue_name(name)
            .send()
            .await
            .expect("the stack created the queue")
            .queue_url
            .unwrap()
    }

    pub async fn topic_arn(&self, sns: &aws_sdk_sns::Client, name: &str) -> String {
        let topics = sns
            .list_topics()
            .send()
            .await
            .expect("topics list")
            .topics
            .unwrap_or_default();
        topics
            .into_iter()
            .filter_map(|t| t.topic_arn)
            .find(|arn| arn.ends_with(&format!(":{name}")))
            .expect("the stack created the topic")
    }

    /// Status and JSON body of `GET {api}{path}`.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    pub async fn control_json(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.control))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn connect(&self) -> Socket {
        let (stream, _) = connect_async(&self.ws).await.expect("WebSocket connects");
        Socket { stream }
    }
}

/// Polls `check` until it yields a value, or panics naming `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

pub enum Received {
    Json(Value),
    Closed,
}

impl Socket {
    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// The next JSON message or the close, within `within`.
    pub async fn receive(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a message arrives in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    return Received::Json(serde_json::from_str(&text).expect("JSON message"));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Received::Closed,
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn receive_json(&mut self, within: Duration) -> Value {
        match self.receive(within).await {
            Received::Json(value) => value,
            Received::Closed => panic!("the socket closed while a message was expected"),
        }
    }

    /// Asks the server who we are (`ping` answers with our connection id).
    pub async fn connection_id(&mut self) -> String {
        self.send(serde_json::json!({"action": "ping"})).await;
        let pong = self.receive_json(Duration::from_secs(5)).await;
        assert_eq!(pong["type"], "pong");
        pong["connection_id"]
            .as_str()
            .expect("pong names the connection")
            .to_owned()
    }

    pub async fn close(mut self) {
        self.stream.close(None).await.expect("close");
    }
}

/// A database client for fixtures that cannot be made through the API (e.g. ageing a row).
pub async fn database() -> tokio_postgres::Client {
    let url = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL of the stack's database; `make test` sets it");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("database reachable");
    tokio::spawn(connection);
    client
}

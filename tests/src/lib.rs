//! Harness for the black-box end-to-end tests: where the running local stack is, a WebSocket client, and
//! polling with a deadline for things that happen asynchronously (queues, redelivery). The tests talk to
//! the stack only over HTTP, WebSocket and the AWS SDK, except where a fixture must age a row.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
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
    /// The simulated payment provider.
    pub provider: String,
    pub http: reqwest::Client,
}

impl Stack {
    pub fn from_env() -> Self {
        orderly_cloud::use_ring_for_tls();
        let ws_port = port("ORDERLY_WS_PORT", 3001);
        Self {
            api: format!("http://127.0.0.1:{}", port("ORDERLY_API_PORT", 3000)),
            ws: format!("ws://127.0.0.1:{ws_port}"),
            management: format!("http://127.0.0.1:{ws_port}"),
            control: format!("http://127.0.0.1:{}", port("ORDERLY_CONTROL_PORT", 3002)),
            provider: format!("http://127.0.0.1:{}", port("ORDERLY_PROVIDER_PORT", 3003)),
            // A test sees what the API answers: a redirect is a 302, not wherever it points.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
        }
    }

    /// The emulator the stack uses (`AWS_ENDPOINT_URL`), through the real SDK.
    pub async fn aws(&self) -> SdkConfig {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "AWS_ENDPOINT_URL must point at the stack's emulator; `make test` sets it"
        );
        orderly_cloud::load_sdk_config().await
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

    /// Waits for a message in the queue `queue` whose body satisfies `wanted`, deletes it and returns its
    /// body (for dead-letter queues: proves a message landed there).
    pub async fn take_message(
        &self,
        queue: &str,
        within: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let sqs = aws_sdk_sqs::Client::new(&self.aws().await);
        let url = self.queue_url(&sqs, queue).await;
        eventually(&format!("a matching message in {queue}"), within, || {
            let (sqs, url, wanted) = (&sqs, &url, &wanted);
            async move {
                let received = sqs
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .ok()?;
                let message = received
                    .messages
                    .unwrap_or_default()
                    .into_iter()
                    .find(|m| m.body().is_some_and(wanted))?;
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle()?)
                    .send()
                    .await
                    .ok()?;
                message.body().map(str::to_owned)
            }
        })
        .await
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

    /// Status and JSON body of `GET {api}{path}`, from an address of its own.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let answer = self.call("GET", path).send().await;
        (answer.status, answer.body)
    }

    /// Fires a function's schedule now through the control API and returns what it answered.
    pub async fn fire_schedule(&self, function: &str) -> Value {
        let url = format!("{}/schedules/{function}/fire", self.control);
        self.http
            .post(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An S3 client on the emulator and the artifacts bucket's name.
    pub async fn s3(&self) -> (aws_sdk_s3::Client, String) {
        let summary = self.control_json("/").await;
        let bucket = summary["resources"]["ArtifactsBucket"]
            .as_str()
            .expect("the bucket's name")
            .to_owned();
        let config = aws_sdk_s3::config::Builder::from(&self.aws().await)
            .force_path_style(true)
            .build();
        (aws_sdk_s3::Client::from_conf(config), bucket)
    }

    /// When the gateway started and ended the first invocation of `function` that was handed `message_id`
    /// (its request id, start, end), from the control API's invocation history; waits up to a minute.
    pub async fn handled(
        &self,
        function: &str,
        message_id: &str,
    ) -> (
        String,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    ) {
        eventually(
            &format!("{function} to handle message {message_id}"),
            Duration::from_secs(60),
            || async {
                let history = self
                    .control_json(&format!("/invocations?function={function}"))
                    .await;
                let record = history.as_array()?.iter().find(|r| {
                    r["batch"]["message_ids"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|id| id == message_id))
                })?;
                let time = |field: &str| {
                    record[field]
                        .as_str()
                        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                };
                Some((
                    record["request_id"].as_str()?.to_owned(),
                    time("started_at")?,
                    time("at")?,
                ))
            },
        )
        .await
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

    /// A WebSocket as a new customer.
    pub async fn connect(&self) -> Socket {
        let user = self.customer().await;
        self.connect_as(&user).await
    }

    pub async fn connect_as(&self, user: &Session) -> Socket {
        let ticket = self.ticket(user).await;
        self.try_connect(Some(&ticket))
            .await
            .expect("WebSocket connects with a fresh ticket")
    }

    /// A WebSocket for the user that resumes after notification `since` (`?since=`).
    pub async fn resume_as(&self, user: &Session, since: &str) -> Socket {
        let ticket = self.ticket(user).await;
        self.try_connect(Some(&format!("{ticket}&since={since}")))
            .await
            .expect("WebSocket resumes with a fresh ticket")
    }

    /// A connect ticket for the user (`POST /api/v1/ws/ticket`).
    pub async fn ticket(&self, user: &Session) -> String {
        let answer = self
            .call("POST", "/api/v1/ws/ticket")
            .token(&user.access_token)
            .send()
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["ticket"].as_str().unwrap().to_owned()
    }

    /// Connects with the given ticket (or none); `Err` carries the HTTP status of a refused upgrade.
    pub async fn try_connect(&self, ticket: Option<&str>) -> Result<Socket, u16> {
        self.try_connect_with(ticket, None).await
    }

    /// As `try_connect`, sending this `User-Agent` header.
    pub async fn try_connect_with(
        &self,
        ticket: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<Socket, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = match ticket {
            Some(ticket) => format!("{}/?ticket={ticket}", self.ws),
            None => self.ws.clone(),
        };
        let mut request = url.into_client_request().expect("a WebSocket URL");
        if let Some(agent) = user_agent {
            request
                .headers_mut()
                .insert("user-agent", agent.parse().expect("a header value"));
        }
        match connect_async(request).await {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("WebSocket connection failed: {e}"),
        }
    }

    /// Sends `method path` to the REST API byte for byte, as given (HTTP clients normalise `.` and `..`
    /// segments away before sending; attackers do not), and returns the status and body.
    pub async fn raw_request(&self, method: &str, path: &str, token: &str) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.api.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)
            .await
            .expect("the stack listens");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nX-Forwarded-For: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            client_ip()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("an HTTP status line");
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        // A chunked body would carry sizes around the JSON; the gateway sends a Content-Length.
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

/// The claims of an access token (read, not verified: the tests know where it came from).
pub fn claims(access_token: &str) -> Value {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Load tests (hundreds of concurrent orders) take turns: run together, they measure the emulator's
/// SNS fan-out on two cores (docs/adr/0005), not the property they test.
pub async fn load_test_turn() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
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

    /// Sends unless the socket is closed already; whether it was sent.
    pub async fn try_send(&mut self, message: Value) -> bool {
        self.stream
            .send(Message::Text(message.to_string().into()))
            .await
            .is_ok()
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

    /// Waits for the server to close the socket (skipping messages until then); the close code it sent.
    pub async fn closed_with(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the server closes the socket in time");
            match next {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
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

/// An HTTP answer: status, headers and the JSON body (`null` when there is none).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The fields a `422 VALIDATION_FAILED` names, in order.
    pub fn error_fields(&self) -> Vec<&str> {
        self.body["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["field"].as_str())
            .collect()
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// A client address of its own for each caller (never routed, only a header value), so per-IP login
/// limits of parallel tests do not collide: a counter, not a random pick, because two logins from one
/// address within seconds of each other are refused and random picks of 65,536 collide often enough
/// over a few hundred logins. The limits live in the database, across test binaries: the second octet
/// comes from the process id, so the next binary does not start on the addresses the last one used.
pub fn client_ip() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let process = std::process::id() % 200;
    format!("198.{}.{}.{}", 18 + process, (n >> 8) & 0xff, n & 0xff)
}

pub struct Call<'a> {
    stack: &'a Stack,
    request: reqwest::RequestBuilder,
}

impl Call<'_> {
    pub fn token(mut self, token: &str) -> Self {
        self.request = self.request.bearer_auth(token);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.request = self.request.json(body);
        self
    }

    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.request = self
            .request
            .header("content-type", "application/json")
            .body(body);
        self
    }

    pub async fn send(self) -> Answer {
        let _ = self.stack;
        let response = self.request.send().await.expect("the stack answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }
}

/// A registered, signed-in user.
#[derive(Clone)]
pub struct Session {
    pub id: String,
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub ip: String,
}

impl Stack {
    /// A request from a client address of its own.
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        self.call_from(method, path, &client_ip())
    }

    /// A request from the given client address (`X-Forwarded-For`, which the test stack trusts).
    pub fn call_from(&self, method: &str, path: &str, ip: &str) -> Call<'_> {
        let url = format!("{}{path}", self.api);
        let request = self
            .http
            .request(method.parse().expect("a method"), url)
            .header("x-forwarded-for", ip);
        Call {
            stack: self,
            request,
        }
    }

    pub async fn login(&self, email: &str, password: &str, ip: &str) -> Answer {
        let body = serde_json::json!({"email": email, "password": password});
        self.call_from("POST", "/api/v1/auth/login", ip)
            .json(&body)
            .send()
            .await
    }

    /// Registers a new customer with a unique email and signs them in.
    pub async fn customer(&self) -> Session {
        let email = format!("customer-{}@example.test", uuid::Uuid::now_v7().simple());
        let password = "a long enough password".to_owned();
        let registered = self
            .call("POST", "/api/v1/users")
            .json(
                &serde_json::json!({"email": email, "password": password, "name": "Test Customer"}),
            )
            .send()
            .await;
        assert_eq!(registered.status, 201, "{registered:?}");
        self.session(&email, &password, registered.body["id"].as_str().unwrap())
            .await
    }

    /// `n` new customers. Registration and login each cost one argon2 hash, and the local stack runs every
    /// function on this machine's cores: a few at a time keeps each request well inside its function's
    /// timeout, where hundreds at once would queue past it (in AWS each would have an instance of its own).
    pub async fn customers(&self, n: usize) -> Vec<Session> {
        futures::stream::iter((0..n).map(|_| self.customer()))
            .buffered(8)
            .collect()
            .await
    }

    pub async fn session(&self, email: &str, password: &str, id: &str) -> Session {
        let ip = client_ip();
        let login = self.login(email, password, &ip).await;
        assert_eq!(login.status, 200, "{login:?}");
        Session {
            id: id.to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access_token: login.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: login.body["refresh_token"].as_str().unwrap().to_owned(),
            ip,
        }
    }

    /// The first admin, signed in once per test binary (logins per email are rate limited).
    pub async fn admin(&self) -> Session {
        static ADMIN: tokio::sync::OnceCell<Session> = tokio::sync::OnceCell::const_new();
        ADMIN
            .get_or_init(|| async {
                let email = std::env::var("ORDERLY_ADMIN_EMAIL")
                    .expect("ORDERLY_ADMIN_EMAIL; `make test` sets it");
                let password = std::env::var("ORDERLY_ADMIN_PASSWORD")
                    .expect("ORDERLY_ADMIN_PASSWORD; `make test` sets it");
                let ip = client_ip();
                let login = self.login(&email, &password, &ip).await;
                assert_eq!(login.status, 200, "the first admin signs in: {login:?}");
                let token = login.body["access_token"].as_str().unwrap().to_owned();
                let me = self.call("GET", "/api/v1/me").token(&token).send().await;
                Session {
                    id: me.body["id"].as_str().unwrap().to_owned(),
                    email,
                    password,
                    access_token: token,
                    refresh_token: login.body["refresh_token"].as_str().unwrap().to_owned(),
                    ip,
                }
            })
            .await
            .clone()
    }

    /// `GET /api/v1/me` with this access token.
    pub async fn me(&self, access_token: &str) -> Answer {
        self.call("GET", "/api/v1/me")
            .token(access_token)
            .send()
            .await
    }

    /// Gives a user a role, as the first admin.
    pub async fn set_role(&self, user_id: &str, role: &str) {
        let admin = self.admin().await;
        let answer = self
            .call("PUT", &format!("/api/v1/users/{user_id}"))
            .token(&admin.access_token)
            .json(&serde_json::json!({"role": role}))
            .send()
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }

    /// A new API key, made by the first admin: (its id, the key itself).
    pub async fn api_key(&self, name: &str) -> (String, String) {
        let admin = self.admin().await;
        let created = self
            .call("POST", "/api/v1/admin/api-keys")
            .token(&admin.access_token)
            .json(&serde_json::json!({"name": name}))
            .send()
            .await;
        assert_eq!(created.status, 201, "{created:?}");
        (
            created.body["id"].as_str().unwrap().to_owned(),
            created.body["api_key"].as_str().unwrap().to_owned(),
        )
    }

    /// Waits until `$disconnect` has forgotten the connection.
    pub async fn until_forgotten(&self, connection_id: &str) {
        let db = database().await;
        eventually(
            "the $disconnect function to forget the connection",
            Duration::from_secs(10),
            || {
                let db = &db;
                async move {
                    let rows = db
                        .query(
                            "SELECT 1 FROM ws_connections WHERE connection_id = $1",
                            &[&connection_id],
                        )
                        .await
                        .unwrap();
                    rows.is_empty().then_some(())
                }
            },
        )
        .await;
    }

    /// `POST /api/v1/orders` with these lines.
    /// Waits (up to a minute: the pipeline runs over real queues) for an order to reach `status`.
    pub async fn order_reaches(&self, user: &Session, order_id: &str, status: &str) -> Value {
        eventually(
            &format!("order {order_id} to become {status}"),
            Duration::from_secs(60),
            || async move {
                let answer = self
                    .call("GET", &format!("/api/v1/orders/{order_id}/status"))
                    .token(&user.access_token)
                    .send()
                    .await;
                (answer.body["status"] == status).then_some(answer.body)
            },
        )
        .await
    }

    pub async fn place_order(&self, user: &Session, items: Value) -> Answer {
        self.call("POST", "/api/v1/orders")
            .token(&user.access_token)
            .json(&serde_json::json!({"items": items}))
            .send()
            .await
    }

    /// A product's (available, reserved, sold).
    pub async fn stock(&self, product_id: &str) -> (i64, i64, i64) {
        let s = self
            .call("GET", &format!("/api/v1/products/{product_id}/inventory"))
            .send()
            .await
            .body;
        (
            s["available"].as_i64().unwrap(),
            s["reserved"].as_i64().unwrap(),
            s["sold"].as_i64().unwrap(),
        )
    }

    /// The simulated provider's charges for an order.
    pub async fn charges(&self, order_id: &str) -> Vec<Value> {
        let url = format!("{}/_control/charges?reference={order_id}", self.provider);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// An order of one unit of an XTS `product` whose charge the simulated provider left pending, once
    /// the payment worker tried it, aged past the reconciliation grace so the next run asks about it.
    pub async fn pending_charge(&self, user: &Session, product: &Value) -> String {
        let placed = self
            .place_order(
                user,
                serde_json::json!([{"product_id": product["id"], "quantity": 1}]),
            )
            .await;
        assert_eq!(placed.status, 201, "{placed:?}");
        let order_id = placed.body["id"].as_str().unwrap().to_owned();
        eventually(
            "the charge to be pending at the provider",
            Duration::from_secs(60),
            || async {
                let found = self.charges(&order_id).await;
                (found.first()?["status"] == "pending").then_some(())
            },
        )
        .await;
        database()
            .await
            .execute(
                "UPDATE payments SET updated_at = now() - interval '5 minutes' WHERE order_id = $1::text::uuid",
                &[&order_id],
            )
            .await
            .unwrap();
        order_id
    }

    /// The simulated provider settles an order's pending charge: `captured` or `declined`.
    pub async fn settle_charge(&self, order_id: &str, outcome: &str) {
        let settled = self
            .http
            .post(format!("{}/_control/charges/settle", self.provider))
            .json(&serde_json::json!({"reference": order_id, "outcome": outcome}))
            .send()
            .await
            .unwrap();
        assert_eq!(settled.status(), 200);
    }

    /// `GET /api/v1/admin/audit-logs?{query}` as the first admin.
    /// Today's line of the daily report, as the admin reads it, once there is one.
    pub async fn report_today(&self) -> Option<Value> {
        let admin = self.admin().await;
        let today = chrono::Utc::now().date_naive();
        let report = self
            .call(
                "GET",
                &format!("/api/v1/admin/reports/daily?from={today}&to={today}"),
            )
            .token(&admin.access_token)
            .send()
            .await;
        report.body.as_array()?.first().cloned()
    }

    /// Today's report, and the product's line in it, once it has one.
    pub async fn reported_today(&self, product_id: &str) -> Option<(Value, Value)> {
        let day = self.report_today().await?;
        let line = day["products"]
            .as_array()?
            .iter()
            .find(|p| p["product_id"] == product_id)?
            .clone();
        Some((day, line))
    }

    pub async fn audit_logs(&self, query: &str) -> Answer {
        let admin = self.admin().await;
        self.call("GET", &format!("/api/v1/admin/audit-logs?{query}"))
            .token(&admin.access_token)
            .send()
            .await
    }

    /// A merchant and a product with `stock` units at 49.99 EUR, made through the admin API. Orders of it
    /// are paid, fulfilled and completed by the pipeline.
    pub async fn product(&self, stock: i32) -> (String, Value) {
        self.product_at(stock, 4999, "EUR").await
    }

    /// A product whose orders stay `PENDING_PAYMENT`: the simulated provider leaves charges in XTS (the
    /// ISO 4217 code for testing) pending, so a test can drive the status machine itself.
    pub async fn unpaid_product(&self, stock: i32) -> (String, Value) {
        self.product_at(stock, 4999, "XTS").await
    }

    pub async fn product_at(
        &self,
        stock: i32,
        price_cents: i64,
        currency: &str,
    ) -> (String, Value) {
        let admin = self.admin().await;
        let merchant = self
            .call("POST", "/api/v1/admin/merchants")
            .token(&admin.access_token)
            .json(&serde_json::json!({"name": format!("Merchant {}", uuid::Uuid::now_v7())}))
            .send()
            .await;
        assert_eq!(merchant.status, 201, "{merchant:?}");
        let merchant_id = merchant.body["id"].as_str().unwrap().to_owned();
        let product = self
            .call("POST", "/api/v1/products")
            .token(&admin.access_token)
            .json(&serde_json::json!({
                "merchant_id": merchant_id, "sku": format!("SKU-{}", uuid::Uuid::now_v7().simple()),
                "name": "Desk lamp", "description": "A warm brass desk lamp", "price_cents": price_cents, "currency": currency,
                "stock": stock, "low_stock_threshold": 2,
            }))
            .send()
            .await;
        assert_eq!(product.status, 201, "{product:?}");
        (merchant_id, product.body)
    }
}

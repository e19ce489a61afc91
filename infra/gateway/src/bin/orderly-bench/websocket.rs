//! The WebSocket row of `make bench`: `BENCH_WS_CONNECTIONS` sockets (default 10,000) held at once,
//! one per user, then
//! (a) a notification sent to one user (`POST /api/v1/admin/notifications`), from the request to its
//!     arrival on that user's socket, next to the same message posted straight to the gateway's
//!     `@connections` API by this benchmark, alternating A/B;
//! (b) a broadcast to a group of every one of those users, until the last socket has it, next to the
//!     same posts made straight to `@connections`, 50 at a time: raw, through the pusher the functions
//!     use (signed posts, the floor for any pusher in AWS), and through `aws-sdk-apigatewaymanagement`
//!     (what that pusher replaced, ADR 0026), alternating A/B/C/D after a round of each not counted,
//!     each side once the pipeline has drained (outbox published, queues empty).
//! Users, sessions and connect tickets are written straight into the database (no argon2 logins).

use crate::summary::named;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use orderly_cloud::{ApiGatewayConnections, ConnectionPusher};
use orderly_functions::ops::seed_connections;
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use uuid::Uuid;

use crate::env;
use crate::median;

const SENDS: usize = 100;
/// Counted rounds: on two shared cores a single round varies by ±20 %, so the median of five.
const BROADCAST_ROUNDS: usize = 5;
/// Rounds of all four run first and not counted: the first posts of each client open its connections
/// to the gateway (up to 500 for a broadcast's ten pages), which a warm instance already holds.
const BROADCAST_WARMUP_ROUNDS: usize = 1;
/// Opening sockets this many at a time.
const OPENING: usize = 100;
/// Posts in flight for the broadcast's baseline: as many as the push worker makes.
const POSTS_AT_ONCE: usize = 50;
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Row {
    pub connections: usize,
    pub send: (Histogram<u64>, Histogram<u64>),
    pub broadcast: Broadcast,
}

/// Seconds until the last socket had it, per round.
#[derive(Default)]
pub struct Broadcast {
    pub through_api: Vec<f64>,
    /// Until the first socket had it: the fan-out's latency before its pushes.
    pub first_socket: Vec<f64>,
    /// The same posts, made by each `Poster`.
    pub raw: Vec<f64>,
    pub pusher: Vec<f64>,
    pub sdk: Vec<f64>,
}

/// Who makes the benchmark's own posts to every connection.
#[derive(Clone, Copy, Debug)]
enum Poster {
    /// Unsigned HTTP posts: the gateway's own cost.
    Raw,
    /// The pusher our functions use: signed posts (ADR 0026).
    Pusher,
    /// `aws-sdk-apigatewaymanagement`'s `PostToConnection`.
    Sdk,
}

/// Who received which marker, when.
type Arrival = (usize, String, Instant);

struct Sockets {
    users: Vec<Uuid>,
    connection_ids: Vec<String>,
    arrivals: Mutex<mpsc::UnboundedReceiver<Arrival>>,
    /// The write halves, kept so that the sockets stay open.
    _writers: Vec<Box<dyn std::any::Any + Send>>,
}

fn progress(label: &str, len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template("  {prefix:<34} {bar:30} {pos}/{len} {per_sec}")
            .expect("a valid template"),
    );
    bar.set_prefix(label.to_owned());
    bar
}

async fn open(n: usize) -> Sockets {
    let pool = orderly_store::connect(&env("DATABASE_URL"), Default::default()).expect("a pool");
    let users = seed_connections::users_with_tickets(&pool, n)
        .await
        .expect("users with tickets");
    let ws = format!("ws://127.0.0.1:{}", env("ORDERLY_WS_PORT"));
    let (sender, receiver) = mpsc::unbounded_channel::<Arrival>();
    let bar = progress("sockets opened", n);
    let opened: Vec<_> = futures::stream::iter(users.iter().enumerate())
        .map(|(index, (_, ticket))| {
            let (url, sender, bar) = (
                format!("{ws}/?ticket={ticket}"),
                sender.clone(),
                bar.clone(),
            );
            async move {
                // A small read buffer, as the gateway's own sockets have: tungstenite's default zero-fills
                // 128 KiB per socket on every read, and the benchmark's own CPU would count against the
                // system it measures.
                let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
                let (socket, _) =
                    tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
                        .await
                        .expect("a socket opens with its ticket");
                let (mut writer, mut reader) = socket.split();
                writer
                    .send(Message::Text(json!({"action": "ping"}).to_string().into()))
                    .await
                    .expect("a ping");
                let connection_id = loop {
                    match reader.next().await {
                        Some(Ok(Message::Text(text))) => {
                            let pong: Value = serde_json::from_str(&text).expect("JSON");
                            if let Some(id) = pong["connection_id"].as_str() {
                                break id.to_owned();
                            }
                        }
                        Some(Ok(_)) => continue,
                        other => panic!("socket {index} closed before its pong: {other:?}"),
                    }
                };
                tokio::spawn(async move {
                    while let Some(Ok(message)) = reader.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let arrived = Instant::now();
                        let Ok(value) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        let marker = value["notification"]["title"]
                            .as_str()
                            .or(value["marker"].as_str());
                        if let Some(marker) = marker {
                            let _ = sender.send((index, marker.to_owned(), arrived));
                        }
                    }
                });
                bar.inc(1);
                (connection_id, writer)
            }
        })
        .buffered(OPENING)
        .collect()
        .await;
    bar.finish_and_clear();
    let (connection_ids, writers): (Vec<_>, Vec<_>) = opened.into_iter().unzip();
    Sockets {
        users: users.into_iter().map(|(user, _)| user).collect(),
        connection_ids,
        arrivals: Mutex::new(receiver),
        _writers: writers
            .into_iter()
            .map(|w| Box::new(w) as Box<dyn std::any::Any + Send>)
            .collect(),
    }
}

impl Sockets {
    /// Waits until `count` sockets have received `marker`; the times the first and the last one did.
    async fn arrived(&self, marker: &str, count: usize) -> (Instant, Instant) {
        let mut arrivals = self.arrivals.lock().await;
        let mut seen = 0;
        let (mut first, mut last) = (None, None);
        while seen < count {
            let (_, got, at) = tokio::time::timeout(ARRIVAL_TIMEOUT, arrivals.recv())
                .await
                .unwrap_or_else(|_| panic!("{seen} of {count} sockets got {marker} in time"))
                .expect("the readers live");
            if got == marker {
                seen += 1;
                first = Some(first.map_or(at, |f: Instant| f.min(at)));
                last = Some(last.map_or(at, |l: Instant| l.max(at)));
            }
        }
        let now = Instant::now();
        (first.unwrap_or(now), last.unwrap_or(now))
    }
}

async fn post_to_connection(client: &reqwest::Client, connection_id: &str, marker: &str) {
    // Connection ids are base64 (`/`, `+`, `=`), as API Gateway's: escaped, as the SDK does.
    let id: String = form_urlencoded::byte_serialize(connection_id.as_bytes()).collect();
    let url = format!(
        "http://127.0.0.1:{}/@connections/{id}",
        env("ORDERLY_WS_PORT")
    );
    let body = json!({"type": "bench", "marker": marker}).to_string();
    let answer = client.post(url).body(body).send().await.expect("a post");
    assert!(answer.status().is_success(), "{}", answer.status());
}

#[derive(Clone)]
struct Posters {
    raw: reqwest::Client,
    pusher: ApiGatewayConnections,
    sdk: aws_sdk_apigatewaymanagement::Client,
}

/// The pusher the WebSocket push worker uses and the SDK's client, pointed at the local management API.
async fn posters(raw: &reqwest::Client) -> Posters {
    let credentials = aws_sdk_sqs::config::Credentials::new("bench", "bench", None, None, "bench");
    let sdk = orderly_cloud::sdk_config_loader()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    let endpoint = format!("http://127.0.0.1:{}", env("ORDERLY_WS_PORT"));
    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url(&endpoint)
        .build();
    Posters {
        raw: raw.clone(),
        pusher: ApiGatewayConnections::new(&sdk, &endpoint),
        sdk: aws_sdk_apigatewaymanagement::Client::from_conf(config),
    }
}

/// Posts the marker to every connection, `POSTS_AT_ONCE` at a time, and returns when the last socket has
/// it.
async fn post_to_all(
    posters: &Posters,
    sockets: &Sockets,
    ids: &Arc<Vec<String>>,
    poster: Poster,
    round: usize,
) -> f64 {
    let marker = format!("posts-{poster:?}-{round}-{}", Uuid::now_v7());
    let started = Instant::now();
    let posting = {
        let (posters, ids, marker) = (posters.clone(), ids.clone(), marker.clone());
        tokio::spawn(async move {
            futures::stream::iter(ids.iter())
                .for_each_concurrent(POSTS_AT_ONCE, |id| {
                    let (posters, marker) = (&posters, &marker);
                    async move {
                        let body = || json!({"type": "bench", "marker": marker}).to_string();
                        match poster {
                            Poster::Raw => post_to_connection(&posters.raw, id, marker).await,
                            Poster::Pusher => posters
                                .pusher
                                .push(id, body().into_bytes())
                                .await
                                .expect("a signed post"),
                            Poster::Sdk => {
                                posters
                                    .sdk
                                    .post_to_connection()
                                    .connection_id(id)
                                    .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                                        body().into_bytes(),
                                    ))
                                    .send()
                                    .await
                                    .expect("an SDK post");
                            }
                        }
                    }
                })
                .await
        })
    };
    let (_, last) = sockets.arrived(&marker, ids.len()).await;
    posting.await.expect("the posts");
    (last - started).as_secs_f64()
}

async fn send_to_user(client: &reqwest::Client, api: &str, token: &str, user: Uuid, marker: &str) {
    let answer = client
        .post(format!("{api}/api/v1/admin/notifications"))
        .bearer_auth(token)
        .header("x-forwarded-for", "198.18.255.3")
        .json(&json!({"user_ids": [user], "type": "bench", "title": marker, "message": "m"}))
        .send()
        .await
        .expect("a send");
    assert_eq!(answer.status().as_u16(), 202);
}

pub async fn bench(client: &reqwest::Client, api: &str, token: &str) -> Row {
    let n: usize = std::env::var("BENCH_WS_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sockets = open(n).await;

    // (a) One user at a time, A/B alternating.
    let histogram = || Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
    let (mut through_api, mut direct) = (histogram(), histogram());
    let bar = progress("send to one user (A/B)", SENDS);
    for round in 0..SENDS {
        let index = (round * 7_919) % n;
        let marker = format!("send-{round}-{}", Uuid::now_v7());
        let started = Instant::now();
        send_to_user(client, api, token, sockets.users[index], &marker).await;
        let (at, _) = sockets.arrived(&marker, 1).await;
        through_api.saturating_record((at - started).as_micros() as u64);

        let marker = format!("post-{round}-{}", Uuid::now_v7());
        let started = Instant::now();
        post_to_connection(client, &sockets.connection_ids[index], &marker).await;
        let (at, _) = sockets.arrived(&marker, 1).await;
        direct.saturating_record((at - started).as_micros() as u64);
        bar.inc(1);
    }
    bar.finish_and_clear();

    // (b) Everyone, A/B alternating.
    let db = orderly_store::connect(&env("DATABASE_URL"), Default::default()).expect("a pool");
    let group = client
        .post(format!("{api}/api/v1/admin/groups"))
        .bearer_auth(token)
        .header("x-forwarded-for", "198.18.255.3")
        .json(&json!({"name": format!("bench {}", Uuid::now_v7())}))
        .send()
        .await
        .expect("a group")
        .json::<Value>()
        .await
        .expect("its body");
    let group_id: Uuid = group["id"]
        .as_str()
        .expect("a group id")
        .parse()
        .expect("a uuid");
    db.get()
        .await
        .expect("a connection")
        .execute(
            "INSERT INTO group_members (group_id, user_id) SELECT $1, unnest($2::uuid[])",
            &[&group_id, &sockets.users],
        )
        .await
        .expect("the members");
    let connection_ids = Arc::new(sockets.connection_ids.clone());
    let mut broadcast = Broadcast::default();
    let posters = posters(client).await;
    let sqs = crate::local_stack::sqs_client().await;
    let db_client = db.get().await.expect("a connection");
    for round in 0..BROADCAST_WARMUP_ROUNDS + BROADCAST_ROUNDS {
        let counted = round >= BROADCAST_WARMUP_ROUNDS;
        let marker = format!("broadcast-{round}-{}", Uuid::now_v7());
        crate::orders::drain(&db_client, &sqs).await;
        let started = Instant::now();
        let answer = client
            .post(format!("{api}/api/v1/admin/groups/{group_id}/broadcast"))
            .bearer_auth(token)
            .header("x-forwarded-for", "198.18.255.3")
            .json(&json!({"type": "bench", "title": marker, "message": "m"}))
            .send()
            .await
            .expect("a broadcast");
        assert_eq!(answer.status().as_u16(), 202);
        let (first, last) = sockets.arrived(&marker, n).await;
        if counted {
            broadcast.through_api.push((last - started).as_secs_f64());
            broadcast.first_socket.push((first - started).as_secs_f64());
        }
        for (poster, runs) in [
            (Poster::Raw, &mut broadcast.raw),
            (Poster::Pusher, &mut broadcast.pusher),
            (Poster::Sdk, &mut broadcast.sdk),
        ] {
            crate::orders::drain(&db_client, &sqs).await;
            let took = post_to_all(&posters, &sockets, &connection_ids, poster, round).await;
            if counted {
                runs.push(took);
            }
        }
    }
    Row {
        connections: n,
        send: (through_api, direct),
        broadcast,
    }
}

pub fn print(row: &Row) {
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let (api, direct) = &row.send;
    println!(
        "\nWebSocket delivery with {} connections open, one per user:",
        row.connections
    );
    println!(
        "  send to one user, request → arrival   p50 {:>7.1} ms  p99 {:>7.1} ms  (goal p99 < 100 ms)",
        ms(api, 0.5),
        ms(api, 0.99)
    );
    println!(
        "  the same post straight to @connections p50 {:>7.1} ms  p99 {:>7.1} ms  ratio p99 {:.2}×",
        ms(direct, 0.5),
        ms(direct, 0.99),
        ms(api, 0.99) / ms(direct, 0.99).max(0.001)
    );
    let b = &row.broadcast;
    let all = median(&b.through_api);
    println!(
        "  broadcast to all, until the last socket {all:>7.2} s (runs {:?}; the first socket after {:.2} s)",
        b.through_api,
        median(&b.first_socket)
    );
    println!(
        "  the same posts straight, {POSTS_AT_ONCE} at a time  {:>7.2} s (runs {:?})  ratio {:.2}× (goal ≤ 2×)",
        median(&b.raw),
        b.raw,
        all / median(&b.raw)
    );
    println!(
        "  the same posts through the functions' pusher (signed posts) {:>7.2} s (runs {:?})  ratio {:.2}×",
        median(&b.pusher),
        b.pusher,
        all / median(&b.pusher)
    );
    println!(
        "  the same posts through aws-sdk-apigatewaymanagement {:>7.2} s (runs {:?})  ratio {:.2}×",
        median(&b.sdk),
        b.sdk,
        all / median(&b.sdk)
    );
}

/// `target/bench/websocket.csv`: one line per figure.
pub fn write(row: &Row, durability: &str) {
    let (api, direct) = &row.send;
    let b = &row.broadcast;
    let figures = [
        ("connections", row.connections as f64),
        ("send_p50_ms", api.value_at_quantile(0.5) as f64 / 1000.0),
        ("send_p99_ms", api.value_at_quantile(0.99) as f64 / 1000.0),
        (
            "direct_p50_ms",
            direct.value_at_quantile(0.5) as f64 / 1000.0,
        ),
        (
            "direct_p99_ms",
            direct.value_at_quantile(0.99) as f64 / 1000.0,
        ),
        ("broadcast_s", median(&b.through_api)),
        ("broadcast_first_socket_s", median(&b.first_socket)),
        ("direct_posts_s", median(&b.raw)),
        ("pusher_posts_s", median(&b.pusher)),
        ("sdk_posts_s", median(&b.sdk)),
    ];
    crate::summary::write_row("websocket", &named(&figures), durability);
}

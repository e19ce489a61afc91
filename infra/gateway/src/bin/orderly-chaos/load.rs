//! The load: customers placing orders for a few hundred products of limited stock, cancelling some of
//! theirs, and an admin restocking, each as a careful client would (an `Idempotency-Key` per order and
//! per restock, retried with the same key after a 5xx or a broken connection, `Retry-After` honoured).
//! What every request ended as is kept: the checks compare the database with what clients were told.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::RngExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Stack;

/// Units added by one restock (`adjust`); stock conservation allows it once more for each restock whose
/// every attempt went unanswered.
pub const RESTOCK_UNITS: i64 = 5;
const ATTEMPTS: u32 = 8;

pub struct World {
    pub admin_token: String,
    /// Product id → units stocked at the start.
    pub initial_stock: BTreeMap<Uuid, i64>,
    pub products: Vec<(Uuid, i64)>,
    /// One access token per customer, with the address it calls from.
    pub customers: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Outcome {
    /// Orders the API created (201), by id.
    pub placed: Vec<Uuid>,
    pub out_of_stock: usize,
    /// Orders whose every attempt failed without an answer: each may or may not exist.
    pub ambiguous_orders: usize,
    /// Answers no valid request should get (4xx other than 409 out of stock and 429), with a sample.
    pub unexpected: Vec<String>,
    pub cancels_answered: usize,
    /// Product → restocks acknowledged, and restocks that got no answer after every attempt (each applied
    /// once or not at all: its attempts shared one idempotency key, so a retry after a commit whose answer
    /// was lost replays it instead of applying it again).
    pub restocks: BTreeMap<Uuid, (i64, i64)>,
    pub retries: usize,
}

/// One client: whose token, from which address; it counts its retries in `retries`.
struct Caller<'a> {
    stack: &'a Stack,
    token: &'a str,
    ip: &'a str,
    retries: &'a AtomicUsize,
}

impl Caller<'_> {
    /// What one request finally got: an answer (status, body), or none after every attempt.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Option<(u16, Value)> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
            }
            let mut request = self
                .stack
                .http
                .request(method.clone(), format!("{}{path}", self.stack.api))
                .bearer_auth(self.token)
                .header("x-forwarded-for", self.ip)
                .timeout(Duration::from_secs(30));
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let backoff = Duration::from_millis(250 * u64::from(attempt + 1));
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    if status >= 500 || status == 429 {
                        let wait = retry_after.map_or(backoff, |s| Duration::from_secs(s.min(5)));
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Some((status, body));
                }
                Err(_) => tokio::time::sleep(backoff).await,
            }
        }
        None
    }
}

async fn post(stack: &Stack, path: &str, token: Option<&str>, ip: &str, body: Value) -> Value {
    let mut request = stack
        .http
        .post(format!("{}{path}", stack.api))
        .header("x-forwarded-for", ip)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the stack answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}

pub async fn setup(stack: &Stack, products: usize, customers: usize) -> World {
    let ip = "198.19.255.1";
    let admin = post(
        stack,
        "/api/v1/auth/login",
        None,
        ip,
        json!({"email": stack.admin_email, "password": stack.admin_password}),
    )
    .await;
    let admin_token = admin["access_token"].as_str().expect("a token").to_owned();
    let merchant = post(
        stack,
        "/api/v1/admin/merchants",
        Some(&admin_token),
        ip,
        json!({"name": format!("Chaos {}", Uuid::now_v7())}),
    )
    .await;
    let mut rng = rand::rng();
    let mut all = Vec::new();
    let mut initial_stock = BTreeMap::new();
    for n in 0..products {
        let stock: i64 = rng.random_range(5..=40);
        // Prices in whole hundreds: no total ends in the simulator's trigger amounts (…503, …666, …777).
        let price: i64 = rng.random_range(10..=50) * 100;
        let product = post(
            stack,
            "/api/v1/products",
            Some(&admin_token),
            ip,
            json!({"merchant_id": merchant["id"], "sku": format!("CHAOS-{n}-{}", Uuid::now_v7().simple()),
                   "name": format!("Chaos item {n}"), "price_cents": price, "currency": "EUR", "stock": stock}),
        )
        .await;
        let id: Uuid = product["id"].as_str().unwrap().parse().unwrap();
        initial_stock.insert(id, stock);
        all.push((id, price));
    }
    let mut tokens = Vec::new();
    for n in 0..customers {
        let ip = format!("198.19.{}.{}", n / 250, n % 250 + 1);
        let email = format!("chaos-{n}-{}@example.test", Uuid::now_v7().simple());
        post(
            stack,
            "/api/v1/users",
            None,
            &ip,
            json!({"email": email, "password": "chaos password 123", "name": "Chaos"}),
        )
        .await;
        let login = post(
            stack,
            "/api/v1/auth/login",
            None,
            &ip,
            json!({"email": email, "password": "chaos password 123"}),
        )
        .await;
        tokens.push((login["access_token"].as_str().unwrap().to_owned(), ip));
    }
    World {
        admin_token,
        initial_stock,
        products: all,
        customers: tokens,
    }
}

/// Places `orders` orders from every customer at once (cancelling about one in twenty of its own) while
/// the admin restocks a random product every half second; `progress` counts orders decided.
pub async fn run(
    stack: Arc<Stack>,
    world: Arc<World>,
    orders: usize,
    progress: Arc<AtomicUsize>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..world.customers.len())
        .map(|c| {
            let (stack, world, next, progress, retries) = (
                stack.clone(),
                world.clone(),
                next.clone(),
                progress.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                let (token, ip) = &world.customers[c];
                let caller = Caller {
                    stack: &stack,
                    token,
                    ip,
                    retries: &retries,
                };
                let mut outcome = Outcome::default();
                while next.fetch_add(1, Ordering::Relaxed) < orders {
                    let lines: Vec<Value> = {
                        let mut rng = rand::rng();
                        let count = rng.random_range(1..=2);
                        let first = rng.random_range(0..world.products.len());
                        (0..count)
                            .map(|i| {
                                let (id, _) =
                                    world.products[(first + i * 7) % world.products.len()];
                                json!({"product_id": id, "quantity": rng.random_range(1..=2)})
                            })
                            .collect()
                    };
                    let body = json!({ "items": lines });
                    let key = Uuid::now_v7().to_string();
                    let answer = caller
                        .send(
                            reqwest::Method::POST,
                            "/api/v1/orders",
                            Some(&body),
                            Some(&key),
                        )
                        .await;
                    match answer {
                        Some((201, order)) => {
                            outcome
                                .placed
                                .push(order["id"].as_str().unwrap().parse().unwrap());
                        }
                        Some((409, e)) if e["error"]["code"] == "OUT_OF_STOCK" => {
                            outcome.out_of_stock += 1
                        }
                        Some((status, e)) => outcome
                            .unexpected
                            .push(format!("POST /api/v1/orders: {status} {e}")),
                        None => outcome.ambiguous_orders += 1,
                    }
                    progress.fetch_add(1, Ordering::Relaxed);
                    let cancel = rand::rng().random_bool(0.05);
                    if cancel && let Some(id) = outcome.placed.last().copied() {
                        let path = format!("/api/v1/orders/{id}/cancel");
                        match caller.send(reqwest::Method::PUT, &path, None, None).await {
                            // 409: already past the point of cancelling (paid and on its way), fine.
                            Some((200 | 409, _)) => outcome.cancels_answered += 1,
                            Some((status, e)) => {
                                outcome.unexpected.push(format!("PUT {path}: {status} {e}"))
                            }
                            None => {}
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    let restocker = {
        let (stack, world, next, retries) =
            (stack.clone(), world.clone(), next.clone(), retries.clone());
        tokio::spawn(async move {
            let caller = Caller {
                stack: &stack,
                token: &world.admin_token,
                ip: "198.19.255.1",
                retries: &retries,
            };
            let mut restocks: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
            let mut unexpected = Vec::new();
            while next.load(Ordering::Relaxed) < orders {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (id, _) = world.products[rand::rng().random_range(0..world.products.len())];
                let path = format!("/api/v1/products/{id}/inventory");
                let body = json!({ "adjust": RESTOCK_UNITS });
                let key = Uuid::now_v7().to_string();
                let entry = restocks.entry(id).or_default();
                match caller
                    .send(reqwest::Method::PUT, &path, Some(&body), Some(&key))
                    .await
                {
                    Some((200, _)) => entry.0 += 1,
                    Some((status, e)) => unexpected.push(format!("PUT {path}: {status} {e}")),
                    None => entry.1 += 1,
                }
            }
            (restocks, unexpected)
        })
    };
    let mut total = Outcome::default();
    for client in clients {
        let outcome = client.await.expect("a client");
        total.placed.extend(outcome.placed);
        total.out_of_stock += outcome.out_of_stock;
        total.ambiguous_orders += outcome.ambiguous_orders;
        total.unexpected.extend(outcome.unexpected);
        total.cancels_answered += outcome.cancels_answered;
    }
    let (restocks, unexpected) = restocker.await.expect("the restocker");
    total.restocks = restocks;
    total.unexpected.extend(unexpected);
    total.retries = retries.load(Ordering::Relaxed);
    total
}

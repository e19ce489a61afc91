//! The invariants, read from the database, the provider's ledger and the queues once the system has
//! settled. Each is one row of the table the run prints; any violation fails the run.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use uuid::Uuid;

use crate::Stack;
use crate::load::{Outcome, RESTOCK_UNITS, World};
use crate::local_stack;

pub struct Row {
    pub name: &'static str,
    pub figure: String,
    pub violations: usize,
    pub detail: String,
}

fn row(name: &'static str, figure: String, violations: usize, detail: String) -> Row {
    Row {
        name,
        figure,
        violations,
        detail,
    }
}

fn sample<T: std::fmt::Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(3).map(ToString::to_string).collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!("e.g. {}", shown.join("; "))
    }
}

pub async fn run(stack: &Stack, world: &World, outcome: &Outcome) -> Vec<Row> {
    let db = stack.database().await;
    let mut rows = Vec::new();

    // Orders: every acknowledged one stored, none beyond what a lost answer can explain.
    let stored: BTreeSet<Uuid> = db
        .query("SELECT id FROM orders", &[])
        .await
        .expect("orders")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing: Vec<&Uuid> = outcome
        .placed
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    rows.push(row(
        "acknowledged orders stored",
        format!(
            "{} of {}",
            outcome.placed.len() - missing.len(),
            outcome.placed.len()
        ),
        missing.len(),
        sample(&missing),
    ));
    let unacknowledged = stored.len().saturating_sub(outcome.placed.len());
    rows.push(row(
        "orders without an answer",
        format!(
            "{unacknowledged} stored of {} unanswered",
            outcome.ambiguous_orders
        ),
        usize::from(unacknowledged > outcome.ambiguous_orders),
        "a retried order is stored once (Idempotency-Key)".into(),
    ));
    rows.push(row(
        "answers no valid request should get",
        outcome.unexpected.len().to_string(),
        outcome.unexpected.len(),
        sample(&outcome.unexpected),
    ));

    // Every order terminal, or pending payment with its expiry still ahead (the expiry releases it).
    let statuses: BTreeMap<String, i64> = db
        .query("SELECT status, count(*) FROM orders GROUP BY status", &[])
        .await
        .expect("statuses")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let stuck: i64 = db
        .query_one(
            "SELECT count(*) FROM orders WHERE status IN ('PAID', 'FULFILLED', 'QUEUED')
                OR (status = 'PENDING_PAYMENT' AND expires_at < now() - interval '2 minutes')",
            &[],
        )
        .await
        .expect("stuck orders")
        .get(0);
    rows.push(row(
        "orders terminal or legitimately pending",
        statuses
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        stuck as usize,
        "pending = PENDING_PAYMENT before its expiry".into(),
    ));

    // Stock: conserved, never oversold, and the counters agree with the orders that hold units.
    let inventory = db
        .query(
            "SELECT i.product_id, i.available::bigint, i.reserved::bigint, i.sold::bigint,
                    COALESCE(SUM(oi.quantity) FILTER (WHERE o.status IN ('PENDING_PAYMENT', 'PAID')), 0)::bigint,
                    COALESCE(SUM(oi.quantity) FILTER (WHERE o.status IN ('FULFILLED', 'COMPLETED')), 0)::bigint
               FROM inventory i
               LEFT JOIN order_items oi ON oi.product_id = i.product_id
               LEFT JOIN orders o ON o.id = oi.order_id
              WHERE i.product_id = ANY($1)
              GROUP BY i.product_id",
            &[&world.initial_stock.keys().copied().collect::<Vec<Uuid>>()],
        )
        .await
        .expect("inventory");
    let (mut unconserved, mut oversold, mut disagreeing) = (Vec::new(), 0, Vec::new());
    let mut units = 0i64;
    for r in &inventory {
        let id: Uuid = r.get(0);
        let (available, reserved, sold, held, sold_by_orders): (i64, i64, i64, i64, i64) =
            (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let (acked, unanswered) = outcome.restocks.get(&id).copied().unwrap_or_default();
        let least = world.initial_stock[&id] + acked * RESTOCK_UNITS;
        let total = available + reserved + sold;
        units += total;
        let extra = total - least;
        if extra < 0 || extra > unanswered * RESTOCK_UNITS || extra % RESTOCK_UNITS != 0 {
            unconserved.push(format!(
                "{id}: {total} units, expected {least} + up to {unanswered}×{RESTOCK_UNITS}"
            ));
        }
        if available < 0 || reserved + sold > total {
            oversold += 1;
        }
        if reserved != held || sold != sold_by_orders {
            disagreeing.push(format!(
                "{id}: reserved {reserved} vs {held} held by open orders, sold {sold} vs {sold_by_orders}"
            ));
        }
    }
    rows.push(row(
        "stock conserved (available + reserved + sold)",
        format!("{} products, {units} units", inventory.len()),
        unconserved.len(),
        sample(&unconserved),
    ));
    rows.push(row(
        "never oversold",
        format!("{} products", inventory.len()),
        oversold,
        String::new(),
    ));
    rows.push(row(
        "reserved and sold match the orders",
        format!("{} products", inventory.len()),
        disagreeing.len(),
        sample(&disagreeing),
    ));

    // Payments against the provider's ledger: one capture per paid order, none for any other.
    let charges: Vec<Value> = stack
        .http
        .get(format!("{}/_control/charges", stack.provider))
        .send()
        .await
        .expect("the provider's ledger")
        .json()
        .await
        .expect("charges");
    let mut kept: BTreeMap<String, usize> = BTreeMap::new();
    for charge in &charges {
        if charge["status"] == "captured" && charge["refunded"] != true {
            *kept
                .entry(charge["reference"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let paid: BTreeSet<String> = db
        .query(
            "SELECT o.id::text FROM orders o JOIN payments p ON p.order_id = o.id
              WHERE p.status = 'CAPTURED' AND o.status IN ('PAID', 'FULFILLED', 'COMPLETED')",
            &[],
        )
        .await
        .expect("payments")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut wrong = Vec::new();
    for order in &paid {
        let n = kept.get(order).copied().unwrap_or(0);
        if n != 1 {
            wrong.push(format!("{order}: paid, {n} charges kept"));
        }
    }
    for (order, n) in &kept {
        if !paid.contains(order) {
            wrong.push(format!("{order}: not paid, {n} charges kept"));
        }
    }
    let replays: u64 = charges.iter().filter_map(|c| c["replays"].as_u64()).sum();
    rows.push(row(
        "each paid order charged exactly once",
        format!(
            "{} paid, {} charges, {replays} replays",
            paid.len(),
            charges.len()
        ),
        wrong.len(),
        sample(&wrong),
    ));

    // Completed orders: notified once (stored), counted once in the daily report.
    let completed: i64 = statuses.get("COMPLETED").copied().unwrap_or(0);
    let notified_wrong: Vec<String> = db
        .query(
            "SELECT o.id::text, count(n.id) FROM orders o
               LEFT JOIN notifications n ON n.type = 'order.completed' AND n.data->>'order_id' = o.id::text
              WHERE o.status = 'COMPLETED' GROUP BY o.id HAVING count(n.id) <> 1",
            &[],
        )
        .await
        .expect("notifications")
        .iter()
        .map(|r| format!("{}: {} notifications", r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect();
    rows.push(row(
        "each completed order notified once",
        format!("{completed} completed"),
        notified_wrong.len(),
        sample(&notified_wrong),
    ));
    let report = db
        .query_one(
            "SELECT COALESCE(SUM(orders), 0)::bigint, COALESCE(SUM(units), 0)::bigint, COALESCE(SUM(cancelled_orders), 0)::bigint,
                    (SELECT COALESCE(SUM(oi.quantity), 0)::bigint FROM order_items oi JOIN orders o ON o.id = oi.order_id
                      WHERE o.status = 'COMPLETED'),
                    (SELECT count(*) FROM orders WHERE status = 'CANCELLED')
               FROM daily_sales",
            &[],
        )
        .await
        .expect("the daily report");
    let (reported, reported_units, reported_cancels, units_completed, cancelled): (
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = (
        report.get(0),
        report.get(1),
        report.get(2),
        report.get(3),
        report.get(4),
    );
    let mismatches = usize::from(reported != completed)
        + usize::from(reported_units != units_completed)
        + usize::from(reported_cancels != cancelled);
    rows.push(row(
        "the daily report counts each once",
        format!(
            "orders {reported}/{completed}, units {reported_units}/{units_completed}, cancelled {reported_cancels}/{cancelled}"
        ),
        mismatches,
        "reported / in the orders table".into(),
    ));

    // Nothing left behind: the outbox published, the dead-letter queues empty or explained.
    let unpublished = local_stack::unpublished(&db).await;
    rows.push(row(
        "outbox empty",
        unpublished.to_string(),
        unpublished as usize,
        String::new(),
    ));
    let (dead, unexplained) = dead_letters(&db).await;
    rows.push(row(
        "dead-letter queues empty or explained",
        format!("{dead} messages"),
        unexplained.len(),
        if unexplained.is_empty() {
            "each: its order ended by another path or is pending before its expiry, or its notifications are stored".into()
        } else {
            sample(&unexplained)
        },
    ));
    rows
}

/// Messages in the dead-letter queues, and those not explained: a message is explained when the order
/// it is about is terminal (it ended by another path: expiry, cancellation, a later delivery) or still
/// pending payment before its expiry, when it is a push whose notifications are all stored, or a stock
/// update nobody was left without (no follower of its products, or a later push of each).
async fn dead_letters(db: &tokio_postgres::Client) -> (i64, Vec<String>) {
    let sqs = local_stack::sqs_client().await;
    let mut total = 0;
    let mut unexplained = Vec::new();
    for url in local_stack::queues(&sqs, true).await {
        let url = url.as_str();
        let count = local_stack::messages(&sqs, url).await;
        total += count;
        if count == 0 {
            continue;
        }
        // Each message once: hidden for a minute after it is read, long after this run has looked.
        let mut messages = Vec::new();
        for _ in 0..count / 10 + 2 {
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .expect("a dead-letter queue");
            if received.messages().is_empty() {
                break;
            }
            messages.extend(received.messages().to_vec());
        }
        for message in &messages {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or("{}")).unwrap_or(Value::Null);
            // SNS wraps the event: {"Message": "<event JSON>"}.
            let event: Value = body["Message"]
                .as_str()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or(body);
            let order = event["data"]["order_id"]
                .as_str()
                .and_then(|o| o.parse::<Uuid>().ok());
            // A push that failed for good: the notifications it carried are stored, and a client gets
            // them on resume or from the history (ADR 0011).
            let notified: Vec<Uuid> = event["data"]["user_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str()?.parse().ok())
                .collect();
            let send = event["data"]["batch_id"]
                .as_str()
                .and_then(|b| b.parse::<Uuid>().ok());
            // A stock update carries no count (the push reads it): one that failed for good left
            // nobody behind when no connection follows its products, or when each was pushed again
            // after it.
            let stock_products: Vec<Uuid> = event["data"]["product_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str()?.parse().ok())
                .collect();
            let occurred = event["occurred_at"]
                .as_str()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
            let explained = match order {
                None if event["event_type"] == "inventory.changed" => db
                    .query_one(
                        "SELECT coalesce(bool_and(
                                    NOT EXISTS (SELECT 1 FROM ws_connections c
                                                 WHERE ('inventory:' || p::text) = ANY (c.topics))
                                    OR EXISTS (SELECT 1 FROM inventory_pushes ip
                                                WHERE ip.product_id = p AND ip.pushed_at > $2)), true)
                           FROM unnest($1::uuid[]) AS p",
                        &[&stock_products, &occurred],
                    )
                    .await
                    .map(|r| r.get::<_, bool>(0))
                    .unwrap_or(false),
                // A broadcast page names its bounds, not its members: it stored them with the event.
                None if event["data"]["page"].is_object() => db
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM notifications WHERE event_id = $1)",
                        &[&send],
                    )
                    .await
                    .map(|r| r.get::<_, bool>(0))
                    .unwrap_or(false),
                None if !notified.is_empty() => db
                    .query_one(
                        "SELECT count(*) = cardinality($1::uuid[]) FROM notifications
                          WHERE event_id = $2 AND user_id = ANY($1)",
                        &[&notified, &send],
                    )
                    .await
                    .map(|r| r.get::<_, bool>(0))
                    .unwrap_or(false),
                Some(order) => db
                    .query_one(
                        "SELECT status IN ('COMPLETED', 'PAYMENT_FAILED', 'CANCELLED', 'EXPIRED', 'REJECTED_OUT_OF_STOCK', 'REJECTED_BUYER_LIMIT')
                             OR (status = 'PENDING_PAYMENT' AND expires_at > now())
                           FROM orders WHERE id = $1",
                        &[&order],
                    )
                    .await
                    .map(|r| r.get::<_, bool>(0))
                    .unwrap_or(false),
                None => false,
            };
            if !explained {
                unexplained.push(format!(
                    "{}: {}",
                    url.rsplit('/').next().unwrap_or(url),
                    event["event_type"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    (total, unexplained)
}

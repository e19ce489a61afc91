//! Orders: placement with stock reserved in the same transaction, the status machine (customer cancel,
//! admin changes, expiry), and reads. Every change writes its event to the outbox.

use chrono::{DateTime, Duration, Utc};
use orderly_domain::events::{Event, OrderChanged, OrderPlaced, PlacedItem};
use orderly_domain::orders::{OrderStatus, PlaceOrderInput, basket};
use orderly_domain::pagination::next_cursor;
use orderly_domain::users::Role;
use orderly_domain::validation::FieldError;
use orderly_http::{ApiError, HttpRequest};
use orderly_store::idempotency::{self, Claim};
use orderly_store::orders::{
    self, Order, OrderFilter, OrderLine, OutboxEvent, Placement, StatusChange, Transition,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Paged, db, outbox, tokens};
use crate::State;

/// How long an order waits for payment before the expiry run releases its stock.
pub const PAYMENT_WINDOW: Duration = Duration::minutes(15);
const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: Order,
    pub items: Vec<OrderLine>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderStatusView {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChangeInput {
    pub status: OrderStatus,
    pub reason: Option<String>,
}

/// Places an order. Returns the status and body, which a retry with the same `Idempotency-Key` gets again.
pub async fn place(
    state: &State,
    request: &HttpRequest,
    input: PlaceOrderInput,
) -> Result<(u16, Value), ApiError> {
    let (user_id, _) = request.user()?;
    let lines = basket(&input).map_err(ApiError::Validation)?;
    let key = request
        .header("idempotency-key")
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if key.is_some_and(|k| k.len() > 255) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "Idempotency-Key",
            "must have at most 255 characters",
        )]));
    }
    let scope = format!("user:{user_id}:POST /api/v1/orders");
    let request_hash = tokens::sha256(&serde_json::to_string(&lines).expect("lines serialise"));

    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    if let Some(key) = key {
        match idempotency::claim(&tx, &scope, key, &request_hash, IDEMPOTENCY_TTL)
            .await
            .map_err(db)?
        {
            Claim::New => {}
            Claim::Replay { status, body } => return Ok((status as u16, body)),
            Claim::Mismatch => {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "Idempotency-Key",
                    "was already used for a different order; use a new key for a new order",
                )]));
            }
        }
    }

    let product_ids: Vec<Uuid> = lines.iter().map(|(p, _)| *p).collect();
    let stock = orders::lock_stock(&tx, &product_ids).await.map_err(db)?;
    let unknown: Vec<FieldError> = product_ids
        .iter()
        .filter(|p| !stock.iter().any(|s| s.product_id == **p))
        .map(|p| FieldError::new("items", format!("product {p} does not exist")))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    let currency = stock[0].currency.clone();
    if stock.iter().any(|s| s.currency != currency) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "items",
            "all products of an order must share one currency",
        )]));
    }
    let short: Vec<Value> = lines
        .iter()
        .zip(&stock)
        .filter(|((_, quantity), s)| s.available < *quantity)
        .map(|((product, quantity), s)| json!({"product_id": product, "requested": quantity, "available": s.available}))
        .collect();
    if !short.is_empty() {
        return Err(ApiError::conflict_with(
            "OUT_OF_STOCK",
            "not enough stock for some lines",
            json!(short),
        ));
    }

    let priced: Vec<(Uuid, i32, i64)> = lines
        .iter()
        .zip(&stock)
        .map(|((p, q), s)| (*p, *q, s.price_cents))
        .collect();
    let total_cents: i64 = priced
        .iter()
        .map(|(_, q, price)| i64::from(*q) * price)
        .sum();
    let order_id = orderly_domain::new_id();
    let placed = OrderPlaced {
        order_id,
        user_id,
        total_cents,
        currency: currency.clone(),
        items: lines
            .iter()
            .map(|(product_id, quantity)| PlacedItem {
                product_id: *product_id,
                quantity: *quantity,
            })
            .collect(),
    };
    let event = outbox::event(Event::OrderPlaced(placed), Some(request.request_id.clone()));
    let placement = Placement {
        id: order_id,
        user_id,
        lines: &priced,
        total_cents,
        currency: &currency,
        expires_at: Utc::now() + PAYMENT_WINDOW,
        payment_id: orderly_domain::new_id(),
        event: &event,
    };
    let Some(order) = orders::place(&tx, &placement).await.map_err(db)? else {
        return Err(ApiError::conflict(
            "OUT_OF_STOCK",
            "not enough stock for some lines",
        ));
    };
    let items = orders::lines(&tx, order.id).await.map_err(db)?;
    let body = serde_json::to_value(OrderView { order, items }).expect("a view serialises");
    if let Some(key) = key {
        idempotency::complete(&tx, &scope, key, 201, &body)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    // Publishing needs a connection of its own; holding this one meanwhile could starve the pool.
    drop(client);
    outbox::publish_committed(state, &[event]).await;
    Ok((201, body))
}

/// Another user's order is "not found" to a customer.
fn visible(order: &Order, caller: (Uuid, Role)) -> Result<(), ApiError> {
    if order.user_id == caller.0 || caller.1 == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Moves a locked order to `to` if the status machine allows it: the stock effect happens here, once,
/// and the event is written to the outbox. Every status change goes through this.
pub async fn apply_transition(
    tx: &impl orderly_store::GenericClient,
    current: &Order,
    to: OrderStatus,
    reason: &str,
    actor_user_id: Option<Uuid>,
    correlation_id: Option<String>,
) -> Result<(Order, OutboxEvent), ApiError> {
    if !current.status.can_become(to) {
        return Err(ApiError::conflict_with(
            "ILLEGAL_TRANSITION",
            format!(
                "an order in {} cannot become {}",
                current.status.as_str(),
                to.as_str()
            ),
            json!([{"from": current.status, "to": to}]),
        ));
    }
    let change = OrderChanged {
        order_id: current.id,
        user_id: current.user_id,
        status: to,
        previous_status: current.status,
        total_cents: current.total_cents,
        currency: current.currency.clone(),
    };
    let event = outbox::event(Event::order_changed(change), correlation_id);
    let transition = Transition {
        order_id: current.id,
        from: current.status,
        to,
        reason,
        actor_user_id,
        event: &event,
    };
    let order = orders::transition(tx, &transition).await.map_err(db)?;
    Ok((order, event))
}

/// Publishes events whose transaction has committed (and whose connection is back in the pool).
pub async fn publish(state: &State, events: Vec<OutboxEvent>) {
    outbox::publish_committed(state, &events).await;
}

/// Moves an order to `to` if the status machine allows it, applying its stock effect exactly once.
async fn change_status(
    state: &State,
    order_id: Uuid,
    to: OrderStatus,
    reason: &str,
    actor: Option<(Uuid, Role)>,
    correlation_id: Option<String>,
) -> Result<Order, ApiError> {
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let current = orders::lock(&tx, order_id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    if let Some(caller) = actor {
        visible(&current, caller)?;
    }
    let (order, event) = apply_transition(
        &tx,
        &current,
        to,
        reason,
        actor.map(|a| a.0),
        correlation_id,
    )
    .await?;
    tx.commit().await.map_err(db)?;
    // Publishing needs a connection of its own; holding this one meanwhile could starve the pool.
    drop(client);
    publish(state, vec![event]).await;
    Ok(order)
}

pub async fn cancel(state: &State, request: &HttpRequest, id: Uuid) -> Result<Order, ApiError> {
    let caller = request.user()?;
    change_status(
        state,
        id,
        OrderStatus::Cancelled,
        "cancelled by the customer",
        Some(caller),
        Some(request.request_id.clone()),
    )
    .await
}

pub async fn set_status(
    state: &State,
    request: &HttpRequest,
    id: Uuid,
    input: StatusChangeInput,
) -> Result<Order, ApiError> {
    let admin = request.admin()?;
    if !input.status.admin_may_set() {
        let by_hand: Vec<&str> = OrderStatus::ALL
            .iter()
            .filter(|s| s.admin_may_set())
            .map(|s| s.as_str())
            .collect();
        return Err(ApiError::Validation(vec![FieldError::new(
            "status",
            format!(
                "{} is set only by the system (payment, expiry, placement); admins may set {}",
                input.status.as_str(),
                by_hand.join(", ")
            ),
        )]));
    }
    let reason = input.reason.as_deref().unwrap_or("changed by an admin");
    change_status(
        state,
        id,
        input.status,
        reason,
        Some((admin, Role::Admin)),
        Some(request.request_id.clone()),
    )
    .await
}

/// Expires orders left unpaid past their window, releasing their stock; returns how many.
pub async fn expire(state: &State) -> Result<usize, ApiError> {
    let mut client = state.db.get().await.map_err(db)?;
    let tx = client.transaction().await.map_err(db)?;
    let due = orders::lock_expired(&tx, 100).await.map_err(db)?;
    let mut events: Vec<OutboxEvent> = Vec::with_capacity(due.len());
    for order in &due {
        let (_, event) = apply_transition(
            &tx,
            order,
            OrderStatus::Expired,
            "not paid in time",
            None,
            None,
        )
        .await?;
        events.push(event);
    }
    tx.commit().await.map_err(db)?;
    // Publishing needs a connection of its own; holding this one meanwhile could starve the pool.
    drop(client);
    let expired = events.len();
    publish(state, events).await;
    Ok(expired)
}

pub async fn get(state: &State, request: &HttpRequest, id: Uuid) -> Result<OrderView, ApiError> {
    let client = state.db.get().await.map_err(db)?;
    let order = orders::find(&client, id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    visible(&order, request.user()?)?;
    let items = orders::lines(&client, id).await.map_err(db)?;
    Ok(OrderView { order, items })
}

pub async fn status(
    state: &State,
    request: &HttpRequest,
    id: Uuid,
) -> Result<OrderStatusView, ApiError> {
    let client = state.db.get().await.map_err(db)?;
    let order = orders::find(&client, id)
        .await
        .map_err(db)?
        .ok_or(ApiError::NotFound)?;
    visible(&order, request.user()?)?;
    let history = orders::history(&client, id).await.map_err(db)?;
    Ok(OrderStatusView {
        order_id: id,
        status: order.status,
        history,
    })
}

/// `?status=` in any letter case (`completed`, `Completed`, `COMPLETED`).
fn status_filter(request: &HttpRequest) -> Result<Option<OrderStatus>, ApiError> {
    request
        .query("status")
        .map(|s| {
            OrderStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
                let known: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::Validation(vec![FieldError::new(
                    "status",
                    format!("is not an order status ({})", known.join(", ")),
                )])
            })
        })
        .transpose()
}

fn time_filter(request: &HttpRequest, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    request
        .query(name)
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::Validation(vec![FieldError::new(name, "must be an RFC 3339 time")])
                })
        })
        .transpose()
}

async fn page_of(state: &State, filter: &OrderFilter) -> Result<Paged<Order>, ApiError> {
    let items = orders::list(&state.db.get().await.map_err(db)?, filter)
        .await
        .map_err(db)?;
    let page = orderly_domain::pagination::Page {
        limit: filter.limit,
        after: filter.before,
    };
    let next_cursor = next_cursor(&items, page, |o| o.id);
    Ok(Paged { items, next_cursor })
}

/// The caller's own orders, newest first.
pub async fn list_own(state: &State, request: &HttpRequest) -> Result<Paged<Order>, ApiError> {
    let (user_id, _) = request.user()?;
    let page = request.page()?;
    let filter = OrderFilter {
        user_id: Some(user_id),
        status: status_filter(request)?,
        from: None,
        to: None,
        before: page.after,
        limit: page.limit,
    };
    page_of(state, &filter).await
}

/// Every order, filtered by status, user and creation time.
pub async fn list_all(state: &State, request: &HttpRequest) -> Result<Paged<Order>, ApiError> {
    request.admin()?;
    let page = request.page()?;
    let filter = OrderFilter {
        user_id: request.query_id("user_id")?,
        status: status_filter(request)?,
        from: time_filter(request, "from")?,
        to: time_filter(request, "to")?,
        before: page.after,
        limit: page.limit,
    };
    page_of(state, &filter).await
}

//! Orders: placement with stock reserved in the same transaction, the status machine (customer cancel,
//! admin changes, expiry), and reads. Every change writes its event to the outbox.

use chrono::{DateTime, Duration, Utc};
use orderly_domain::events::{Event, OrderChanged, OrderPlaced, PlacedItem};
use orderly_domain::orders::{
    Order, OrderLine, OrderStatus, PlaceOrderInput, StatusChange, basket,
};
use orderly_domain::pagination::Page;
use orderly_domain::users::Role;
use orderly_domain::validation::FieldError;
use orderly_store::flash_sales::{self, Queueing};
use orderly_store::orders::{self, OrderFilter, Placed, Placement, Transition};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::idempotency::Idempotent;
use super::{Caller, Paged, ServiceError, outbox};
use crate::State;

/// How long an order waits for payment before the expiry run releases its stock.
pub const PAYMENT_WINDOW: Duration = Duration::minutes(15);

/// An order with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDetail {
    pub order: Order,
    pub items: Vec<OrderLine>,
}

/// An order's status and every change that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderHistory {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub history: Vec<StatusChange>,
}

/// Which orders an admin lists.
#[derive(Debug, Default)]
pub struct OrderQuery {
    pub user_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChangeInput {
    pub status: OrderStatus,
    pub reason: Option<String>,
}

/// Places an order. Returns the status and the body `render` made of it, which a retry with the same
/// `Idempotency-Key` gets again (stored in the same transaction as the order).
pub async fn place(
    state: &State,
    caller: &Caller,
    input: PlaceOrderInput,
    idempotency_key: Option<&str>,
    render: fn(&OrderDetail) -> Value,
) -> Result<(u16, Value), ServiceError> {
    let (user_id, _) = caller.user()?;
    let lines = basket(&input).map_err(ServiceError::Invalid)?;
    let idempotent = Idempotent::new(
        idempotency_key,
        format!("user:{user_id}:POST /api/v1/orders"),
        &lines,
    )?;
    // A product deleted or put on a flash sale between the read and the lock refuses the first try;
    // the second reads that and answers for it (unknown product, or a queued order).
    for _ in 0..2 {
        if let Some(answer) = try_place(state, caller, user_id, &lines, &idempotent, render).await?
        {
            return Ok(answer);
        }
    }
    Err(ServiceError::conflict(
        "OUT_OF_STOCK",
        "the products changed while the order was placed; try again",
    ))
}

/// One attempt at a placement: `None` when a product changed between the read and the lock.
async fn try_place(
    state: &State,
    caller: &Caller,
    user_id: Uuid,
    lines: &[(Uuid, i32)],
    idempotent: &Idempotent<'_>,
    render: fn(&OrderDetail) -> Value,
) -> Result<Option<(u16, Value)>, ServiceError> {
    let tx = orders::placement_not_begun(state.db.get().await?);
    let product_ids: Vec<Uuid> = lines.iter().map(|(p, _)| *p).collect();
    // The key's claim, or without one the read, travels with the `BEGIN`. The stock is read without a
    // lock: the rows are locked in the flight that places and commits (ADR 0024).
    let first = async {
        if let Some(replay) = idempotent.claim(tx.client(), "order").await? {
            return Ok::<_, ServiceError>(Err(replay));
        }
        Ok(Ok(orders::read_stock(tx.client(), &product_ids).await?))
    };
    let stock = match tx.begin_along(first).await? {
        Ok(stock) => stock,
        Err(replay) => return Ok(Some(replay)),
    };
    if stock.len() < product_ids.len() {
        let on_sale = flash_sales::products_on_sale(tx.client(), &product_ids).await?;
        if let Some(sale) = on_sale.first() {
            if lines.len() > 1 {
                return Err(ServiceError::Invalid(vec![FieldError::new(
                    "items",
                    format!(
                        "product {} is in a flash sale and must be ordered on its own",
                        sale.stock.product_id
                    ),
                )]));
            }
            let (status, body) =
                queue(caller, user_id, lines[0].1, sale, tx.client(), render).await?;
            idempotent.complete(tx.client(), status, &body).await?;
            tx.commit().await?;
            return Ok(Some((status, body)));
        }
    }
    let unknown: Vec<FieldError> = product_ids
        .iter()
        .filter(|p| !stock.iter().any(|s| s.product_id == **p))
        .map(|p| FieldError::new("items", format!("product {p} does not exist")))
        .collect();
    if !unknown.is_empty() {
        return Err(ServiceError::Invalid(unknown));
    }
    let currency = stock[0].currency.clone();
    if stock.iter().any(|s| s.currency != currency) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "items",
            "all products of an order must share one currency",
        )]));
    }
    let available: Vec<(Uuid, i32)> = stock.iter().map(|s| (s.product_id, s.available)).collect();
    check_stock(lines, &available)?;

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
    let event = outbox::event(Event::OrderPlaced(placed), Some(caller.request_id.clone()));
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
    // The answer is known before `PLACE` runs, so it travels with it and the `COMMIT`: no round trip
    // between them while every other order for these products waits on their rows.
    let items = lines
        .iter()
        .zip(&stock)
        .map(|((product_id, quantity), s)| OrderLine {
            product_id: *product_id,
            name: s.name.clone(),
            sku: s.sku.clone(),
            quantity: *quantity,
            unit_price_cents: s.price_cents,
            line_total_cents: s.price_cents * i64::from(*quantity),
        })
        .collect();
    let order = placement.order(stock[0].read_at);
    let body = render(&OrderDetail { order, items });
    match orders::place_and_commit(&tx, &placement, idempotent.completion(201, &body)).await? {
        Placed::Committed => Ok(Some((201, body))),
        Placed::Refused(locked) if locked.len() < lines.len() => Ok(None),
        Placed::Refused(locked) => {
            check_stock(lines, &locked)?;
            // Unreachable while the lock and `PLACE` apply the same conditions to the same rows.
            Err(ServiceError::conflict(
                "OUT_OF_STOCK",
                "not enough stock for some lines",
            ))
        }
    }
}

/// 409 `OUT_OF_STOCK`, naming each line that asks for more than `available` (product, units; in
/// product-id order, as the lines are) has.
fn check_stock(lines: &[(Uuid, i32)], available: &[(Uuid, i32)]) -> Result<(), ServiceError> {
    let short: Vec<Value> = lines
        .iter()
        .zip(available)
        .filter(|((_, quantity), (_, units))| units < quantity)
        .map(|((product, quantity), (_, units))| json!({"product_id": product, "requested": quantity, "available": units}))
        .collect();
    if short.is_empty() {
        return Ok(());
    }
    Err(ServiceError::conflict_with(
        "OUT_OF_STOCK",
        "not enough stock for some lines",
        json!(short),
    ))
}

/// Queues a flash-sale order (docs/adr/0018-flash-sales.md): written `QUEUED` without touching the
/// product's stock row, for the reservation function to decide. A sale that has already sold out answers
/// at once, as placement would; what is left is only a hint here (read without a lock), and the decision
/// is the reservation function's. So is the buyer's limit, but one order for more than the limit
/// can never be accepted, so it is refused here.
async fn queue(
    caller: &Caller,
    user_id: Uuid,
    quantity: i32,
    on_sale: &flash_sales::OnSale,
    tx: &impl orderly_store::GenericClient,
    render: fn(&OrderDetail) -> Value,
) -> Result<(u16, Value), ServiceError> {
    let sale = &on_sale.stock;
    if let Some(limit) = on_sale.buyer_limit.filter(|limit| quantity > *limit) {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "items[0].quantity",
            format!("this flash sale allows at most {limit} units per buyer"),
        )]));
    }
    if sale.available < quantity {
        return Err(ServiceError::conflict_with(
            "OUT_OF_STOCK",
            "not enough stock for some lines",
            json!([{"product_id": sale.product_id, "requested": quantity, "available": sale.available}]),
        ));
    }
    let order_id = orderly_domain::new_id();
    let queued = OrderPlaced {
        order_id,
        user_id,
        total_cents: i64::from(quantity) * sale.price_cents,
        currency: sale.currency.clone(),
        items: vec![PlacedItem {
            product_id: sale.product_id,
            quantity,
        }],
    };
    let event = outbox::event(Event::OrderQueued(queued), Some(caller.request_id.clone()));
    let order = flash_sales::queue(
        tx,
        &Queueing {
            id: order_id,
            user_id,
            product_id: sale.product_id,
            quantity,
            unit_price_cents: sale.price_cents,
            currency: &sale.currency,
            expires_at: Utc::now() + PAYMENT_WINDOW,
            event: &event,
        },
    )
    .await?;
    let items = orders::lines(tx, order.id).await?;
    Ok((202, render(&OrderDetail { order, items })))
}

/// Another user's order is "not found" to a customer.
fn visible(order: &Order, caller: (Uuid, Role)) -> Result<(), ServiceError> {
    if order.user_id == caller.0 || caller.1 == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
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
) -> Result<Order, ServiceError> {
    if !current.status.can_become(to) {
        return Err(ServiceError::conflict_with(
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
    Ok(orders::transition(tx, &transition).await?)
}

/// Moves an order to `to` if the status machine allows it, applying its stock effect exactly once.
async fn change_status(
    state: &State,
    order_id: Uuid,
    to: OrderStatus,
    reason: &str,
    actor: Option<(Uuid, Role)>,
    correlation_id: Option<String>,
) -> Result<Order, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let current = orders::lock(&tx, order_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if let Some(caller) = actor {
        visible(&current, caller)?;
    }
    let order = apply_transition(
        &tx,
        &current,
        to,
        reason,
        actor.map(|a| a.0),
        correlation_id,
    )
    .await?;
    tx.commit().await?;
    Ok(order)
}

pub async fn cancel(state: &State, caller: &Caller, id: Uuid) -> Result<Order, ServiceError> {
    let user = caller.user()?;
    change_status(
        state,
        id,
        OrderStatus::Cancelled,
        "cancelled by the customer",
        Some(user),
        Some(caller.request_id.clone()),
    )
    .await
}

pub async fn set_status(
    state: &State,
    caller: &Caller,
    id: Uuid,
    input: StatusChangeInput,
) -> Result<Order, ServiceError> {
    let admin = caller.admin()?;
    if !input.status.admin_may_set() {
        let by_hand: Vec<&str> = OrderStatus::ALL
            .iter()
            .filter(|s| s.admin_may_set())
            .map(|s| s.as_str())
            .collect();
        return Err(ServiceError::invalid(
            "status",
            format!(
                "{} is set only by the system (payment, expiry, placement); admins may set {}",
                input.status.as_str(),
                by_hand.join(", ")
            ),
        ));
    }
    let reason = input.reason.as_deref().unwrap_or("changed by an admin");
    change_status(
        state,
        id,
        input.status,
        reason,
        Some((admin, Role::Admin)),
        Some(caller.request_id.clone()),
    )
    .await
}

/// Expires orders left unpaid past their window, releasing their stock; returns how many.
pub async fn expire(state: &State) -> Result<usize, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let due = orders::lock_expired(&tx, 100).await?;
    for order in &due {
        apply_transition(
            &tx,
            order,
            OrderStatus::Expired,
            "not paid in time",
            None,
            None,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(due.len())
}

pub async fn get(state: &State, caller: &Caller, id: Uuid) -> Result<OrderDetail, ServiceError> {
    let client = state.db.get().await?;
    let order = orders::find(&client, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    visible(&order, caller.user()?)?;
    let items = orders::lines(&client, id).await?;
    Ok(OrderDetail { order, items })
}

pub async fn status(
    state: &State,
    caller: &Caller,
    id: Uuid,
) -> Result<OrderHistory, ServiceError> {
    let client = state.db.get().await?;
    let order = orders::find(&client, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    visible(&order, caller.user()?)?;
    let history = orders::history(&client, id).await?;
    Ok(OrderHistory {
        order_id: id,
        status: order.status,
        history,
    })
}

async fn page_of(
    state: &State,
    filter: &OrderFilter,
    page: Page,
) -> Result<Paged<Order>, ServiceError> {
    let items = orders::list(&state.db.get().await?, filter).await?;
    Ok(Paged::of(items, page, |o| o.id))
}

/// The caller's own orders, newest first, in one status when asked.
pub async fn list_own(
    state: &State,
    caller: &Caller,
    status: Option<OrderStatus>,
    page: Page,
) -> Result<Paged<Order>, ServiceError> {
    let (user_id, _) = caller.user()?;
    let filter = OrderFilter {
        user_id: Some(user_id),
        status,
        from: None,
        to: None,
        before: page.after,
        limit: page.limit,
    };
    page_of(state, &filter, page).await
}

/// Every order, filtered by status, user and creation time.
pub async fn list_all(
    state: &State,
    caller: &Caller,
    query: &OrderQuery,
    page: Page,
) -> Result<Paged<Order>, ServiceError> {
    caller.admin()?;
    let filter = OrderFilter {
        user_id: query.user_id,
        status: query.status,
        from: query.from,
        to: query.to,
        before: page.after,
        limit: page.limit,
    };
    page_of(state, &filter, page).await
}

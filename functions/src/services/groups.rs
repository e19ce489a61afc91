//! Groups of users and broadcasts to them (BroadcastToGroup). The request only records the broadcast
//! and announces it; the notification worker fans it out a page of members at a time, each page in one
//! transaction that stores their notifications, announces their push and moves the broadcast's cursor.

use orderly_domain::events::{Event, GroupBroadcast, NotificationSent, Recipient};
use orderly_domain::groups::{BROADCAST_PAGE, Group, Member, group_name};
use orderly_domain::notifications::Notice;
use orderly_domain::pagination::Page;
use orderly_store::outbox as outbox_store;
use orderly_store::{groups, notifications};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Caller, Paged, ServiceError, outbox};
use crate::State;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1–100 characters, unique.
    pub name: String,
}

pub async fn create(
    state: &State,
    caller: &Caller,
    input: NewGroup,
) -> Result<Group, ServiceError> {
    let admin = caller.admin()?;
    let name = group_name(&input.name).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let group = groups::insert(&tx, orderly_domain::new_id(), &name, admin)
        .await?
        .ok_or_else(|| ServiceError::conflict("GROUP_EXISTS", "a group with this name exists"))?;
    let change = Change {
        action: "group.created",
        target_type: "group",
        target_id: Some(group.id.to_string()),
        before: None,
        after: Some(json!({"name": group.name})),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(group)
}

pub async fn list(
    state: &State,
    caller: &Caller,
    page: Page,
) -> Result<Paged<Group>, ServiceError> {
    caller.admin()?;
    let items = groups::list(&state.db.get().await?, page.after, page.limit).await?;
    Ok(Paged::of(items, page, |g| g.id))
}

async fn membership_change(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    user_id: Uuid,
    added: bool,
) -> Result<Option<Member>, ServiceError> {
    caller.admin()?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let member = if added {
        let added_at = groups::add_member(&tx, group_id, user_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Some(Member { user_id, added_at })
    } else {
        groups::find(&tx, group_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        groups::remove_member(&tx, group_id, user_id).await?;
        None
    };
    let change = Change {
        action: if added {
            "group.member_added"
        } else {
            "group.member_removed"
        },
        target_type: "group",
        target_id: Some(group_id.to_string()),
        before: None,
        after: Some(json!({"user_id": user_id})),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    Ok(member)
}

/// Puts the user in the group (again is fine); an unknown group or user is not found.
pub async fn add_member(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<Member, ServiceError> {
    let member = membership_change(state, caller, group_id, user_id, true).await?;
    Ok(member.expect("an added member"))
}

/// Takes the user out of the group (absent already is fine); later broadcast pages skip them.
pub async fn remove_member(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<(), ServiceError> {
    membership_change(state, caller, group_id, user_id, false)
        .await
        .map(drop)
}

pub async fn members(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    page: Page,
) -> Result<Paged<Member>, ServiceError> {
    caller.admin()?;
    let db = state.db.get().await?;
    groups::find(&db, group_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let items = groups::members(&db, group_id, page.after, page.limit).await?;
    Ok(Paged::of(items, page, |m| m.user_id))
}

/// What an admin broadcasts to a group.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastInput {
    /// As for a send to users: 1–64 of `a-z 0-9 . _ -`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    #[serde(default = "empty_object")]
    pub data: Value,
}

fn empty_object() -> Value {
    json!({})
}

/// Records the broadcast and announces it; the members are reached by the fan-out. Answers
/// `{broadcast_id, group_id, members}` (the members at the time of asking).
pub async fn broadcast(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    input: BroadcastInput,
) -> Result<Value, ServiceError> {
    let admin = caller.admin()?;
    let notice = Notice::new(&input.kind, &input.title, &input.message, input.data)
        .map_err(ServiceError::Invalid)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let group = groups::find(&tx, group_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let broadcast_id = orderly_domain::new_id();
    groups::insert_broadcast(&tx, broadcast_id, group_id, admin, &notice).await?;
    let event = outbox::event(
        Event::GroupBroadcast(GroupBroadcast {
            broadcast_id,
            group_id,
            sent_by: admin,
        }),
        Some(caller.request_id.clone()),
    );
    outbox_store::insert(&tx, &event).await?;
    let change = Change {
        action: "group.broadcast",
        target_type: "group",
        target_id: Some(group_id.to_string()),
        before: None,
        after: Some(
            json!({"broadcast_id": broadcast_id, "type": notice.kind, "title": notice.title}),
        ),
    };
    audit::record(&tx, &Actor::of(caller), change).await?;
    tx.commit().await?;
    drop(client);
    outbox::publish_committed(state, &[event]).await;
    Ok(json!({"broadcast_id": broadcast_id, "group_id": group_id, "members": group.members}))
}

/// Reaches the next page of a broadcast's members: stores their notifications, announces their push,
/// moves the cursor and announces the next page (or finishes), all in one transaction. The broadcast
/// row is locked meanwhile, so a page delivered twice reaches the following members instead of the
/// same ones again; a finished broadcast is left alone.
pub async fn fan_out(state: &State, page: &GroupBroadcast) -> Result<usize, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let Some(broadcast) = groups::lock_broadcast(&tx, page.broadcast_id).await? else {
        return Ok(0);
    };
    let members = groups::members(
        &tx,
        broadcast.group_id,
        broadcast.after_user,
        BROADCAST_PAGE,
    )
    .await?;
    let users: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
    let (stored, at) =
        notifications::insert_for_users(&tx, page.broadcast_id, &users, &broadcast.notice).await?;
    let mut events = Vec::new();
    if !stored.is_empty() {
        let recipients = stored
            .iter()
            .map(|&(user_id, notification_id)| Recipient {
                user_id,
                notification_id,
            })
            .collect();
        events.push(outbox::event(
            Event::NotificationSent(NotificationSent {
                batch_id: page.broadcast_id,
                sent_by: page.sent_by,
                recipients,
                kind: broadcast.notice.kind.clone(),
                title: broadcast.notice.title.clone(),
                message: broadcast.notice.message.clone(),
                data: broadcast.notice.data.clone(),
                timestamp: at.unwrap_or_else(chrono::Utc::now),
            }),
            None,
        ));
    }
    let last_page = (members.len() as i64) < BROADCAST_PAGE;
    if !last_page {
        events.push(outbox::event(Event::GroupBroadcast(page.clone()), None));
    }
    for event in &events {
        outbox_store::insert(&tx, event).await?;
    }
    let last_user = users.last().copied();
    groups::advance_broadcast(
        &tx,
        page.broadcast_id,
        last_user,
        stored.len() as i64,
        last_page,
    )
    .await?;
    tx.commit().await?;
    drop(client);
    outbox::publish_committed(state, &events).await;
    Ok(stored.len())
}

#[cfg(test)]
mod tests {
    use orderly_store::testing::{fresh_database, user};

    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn a_broadcast_reaches_a_large_group_a_page_at_a_time_each_member_once() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let client = db.pool.get().await.unwrap();
        let group = groups::insert(&client, Uuid::now_v7(), "everyone", admin)
            .await
            .unwrap()
            .unwrap();
        let size = 2 * BROADCAST_PAGE + BROADCAST_PAGE / 2;
        client
            .execute(
                "WITH u AS (
                     INSERT INTO users (id, email, password_hash, name)
                     SELECT gen_random_uuid(), 'member-' || n || '@example.test', 'x', 'Member'
                       FROM generate_series(1, $2::bigint) AS n RETURNING id)
                 INSERT INTO group_members (group_id, user_id) SELECT $1, id FROM u",
                &[&group.id, &size],
            )
            .await
            .unwrap();
        let notice = Notice::new("announcement", "Hello", "Everyone", json!({})).unwrap();
        let broadcast_id = Uuid::now_v7();
        groups::insert_broadcast(&client, broadcast_id, group.id, admin, &notice)
            .await
            .unwrap();
        let page = GroupBroadcast {
            broadcast_id,
            group_id: group.id,
            sent_by: admin,
        };

        let mut reached = Vec::new();
        for _ in 0..5 {
            // Every delivery of the page event moves the broadcast on, whether or not it was a
            // duplicate: the pages are counted, not the messages.
            reached.push(fan_out(state, &page).await.unwrap());
        }
        let half = BROADCAST_PAGE as usize / 2;
        assert_eq!(
            reached,
            [BROADCAST_PAGE as usize, BROADCAST_PAGE as usize, half, 0, 0],
            "pages of members, then nothing once finished"
        );
        let counts = client
            .query_one(
                "SELECT count(*), count(DISTINCT user_id) FROM notifications WHERE event_id = $1",
                &[&broadcast_id],
            )
            .await
            .unwrap();
        assert_eq!(
            (counts.get::<_, i64>(0), counts.get::<_, i64>(1)),
            (size, size),
            "one notification per member"
        );
        let announced = client
            .query_one(
                "SELECT count(*) FILTER (WHERE event_type = 'notification.sent'),
                        count(*) FILTER (WHERE event_type = 'group.broadcast')
                   FROM outbox WHERE aggregate_id = $1",
                &[&broadcast_id],
            )
            .await
            .unwrap();
        assert_eq!(
            (announced.get::<_, i64>(0), announced.get::<_, i64>(1)),
            (3, 2),
            "a push per page, and a next page after each full one"
        );
    }
}

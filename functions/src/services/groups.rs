//! Groups of users and broadcasts to them (BroadcastToGroup). The request only records the broadcast
//! and announces it; the notification worker cuts the members into pages and reaches the pages in
//! parallel, each in one transaction that stores their notifications and announces their push.

use orderly_domain::events::{Event, GroupBroadcast, MemberPage, Recipients};
use orderly_domain::groups::{BROADCAST_PAGE, Group, Member, group_name};
use orderly_domain::notifications::Notice;
use orderly_domain::pagination::Page;
use orderly_store::outbox as outbox_store;
use orderly_store::{groups, notifications};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::idempotency::Idempotent;
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
    #[serde(default = "super::notifications::empty_object")]
    pub data: Value,
}

/// Records the broadcast and announces it; the members are reached by the fan-out. Answers 202
/// `{broadcast_id, group_id, members}` (the members at the time of asking); the same `Idempotency-Key`
/// and body answer the same broadcast again instead of reaching every member twice.
pub async fn broadcast(
    state: &State,
    caller: &Caller,
    group_id: Uuid,
    input: BroadcastInput,
    idempotency_key: Option<&str>,
) -> Result<(u16, Value), ServiceError> {
    let admin = caller.admin()?;
    let idempotent = Idempotent::new(
        idempotency_key,
        format!("user:{admin}:POST /api/v1/admin/groups/{{id}}/broadcast"),
        &(group_id, &input),
    )?;
    let notice = Notice::new(&input.kind, &input.title, &input.message, input.data)
        .map_err(ServiceError::Invalid)?;
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    if let Some(replay) = idempotent.claim(&tx, "broadcast").await? {
        return Ok(replay);
    }
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
            page: None,
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
    let body =
        json!({"broadcast_id": broadcast_id, "group_id": group_id, "members": group.members});
    idempotent.complete(&tx, 202, &body).await?;
    tx.commit().await?;
    Ok((202, body))
}

/// The fan-out of a broadcast. The first message (no page) cuts the group's members into pages of
/// `BROADCAST_PAGE` by user id and announces every page at once, so that the pages are reached in
/// parallel; each page message stores its members' notifications and announces their push in one
/// transaction. A page delivered twice stores nothing new (one notification per member and broadcast)
/// and so pushes nothing twice; a member removed before their page is reached is not on it.
pub async fn fan_out(state: &State, message: &GroupBroadcast) -> Result<usize, ServiceError> {
    let mut client = state.db.get().await?;
    let tx = client.transaction().await?;
    let mut events = Vec::new();
    let notified = match message.page {
        None => {
            let Some(group_id) = groups::lock_unsplit(&tx, message.broadcast_id).await? else {
                return Ok(0); // already cut into pages
            };
            let bounds = groups::page_bounds(&tx, group_id, BROADCAST_PAGE).await?;
            let mut after = None;
            for upto in bounds.iter().copied().map(Some).chain([None]) {
                let page = GroupBroadcast {
                    page: Some(MemberPage { after, upto }),
                    ..message.clone()
                };
                events.push(outbox::event(Event::GroupBroadcast(page), None));
                after = upto;
            }
            groups::mark_split(&tx, message.broadcast_id, events.len() as i32).await?;
            0
        }
        Some(page) => {
            let notice = groups::notice_of(&tx, message.broadcast_id).await?;
            let users =
                groups::members_between(&tx, message.group_id, page.after, page.upto).await?;
            let (stored, at) =
                notifications::insert_for_users(&tx, message.broadcast_id, &users, &notice).await?;
            if let Some(at) = at {
                let (id, by) = (message.broadcast_id, message.sent_by);
                // The page's bounds name its recipients: the notifications this send stored in
                // them are exactly the ones just stored (pages do not overlap).
                let recipients = Recipients::Page { page };
                events.push(super::notifications::sent_event(
                    id, by, recipients, &notice, at, None,
                ));
                groups::add_delivered(&tx, message.broadcast_id, stored.len() as i64).await?;
            }
            stored.len()
        }
    };
    for event in &events {
        outbox_store::insert(&tx, event).await?;
    }
    tx.commit().await?;
    Ok(notified)
}

#[cfg(test)]
mod tests {
    use orderly_store::testing::{fresh_database, user};

    use super::*;
    use crate::testing;

    /// A group of `size` new users, and the first message of a broadcast to it.
    async fn broadcast_to_new_group(
        client: &impl orderly_store::GenericClient,
        admin: Uuid,
        size: i64,
    ) -> GroupBroadcast {
        let group = groups::insert(client, Uuid::now_v7(), "everyone", admin)
            .await
            .unwrap()
            .unwrap();
        client
            .execute(
                "WITH u AS (
                     INSERT INTO users (id, email, password_hash, name)
                     SELECT gen_random_uuid(), 'member-' || gen_random_uuid() || '@example.test', 'x', 'Member'
                       FROM generate_series(1, $2::bigint) AS n RETURNING id)
                 INSERT INTO group_members (group_id, user_id) SELECT $1, id FROM u",
                &[&group.id, &size],
            )
            .await
            .unwrap();
        let notice = Notice::new("announcement", "Hello", "Everyone", json!({})).unwrap();
        let broadcast_id = Uuid::now_v7();
        groups::insert_broadcast(client, broadcast_id, group.id, admin, &notice)
            .await
            .unwrap();
        GroupBroadcast {
            broadcast_id,
            group_id: group.id,
            sent_by: admin,
            page: None,
        }
    }

    /// The page messages the first message announced.
    async fn pages_of(
        client: &impl orderly_store::GenericClient,
        broadcast_id: Uuid,
    ) -> Vec<GroupBroadcast> {
        client
            .query(
                "SELECT payload FROM outbox WHERE aggregate_id = $1 AND event_type = 'group.broadcast'
                  ORDER BY created_at, id",
                &[&broadcast_id],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let envelope: orderly_domain::EventEnvelope =
                    serde_json::from_value(r.get(0)).unwrap();
                match envelope.event {
                    Event::GroupBroadcast(page) => page,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    /// Cuts the broadcast into pages and reaches each once: the pages and the members each page reached.
    async fn reach_every_page(
        state: &'static State,
        client: &impl orderly_store::GenericClient,
        asked: &GroupBroadcast,
    ) -> (Vec<GroupBroadcast>, Vec<usize>) {
        fan_out(state, asked).await.unwrap();
        let pages = pages_of(client, asked.broadcast_id).await;
        let mut reached = Vec::new();
        for page in &pages {
            reached.push(fan_out(state, page).await.unwrap());
        }
        (pages, reached)
    }

    #[tokio::test]
    async fn a_group_of_whole_pages_gets_no_empty_page_after_them() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let client = db.pool.get().await.unwrap();
        let asked = broadcast_to_new_group(&client, admin, 2 * BROADCAST_PAGE).await;
        let (_, reached) = reach_every_page(state, &client, &asked).await;
        let page = BROADCAST_PAGE as usize;
        assert_eq!(reached, [page, page]);
    }

    #[tokio::test]
    async fn a_broadcast_is_cut_into_pages_that_each_reach_their_members_once() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let client = db.pool.get().await.unwrap();
        let size = 2 * BROADCAST_PAGE + BROADCAST_PAGE / 2;
        let asked = broadcast_to_new_group(&client, admin, size).await;
        let broadcast_id = asked.broadcast_id;
        assert_eq!(
            fan_out(state, &asked).await.unwrap(),
            0,
            "the first message only cuts"
        );
        assert_eq!(fan_out(state, &asked).await.unwrap(), 0, "and only once");
        let pages = pages_of(&client, broadcast_id).await;
        assert_eq!(pages.len(), 3, "two full pages and the rest");

        let mut reached = Vec::new();
        for page in &pages {
            reached.push(fan_out(state, page).await.unwrap());
        }
        let half = BROADCAST_PAGE as usize / 2;
        assert_eq!(
            reached,
            [BROADCAST_PAGE as usize, BROADCAST_PAGE as usize, half]
        );
        assert_eq!(
            fan_out(state, &pages[1]).await.unwrap(),
            0,
            "a page delivered twice notifies nobody twice"
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
            (3, 3),
            "a push per page, and the three pages"
        );
    }

    #[tokio::test]
    async fn a_group_of_100_000_is_100_pages_each_announcing_its_push_in_a_few_hundred_bytes() {
        let db = fresh_database().await;
        let state = testing::state(&db).await;
        let admin = user(&db.pool).await;
        let client = db.pool.get().await.unwrap();
        let size = 100 * BROADCAST_PAGE;
        let asked = broadcast_to_new_group(&client, admin, size).await;
        let (pages, reached) = reach_every_page(state, &client, &asked).await;
        assert_eq!(pages.len(), 100);
        assert_eq!(
            reached.iter().sum::<usize>() as i64,
            size,
            "every member once"
        );
        let pushes = client
            .query(
                "SELECT payload FROM outbox
                  WHERE aggregate_id = $1 AND event_type = 'notification.sent'",
                &[&asked.broadcast_id],
            )
            .await
            .unwrap();
        assert_eq!(pushes.len(), 100, "one push per page");
        for row in &pushes {
            let payload: Value = row.get(0);
            assert!(payload.to_string().len() < 1_000, "{payload}");
            let envelope: orderly_domain::EventEnvelope = serde_json::from_value(payload).unwrap();
            let Event::NotificationSent(sent) = envelope.event else {
                panic!("{envelope:?}");
            };
            let Recipients::Page { page } = sent.recipients else {
                panic!("a page names its bounds: {sent:?}");
            };
            let stored: i64 = client
                .query_one(
                    "SELECT count(*) FROM notifications WHERE event_id = $1
                        AND ($2::uuid IS NULL OR user_id > $2) AND ($3::uuid IS NULL OR user_id <= $3)",
                    &[&asked.broadcast_id, &page.after, &page.upto],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(stored, BROADCAST_PAGE, "its bounds hold its members");
        }
    }
}

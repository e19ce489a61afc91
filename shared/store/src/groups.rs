//! Groups, their members, and broadcasts fanned out to them page by page.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::groups::{Group, Member};
use orderly_domain::notifications::Notice;
use uuid::Uuid;

use crate::StoreError;

const GROUP: &str = "SELECT g.id, g.name, (SELECT count(*) FROM group_members m WHERE m.group_id = g.id), g.created_at
                       FROM groups g";

fn group(r: &tokio_postgres::Row) -> Group {
    Group {
        id: r.get(0),
        name: r.get(1),
        members: r.get(2),
        created_at: r.get(3),
    }
}

/// A new group, or `None` when the name is taken.
pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    name: &str,
    created_by: Uuid,
) -> Result<Option<Group>, StoreError> {
    let row = db
        .query_opt(
            "INSERT INTO groups (id, name, created_by) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING RETURNING id, name, 0::bigint, created_at",
            &[&id, &name, &created_by],
        )
        .await?;
    Ok(row.as_ref().map(group))
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<Group>, StoreError> {
    let row = db
        .query_opt(&format!("{GROUP} WHERE g.id = $1"), &[&id])
        .await?;
    Ok(row.as_ref().map(group))
}

/// Groups in creation order (ids are time-ordered), after `after`.
pub async fn list(
    db: &impl GenericClient,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Group>, StoreError> {
    let rows = db
        .query(
            &format!("{GROUP} WHERE ($1::uuid IS NULL OR g.id > $1) ORDER BY g.id LIMIT $2"),
            &[&after, &limit],
        )
        .await?;
    Ok(rows.iter().map(group).collect())
}

/// Adds the user to the group (adding again keeps the first time); `None` when either is unknown.
pub async fn add_member(
    db: &impl GenericClient,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row = db
        .query_opt(
            "INSERT INTO group_members AS m (group_id, user_id)
             SELECT g.id, u.id FROM groups g, users u WHERE g.id = $1 AND u.id = $2
             ON CONFLICT (group_id, user_id) DO UPDATE SET added_at = m.added_at
             RETURNING added_at",
            &[&group_id, &user_id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Takes the user out of the group; whether they were in it.
pub async fn remove_member(
    db: &impl GenericClient,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group_id, &user_id],
        )
        .await?
        == 1)
}

pub async fn is_member(
    db: &impl GenericClient,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<bool, StoreError> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&group_id, &user_id],
        )
        .await?
        .is_some())
}

/// Members in user-id order after `after`.
pub async fn members(
    db: &impl GenericClient,
    group_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Member>, StoreError> {
    let rows = db
        .query(
            "SELECT user_id, added_at FROM group_members
              WHERE group_id = $1 AND ($2::uuid IS NULL OR user_id > $2)
              ORDER BY user_id LIMIT $3",
            &[&group_id, &after, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Member {
            user_id: r.get(0),
            added_at: r.get(1),
        })
        .collect())
}

/// Records a broadcast of `notice` to the group, before any member is reached.
pub async fn insert_broadcast(
    db: &impl GenericClient,
    id: Uuid,
    group_id: Uuid,
    sent_by: Uuid,
    notice: &Notice,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO broadcasts (id, group_id, sent_by, type, title, message, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            &group_id,
            &sent_by,
            &notice.kind,
            &notice.title,
            &notice.message,
            &notice.data,
        ],
    )
    .await?;
    Ok(())
}

/// Locks the broadcast to cut it into pages: its group, or `None` when that was done (or it is
/// unknown).
pub async fn lock_unsplit(db: &impl GenericClient, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    let row = db
        .query_opt(
            "SELECT group_id FROM broadcasts WHERE id = $1 AND pages IS NULL FOR UPDATE",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// What the broadcast says.
pub async fn notice_of(db: &impl GenericClient, id: Uuid) -> Result<Notice, StoreError> {
    let row = db
        .query_one(
            "SELECT type, title, message, data FROM broadcasts WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(Notice {
        kind: row.get(0),
        title: row.get(1),
        message: row.get(2),
        data: row.get(3),
    })
}

/// The user ids that end each full page of `page_size` members, in order: page k is the members after
/// bound k-1 up to bound k, and the last page everything after the last bound. The last member is never
/// a bound, so that the last page is never empty (a group of exactly two pages is two pages, not three).
pub async fn page_bounds(
    db: &impl GenericClient,
    group_id: Uuid,
    page_size: i64,
) -> Result<Vec<Uuid>, StoreError> {
    let rows = db
        .query(
            "SELECT user_id FROM (
                 SELECT user_id, row_number() OVER (ORDER BY user_id) AS n, count(*) OVER () AS members
                   FROM group_members WHERE group_id = $1) AS m
              WHERE n % $2 = 0 AND n < members ORDER BY user_id",
            &[&group_id, &page_size],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The members with user ids in `(after, upto]`.
pub async fn members_between(
    db: &impl GenericClient,
    group_id: Uuid,
    after: Option<Uuid>,
    upto: Option<Uuid>,
) -> Result<Vec<Uuid>, StoreError> {
    let rows = db
        .query(
            concat!(
                "SELECT user_id FROM group_members WHERE group_id = $1 AND ",
                on_member_page!("user_id"),
                " ORDER BY user_id"
            ),
            &[&group_id, &after, &upto],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Records how many pages the broadcast was cut into.
pub async fn mark_split(db: &impl GenericClient, id: Uuid, pages: i32) -> Result<(), StoreError> {
    db.execute(
        "UPDATE broadcasts SET pages = $2 WHERE id = $1",
        &[&id, &pages],
    )
    .await?;
    Ok(())
}

/// Counts members a page notified.
pub async fn add_delivered(
    db: &impl GenericClient,
    id: Uuid,
    notified: i64,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE broadcasts SET delivered = delivered + $2 WHERE id = $1",
        &[&id, &notified],
    )
    .await?;
    Ok(())
}

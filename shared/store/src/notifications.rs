//! Notifications sent to users, one per (event, user): a redelivered event finds its row.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use crate::prepared;
use orderly_domain::notifications::{Notice, Notification};

pub struct NewNotification<'a> {
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub kind: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub data: &'a Value,
}

/// Stores `notice` for each of `users` that exists (one send, `batch_id`; ids in the given order); the
/// (user, notification) pairs stored and when. Unknown users are left out, for the caller to report.
pub async fn insert_for_users(
    db: &impl GenericClient,
    batch_id: Uuid,
    users: &[Uuid],
    notice: &Notice,
) -> Result<(Vec<(Uuid, Uuid)>, Option<DateTime<Utc>>), StoreError> {
    let ids: Vec<Uuid> = users.iter().map(|_| orderly_domain::new_id()).collect();
    let rows = db
        .query(
            "INSERT INTO notifications (id, user_id, event_id, type, title, message, data, status, sent_at)
             SELECT n.id, u.id, $3, $4, $5, $6, $7, 'SENT', now()
               FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS n (user_id, id, position)
               JOIN users u ON u.id = n.user_id
              ORDER BY n.position
             ON CONFLICT (event_id, user_id) DO NOTHING
             RETURNING user_id, id, created_at",
            &[&users, &ids, &batch_id, &notice.kind, &notice.title, &notice.message, &notice.data],
        )
        .await?;
    let at = rows.first().map(|r| r.get(2));
    Ok((rows.iter().map(|r| (r.get(0), r.get(1))).collect(), at))
}

/// The notification's id and time, or `None` when this event already notified this user.
pub async fn insert(
    db: &impl GenericClient,
    n: &NewNotification<'_>,
) -> Result<Option<(Uuid, DateTime<Utc>)>, StoreError> {
    let id = orderly_domain::new_id();
    let row = prepared::query_opt(
        db,
            "INSERT INTO notifications (id, user_id, event_id, type, title, message, data) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (event_id, user_id) DO NOTHING RETURNING id, created_at",
            &[&id, &n.user_id, &n.event_id, &n.kind, &n.title, &n.message, n.data],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub async fn mark(db: &impl GenericClient, id: Uuid, sent: bool) -> Result<(), StoreError> {
    prepared::execute(
        db,
        "UPDATE notifications SET status = $2, sent_at = CASE WHEN $2 = 'SENT' THEN now() END WHERE id = $1",
        &[&id, &if sent { "SENT" } else { "FAILED" }],
    )
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, type, title, message, data, status, created_at, read_at";

fn notification(r: &tokio_postgres::Row) -> Notification {
    Notification {
        id: r.get(0),
        kind: r.get(1),
        title: r.get(2),
        message: r.get(3),
        data: r.get(4),
        status: r.get(5),
        created_at: r.get(6),
        read_at: r.get(7),
    }
}

/// A user's notifications, newest first; only the unread (or only the read) ones when `unread` says so.
pub async fn list(
    db: &impl GenericClient,
    user_id: Uuid,
    unread: Option<bool>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications
                  WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
                    AND ($3::boolean IS NULL OR (read_at IS NULL) = $3)
                  ORDER BY id DESC LIMIT $4"
            ),
            &[&user_id, &before, &unread, &limit],
        )
        .await?;
    Ok(rows.iter().map(notification).collect())
}

/// The user's notifications after `after` (all of them when `None`), oldest first, at most `limit`.
pub async fn since(
    db: &impl GenericClient,
    user_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications
                  WHERE user_id = $1 AND ($2::uuid IS NULL OR id > $2)
                  ORDER BY id LIMIT $3"
            ),
            &[&user_id, &after, &limit],
        )
        .await?;
    Ok(rows.iter().map(notification).collect())
}

/// Marks one of the user's notifications read (a second time keeps the first time); `None` when the
/// user has no such notification.
pub async fn mark_read(
    db: &impl GenericClient,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<Notification>, StoreError> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE notifications SET read_at = coalesce(read_at, now())
                  WHERE id = $1 AND user_id = $2
                 RETURNING {COLUMNS}"
            ),
            &[&id, &user_id],
        )
        .await?;
    Ok(row.as_ref().map(notification))
}

/// Marks every unread notification of the user read; how many there were.
pub async fn mark_all_read(db: &impl GenericClient, user_id: Uuid) -> Result<u64, StoreError> {
    Ok(db
        .execute(
            "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
            &[&user_id],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{fresh_database, user};

    async fn received(db: &impl GenericClient, user_id: Uuid, title: &str) -> Uuid {
        let new = NewNotification {
            user_id,
            event_id: Uuid::now_v7(),
            kind: "announcement",
            title,
            message: "…",
            data: &json!({}),
        };
        insert(db, &new).await.unwrap().unwrap().0
    }

    fn titles(list: &[Notification]) -> Vec<&str> {
        list.iter().map(|n| n.title.as_str()).collect()
    }

    #[tokio::test]
    async fn a_send_stores_one_notification_per_known_user_once() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let (a, b) = (user(&db.pool).await, user(&db.pool).await);
        let unknown = Uuid::now_v7();
        let notice = Notice {
            kind: "promotion".into(),
            title: "Sale".into(),
            message: "Half off".into(),
            data: json!({"code": "HALF"}),
        };
        let batch = Uuid::now_v7();
        let (stored, at) = insert_for_users(&client, batch, &[b, unknown, a], &notice)
            .await
            .unwrap();
        assert_eq!(
            stored.iter().map(|(user, _)| *user).collect::<Vec<_>>(),
            [b, a],
            "known users only, in the order given"
        );
        assert!(at.is_some());
        let again = insert_for_users(&client, batch, &[a], &notice)
            .await
            .unwrap();
        assert!(again.0.is_empty(), "a batch stores once per user");
        let mine = since(&client, a, None, 10).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].id, mine[0].title.as_str()), (stored[1].1, "Sale"));
        assert!(
            since(&client, a, Some(mine[0].id), 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing after the last one"
        );
    }

    #[tokio::test]
    async fn read_state_filters_the_history_and_marking_is_per_user_and_idempotent() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let (me, other) = (user(&db.pool).await, user(&db.pool).await);
        let first = received(&client, me, "first").await;
        received(&client, me, "second").await;
        let theirs = received(&client, other, "theirs").await;

        let read = mark_read(&client, me, first).await.unwrap().unwrap();
        let read_at = read.read_at.expect("marked read");
        let again = mark_read(&client, me, first).await.unwrap().unwrap();
        assert_eq!(again.read_at, Some(read_at), "the first reading stays");
        assert!(
            mark_read(&client, me, theirs).await.unwrap().is_none(),
            "another user's notification is not mine to mark"
        );

        let unread = list(&client, me, Some(true), None, 10).await.unwrap();
        assert_eq!(titles(&unread), ["second"]);
        let read = list(&client, me, Some(false), None, 10).await.unwrap();
        assert_eq!(titles(&read), ["first"]);
        assert_eq!(
            titles(&list(&client, me, None, None, 10).await.unwrap()),
            ["second", "first"]
        );

        assert_eq!(mark_all_read(&client, me).await.unwrap(), 1);
        assert_eq!(mark_all_read(&client, me).await.unwrap(), 0);
        assert!(
            list(&client, me, Some(true), None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            titles(&list(&client, other, Some(true), None, 10).await.unwrap()),
            ["theirs"],
            "nobody else's are touched"
        );
    }
}

//! Live WebSocket connections: who is connected, in which session, and which topics each one follows.
//! A connection only receives anything while its session lives, its user keeps the role it connected
//! with and the access token it was opened (or last renewed) with has not expired; the prune schedule
//! closes the others (an expired token's only after a grace in which the client may still renew).

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use orderly_domain::events::Recipients;
use orderly_domain::users::Role;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;
use crate::prepared;
use crate::ws_tickets::Redeemed;

#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection<'a> {
    pub connection_id: &'a str,
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// The role the user had when connecting; a change ends what the connection receives.
    pub role: Role,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The last notification the client had (`?since=`): the connection starts by catching up.
    pub since: Option<Uuid>,
    /// The expiry of the access token behind the connect ticket.
    pub access_expires_at: DateTime<Utc>,
}

/// What following more topics came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Followed {
    /// The connection now follows these topics (sorted).
    Now(Vec<String>),
    /// The connection is not (or no longer) known.
    UnknownConnection,
    /// The union would exceed the per-connection limit; nothing changed.
    TooMany,
}

/// The condition, over `c` (a connection) joined to `s` (its session) and `u` (its user), under which a
/// connection still belongs to a signed-in user in the role it connected with.
macro_rules! signed_in {
    () => {
        "s.revoked_at IS NULL AND s.expires_at > now() AND u.role = c.role"
    };
}

/// The condition under which a connection may still receive anything: signed in, and its access token
/// unexpired.
macro_rules! live {
    () => {
        concat!(signed_in!(), " AND c.access_expires_at > now()")
    };
}

/// Records a connection unless its user already has `cap` open; returns whether it was recorded. The
/// user's row is locked for the count, so concurrent connects of one user cannot all slip under the cap.
pub async fn record(
    tx: &Transaction<'_>,
    connection: &NewConnection<'_>,
    cap: u32,
) -> Result<bool, StoreError> {
    tx.execute(
        "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
        &[&connection.user_id],
    )
    .await?;
    let inserted = tx
        .execute(
            "INSERT INTO ws_connections (connection_id, user_id, session_id, role, source_ip, user_agent,
                                         catching_up, caught_up_to, access_expires_at)
             SELECT $1, $2, $3, $4, $5, $6, $8::uuid IS NOT NULL, $8, $9
              WHERE (SELECT count(*) FROM ws_connections WHERE user_id = $2) < $7
             ON CONFLICT (connection_id) DO NOTHING",
            &[
                &connection.connection_id,
                &connection.user_id,
                &connection.session_id,
                &connection.role.as_str(),
                &connection.source_ip,
                &connection.user_agent,
                &i64::from(cap),
                &connection.since,
                &connection.access_expires_at,
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// The user a live connection belongs to, and whether they are an admin.
pub async fn follower(
    db: &impl GenericClient,
    connection_id: &str,
) -> Result<Option<(Uuid, bool)>, StoreError> {
    let row = prepared::query_opt(
        db,
        concat!(
            "SELECT u.id, u.role = 'admin' FROM ws_connections c
                   JOIN sessions s ON s.id = c.session_id JOIN users u ON u.id = c.user_id
                  WHERE c.connection_id = $1 AND ",
            live!()
        ),
        &[&connection_id],
    )
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// Carries a live connection over to a newer access token of the same user and role, redeemed from a
/// ticket sent on the socket (`{"action":"renew"}`); the connection then belongs to that token's session.
/// False when the connection is unknown, is another user's, or the user's role changed since it opened
/// (what it follows was allowed for the old role: reconnect instead).
pub async fn renew(
    db: &impl GenericClient,
    connection_id: &str,
    holder: &Redeemed,
) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "UPDATE ws_connections
                SET access_expires_at = GREATEST(access_expires_at, $3), session_id = $4, last_seen_at = now()
              WHERE connection_id = $1 AND user_id = $2 AND role = $5",
            &[
                &connection_id,
                &holder.user_id,
                &holder.access_expires_at,
                &holder.session_id,
                &holder.role.as_str(),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Returns whether the connection was known.
pub async fn forget(db: &impl GenericClient, connection_id: &str) -> Result<bool, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM ws_connections WHERE connection_id = $1",
            &[&connection_id],
        )
        .await?
        == 1)
}

pub async fn follow(
    db: &impl GenericClient,
    connection_id: &str,
    topics: &[String],
) -> Result<Followed, StoreError> {
    // One statement: the union is computed and bounded (CHECK on cardinality) where the row is locked.
    let row = db
        .query_opt(
            "UPDATE ws_connections
                SET topics = ARRAY(SELECT DISTINCT t FROM unnest(topics || $2::text[]) AS t ORDER BY t),
                    last_seen_at = now()
              WHERE connection_id = $1
          RETURNING topics",
            &[&connection_id, &topics],
        )
        .await;
    match row {
        Ok(Some(row)) => Ok(Followed::Now(row.get(0))),
        Ok(None) => Ok(Followed::UnknownConnection),
        Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => Ok(Followed::TooMany),
        Err(e) => Err(e.into()),
    }
}

/// Stops following the given topics; returns what is still followed, or `None` for an unknown connection.
pub async fn unfollow(
    db: &impl GenericClient,
    connection_id: &str,
    topics: &[String],
) -> Result<Option<Vec<String>>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE ws_connections
                SET topics = ARRAY(SELECT t FROM unnest(topics) AS t WHERE t <> ALL($2::text[]) ORDER BY t),
                    last_seen_at = now()
              WHERE connection_id = $1
          RETURNING topics",
            &[&connection_id, &topics],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

pub async fn touch(db: &impl GenericClient, connection_id: &str) -> Result<bool, StoreError> {
    let n = db
        .execute(
            "UPDATE ws_connections SET last_seen_at = now() WHERE connection_id = $1",
            &[&connection_id],
        )
        .await?;
    Ok(n == 1)
}

/// The live connections an event reaches: those following any of `topics`, and those of `owner` that
/// follow `own_stream` (`orders` for an order event, `jobs` for a job's).
pub async fn audience(
    db: &impl GenericClient,
    topics: &[String],
    owner: Uuid,
    own_stream: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = prepared::query(
        db,
        concat!(
            "SELECT c.connection_id FROM ws_connections c
                   JOIN sessions s ON s.id = c.session_id JOIN users u ON u.id = c.user_id
                  WHERE (c.topics && $1::text[] OR (c.user_id = $2 AND $3 = ANY (c.topics))) AND ",
            live!()
        ),
        &[&topics, &owner, &own_stream],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// For each order of `orders` (order id, its owner, the order's topic), the live connections that follow
/// it: through the order's topic, or as its owner following `own_stream`. One query for a whole batch.
pub async fn audience_of_orders(
    db: &impl GenericClient,
    orders: &[(Uuid, Uuid, String)],
    own_stream: &str,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.0).collect();
    let owners: Vec<Uuid> = orders.iter().map(|o| o.1).collect();
    let topics: Vec<&str> = orders.iter().map(|o| o.2.as_str()).collect();
    let rows = prepared::query(
        db,
            concat!(
                "SELECT o.order_id, c.connection_id
                   FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS o(order_id, owner, topic)
                   JOIN ws_connections c ON o.topic = ANY (c.topics) OR (c.user_id = o.owner AND $4 = ANY (c.topics))
                   JOIN sessions s ON s.id = c.session_id JOIN users u ON u.id = c.user_id
                  WHERE ",
                live!()
            ),
            &[&ids, &owners, &topics, &own_stream],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The live connections following any of `topics`, each with the topic it follows (a connection
/// following several of them comes once per topic). One query for a whole batch of topics.
pub async fn followers_of(
    db: &impl GenericClient,
    topics: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = prepared::query(
        db,
        concat!(
            "SELECT t.topic, c.connection_id
                   FROM unnest($1::text[]) AS t(topic)
                   JOIN ws_connections c ON t.topic = ANY (c.topics)
                   JOIN sessions s ON s.id = c.session_id JOIN users u ON u.id = c.user_id
                  WHERE ",
            live!()
        ),
        &[&topics],
    )
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A connection a notification may be pushed to live: the notification stored for its user, and the last
/// notification its catch-up covered (push only newer ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachable {
    pub connection_id: String,
    pub notification_id: Uuid,
    pub caught_up_to: Option<Uuid>,
}

/// Selects each live connection, not catching up, of a send's recipients with the notification that
/// send (`$1`) stored for its user; the caller adds which users and the lock.
macro_rules! notified {
    ($($recipients:tt)+) => {
        concat!(
            "SELECT c.connection_id, n.id, c.caught_up_to FROM notifications n
                   JOIN ws_connections c ON c.user_id = n.user_id
                   JOIN sessions s ON s.id = c.session_id JOIN users u ON u.id = c.user_id
                  WHERE n.event_id = $1 AND ",
            $($recipients)+,
            " AND NOT c.catching_up AND ",
            live!(),
            " FOR SHARE OF c"
        )
    };
}

/// The live connections, not catching up, of a send's recipients, each with the notification that send
/// (`event_id`) stored for its user: a user's notifications go to every socket they have open, whatever it
/// follows. The rows are read in share mode, so a catch-up that is finishing (`finish_catch_up` holds the
/// row) is waited for, and its `caught_up_to` is what counts.
pub async fn notified_by(
    db: &impl GenericClient,
    event_id: Uuid,
    recipients: &Recipients,
) -> Result<Vec<Reachable>, StoreError> {
    let rows = match recipients {
        Recipients::Users { user_ids } => {
            prepared::query(
                db,
                notified!("n.user_id = ANY ($2)"),
                &[&event_id, user_ids],
            )
            .await?
        }
        // Not `prepared`: planned with its bounds (see `on_member_page`).
        Recipients::Page { page } => {
            db.query(
                notified!(on_member_page!("n.user_id")),
                &[&event_id, &page.after, &page.upto],
            )
            .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| Reachable {
            connection_id: r.get(0),
            notification_id: r.get(1),
            caught_up_to: r.get(2),
        })
        .collect())
}

/// A connection that is catching up on what it missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchingUp {
    pub user_id: Uuid,
    /// The last notification the client had.
    pub since: Option<Uuid>,
    pub connected_at: DateTime<Utc>,
}

/// Locks a catching-up connection for its catch-up (live pushes to it wait), or `None` when it is gone
/// or already caught up.
pub async fn lock_catch_up(
    tx: &Transaction<'_>,
    connection_id: &str,
) -> Result<Option<CatchingUp>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT user_id, caught_up_to, connected_at FROM ws_connections
              WHERE connection_id = $1 AND catching_up FOR UPDATE",
            &[&connection_id],
        )
        .await?;
    Ok(row.map(|r| CatchingUp {
        user_id: r.get(0),
        since: r.get(1),
        connected_at: r.get(2),
    }))
}

/// Ends a connection's catch-up at `caught_up_to`: live pushes take over after it.
pub async fn finish_catch_up(
    tx: &Transaction<'_>,
    connection_id: &str,
    caught_up_to: Option<Uuid>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE ws_connections SET catching_up = false, caught_up_to = $2 WHERE connection_id = $1",
        &[&connection_id, &caught_up_to],
    )
    .await?;
    Ok(())
}

/// Forgets every connection opened before `opened_before`, whose access token expired before
/// `expired_before`, or no longer signed in (its session ended, or its user's role changed), and returns
/// their ids (to be closed at the gateway).
pub async fn forget_ended(
    db: &impl GenericClient,
    opened_before: DateTime<Utc>,
    expired_before: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let rows = db
        .query(
            concat!(
                "DELETE FROM ws_connections c
                  WHERE c.connected_at < $1
                     OR c.access_expires_at < $2
                     OR NOT EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
                                     WHERE s.id = c.session_id AND u.id = c.user_id AND ",
                signed_in!(),
                ")
              RETURNING c.connection_id"
            ),
            &[&opened_before, &expired_before],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestDatabase, fresh_database};
    use orderly_domain::live_updates::MAX_TOPICS_PER_CONNECTION;

    async fn signed_in(db: &TestDatabase) -> (Uuid, Uuid) {
        crate::testing::signed_in(&db.pool).await
    }

    async fn connect(db: &TestDatabase, id: &str, (user_id, session_id): (Uuid, Uuid)) -> bool {
        let mut client = db.pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let connection = NewConnection {
            connection_id: id,
            user_id,
            session_id,
            role: Role::Customer,
            source_ip: Some("127.0.0.1"),
            user_agent: None,
            since: None,
            access_expires_at: Utc::now() + chrono::Duration::minutes(15),
        };
        let recorded = record(&tx, &connection, 3).await.unwrap();
        tx.commit().await.unwrap();
        recorded
    }

    #[tokio::test]
    async fn follows_unions_and_unfollows() {
        let db = fresh_database().await;
        connect(&db, "c1", signed_in(&db).await).await;
        let client = db.pool.get().await.unwrap();

        let first = follow(&client, "c1", &["order:b".into(), "order:a".into()])
            .await
            .unwrap();
        assert_eq!(
            first,
            Followed::Now(vec!["order:a".into(), "order:b".into()])
        );
        let again = follow(&client, "c1", &["order:b".into(), "group:x".into()])
            .await
            .unwrap();
        assert_eq!(
            again,
            Followed::Now(vec!["group:x".into(), "order:a".into(), "order:b".into()])
        );

        let left = unfollow(&client, "c1", &["order:a".into()]).await.unwrap();
        assert_eq!(left, Some(vec!["group:x".into(), "order:b".into()]));
        assert_eq!(
            follow(&client, "nope", &["orders".into()]).await.unwrap(),
            Followed::UnknownConnection
        );
        assert_eq!(unfollow(&client, "nope", &[]).await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_database_bounds_the_topics_of_one_connection() {
        let db = fresh_database().await;
        connect(&db, "c1", signed_in(&db).await).await;
        let client = db.pool.get().await.unwrap();
        let half: Vec<String> = (0..MAX_TOPICS_PER_CONNECTION / 2)
            .map(|i| format!("group:a{i}"))
            .collect();
        let other: Vec<String> = (0..=MAX_TOPICS_PER_CONNECTION / 2)
            .map(|i| format!("group:b{i}"))
            .collect();
        assert!(
            matches!(follow(&client, "c1", &half).await.unwrap(), Followed::Now(t) if t.len() == half.len())
        );
        assert_eq!(
            follow(&client, "c1", &other).await.unwrap(),
            Followed::TooMany
        );
        // Nothing changed by the refused call.
        assert_eq!(
            unfollow(&client, "c1", &[]).await.unwrap().unwrap().len(),
            half.len()
        );
    }

    #[tokio::test]
    async fn a_user_may_hold_only_so_many_connections_even_connecting_at_once() {
        let db = fresh_database().await;
        let who = signed_in(&db).await;
        let attempts = (0..8).map(|i| {
            let db = &db;
            async move { connect(db, &format!("c{i}"), who).await }
        });
        let recorded = futures::future::join_all(attempts)
            .await
            .into_iter()
            .filter(|recorded| *recorded)
            .count();
        assert_eq!(recorded, 3, "the cap, whatever the interleaving");
        assert!(
            connect(&db, "other", signed_in(&db).await).await,
            "the cap is per user"
        );
    }

    #[tokio::test]
    async fn audience_matches_topics_and_the_owners_order_stream_of_live_sessions() {
        let db = fresh_database().await;
        let owner = signed_in(&db).await;
        let stranger = signed_in(&db).await;
        connect(&db, "follows-order", stranger).await;
        connect(&db, "follows-other", stranger).await;
        connect(&db, "owner-all", owner).await;
        connect(&db, "owner-quiet", owner).await;
        let client = db.pool.get().await.unwrap();
        follow(&client, "follows-order", &["order:1".into()])
            .await
            .unwrap();
        follow(&client, "follows-other", &["order:2".into()])
            .await
            .unwrap();
        follow(&client, "owner-all", &["orders".into()])
            .await
            .unwrap();

        let reached = |topic: &'static str| {
            let client = &client;
            async move {
                let mut reached = audience(client, &[topic.into()], owner.0, "orders")
                    .await
                    .unwrap();
                reached.sort();
                reached
            }
        };
        assert_eq!(
            reached("order:1").await,
            vec!["follows-order".to_owned(), "owner-all".to_owned()]
        );
        assert!(
            audience(&client, &["order:3".into()], stranger.0, "orders")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            audience(&client, &["job:1".into()], owner.0, "jobs")
                .await
                .unwrap()
                .is_empty(),
            "following one's orders is not following one's jobs"
        );
        // A batch's orders in one query reach what each order's own query reaches.
        let (first, third) = (Uuid::now_v7(), Uuid::now_v7());
        let batch = [
            (first, owner.0, "order:1".to_owned()),
            (third, stranger.0, "order:3".to_owned()),
        ];
        let mut together = audience_of_orders(&client, &batch, "orders").await.unwrap();
        together.sort();
        assert_eq!(
            together,
            vec![
                (first, "follows-order".to_owned()),
                (first, "owner-all".to_owned())
            ]
        );
        client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
                &[&stranger.1],
            )
            .await
            .unwrap();
        assert_eq!(
            reached("order:1").await,
            vec!["owner-all".to_owned()],
            "a signed-out session receives nothing"
        );
        client
            .execute("UPDATE users SET role = 'admin' WHERE id = $1", &[&owner.0])
            .await
            .unwrap();
        assert!(
            reached("order:1").await.is_empty(),
            "nor does a connection whose user's role changed"
        );
    }

    #[tokio::test]
    async fn followers_of_a_batch_of_topics_are_the_live_connections_following_each() {
        let db = fresh_database().await;
        let (alice, bob, carol) = (
            signed_in(&db).await,
            signed_in(&db).await,
            signed_in(&db).await,
        );
        connect(&db, "both", alice).await;
        connect(&db, "second", bob).await;
        connect(&db, "signed-out", carol).await;
        let client = db.pool.get().await.unwrap();
        let topic = |n: u8| format!("inventory:{n}");
        follow(&client, "both", &[topic(1), topic(2), "orders".into()])
            .await
            .unwrap();
        follow(&client, "second", &[topic(2)]).await.unwrap();
        follow(&client, "signed-out", &[topic(1)]).await.unwrap();
        client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
                &[&carol.1],
            )
            .await
            .unwrap();

        let mut followers = followers_of(&client, &[topic(1), topic(2), topic(3)])
            .await
            .unwrap();
        followers.sort();
        let pair = |t: u8, c: &str| (topic(t), c.to_owned());
        assert_eq!(
            followers,
            vec![pair(1, "both"), pair(2, "both"), pair(2, "second")],
            "one row per topic followed, none for a signed-out session or an unfollowed topic"
        );
        assert!(followers_of(&client, &[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn forgets_connections_past_the_cutoff_or_no_longer_live() {
        let db = fresh_database().await;
        let (alice, bob, carol, dave) = (
            signed_in(&db).await,
            signed_in(&db).await,
            signed_in(&db).await,
            signed_in(&db).await,
        );
        for (id, who) in [
            ("old", alice),
            ("new", alice),
            ("signed-out", bob),
            ("demoted", carol),
            ("token-expired", dave),
            ("token-in-grace", dave),
        ] {
            connect(&db, id, who).await;
        }
        let client = db.pool.get().await.unwrap();
        client
            .execute("UPDATE ws_connections SET connected_at = now() - interval '3 hours' WHERE connection_id = 'old'", &[])
            .await
            .unwrap();
        client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
                &[&bob.1],
            )
            .await
            .unwrap();
        client
            .execute("UPDATE users SET role = 'admin' WHERE id = $1", &[&carol.0])
            .await
            .unwrap();
        client
            .execute("UPDATE ws_connections SET access_expires_at = now() - interval '61 seconds' WHERE connection_id = 'token-expired'", &[])
            .await
            .unwrap();
        client
            .execute("UPDATE ws_connections SET access_expires_at = now() - interval '59 seconds' WHERE connection_id = 'token-in-grace'", &[])
            .await
            .unwrap();
        let now = Utc::now();
        let grace = chrono::Duration::minutes(1);
        let mut ended = forget_ended(&client, now - chrono::Duration::hours(2), now - grace)
            .await
            .unwrap();
        ended.sort();
        assert_eq!(ended, vec!["demoted", "old", "signed-out", "token-expired"]);
        assert_eq!(
            follower(&client, "token-in-grace").await.unwrap(),
            None,
            "kept for a renewal, but receives nothing"
        );
        assert!(forget(&client, "token-in-grace").await.unwrap());
        assert!(!forget(&client, "old").await.unwrap());
        assert!(forget(&client, "new").await.unwrap());
    }

    #[tokio::test]
    async fn an_expired_token_silences_a_connection_until_a_renewal_of_the_same_user_and_role() {
        let db = fresh_database().await;
        let (alice, mallory) = (signed_in(&db).await, signed_in(&db).await);
        connect(&db, "c", alice).await;
        let client = db.pool.get().await.unwrap();
        client
            .execute("UPDATE ws_connections SET topics = '{orders}', access_expires_at = now() - interval '1 second'", &[])
            .await
            .unwrap();
        let reached = || async { audience(&client, &[], alice.0, "orders").await.unwrap() };
        assert!(
            reached().await.is_empty(),
            "no push past the token's expiry"
        );
        let send = Uuid::now_v7();
        let notice =
            orderly_domain::notifications::Notice::new("note", "t", "m", serde_json::json!({}))
                .unwrap();
        let (stored, _) =
            crate::notifications::insert_for_users(&client, send, &[alice.0], &notice)
                .await
                .unwrap();
        let to_alice = Recipients::Users {
            user_ids: vec![alice.0],
        };
        let notified = || async { notified_by(&client, send, &to_alice).await.unwrap() };
        assert!(notified().await.is_empty(), "no notification either");
        assert_eq!(follower(&client, "c").await.unwrap(), None);

        let later = Utc::now() + chrono::Duration::minutes(15);
        let renewal = |who: (Uuid, Uuid), role| Redeemed {
            user_id: who.0,
            session_id: who.1,
            role,
            access_expires_at: later,
        };
        assert!(
            !renew(&client, "c", &renewal(mallory, Role::Customer))
                .await
                .unwrap(),
            "another user's ticket"
        );
        assert!(
            !renew(&client, "c", &renewal(alice, Role::Admin))
                .await
                .unwrap(),
            "a changed role"
        );
        assert!(
            !renew(&client, "unknown", &renewal(alice, Role::Customer))
                .await
                .unwrap()
        );
        assert!(reached().await.is_empty());

        assert!(
            renew(&client, "c", &renewal(alice, Role::Customer))
                .await
                .unwrap()
        );
        assert_eq!(reached().await, vec!["c".to_owned()]);
        assert_eq!(
            notified().await,
            vec![Reachable {
                connection_id: "c".into(),
                notification_id: stored[0].1,
                caught_up_to: None,
            }],
            "the renewed connection gets the notification stored for its user by that send"
        );
        assert!(
            notified_by(&client, Uuid::now_v7(), &to_alice)
                .await
                .unwrap()
                .is_empty(),
            "nothing for a send that stored nothing for them"
        );
    }

    #[tokio::test]
    async fn a_broadcast_page_reaches_the_sockets_of_its_range_with_that_sends_notifications() {
        let db = fresh_database().await;
        let mut users = Vec::new();
        for _ in 0..3 {
            users.push(signed_in(&db).await);
        }
        users.sort();
        for (i, &who) in users.iter().enumerate() {
            connect(&db, &format!("c{i}"), who).await;
        }
        connect(&db, "c1b", users[1]).await;
        let client = db.pool.get().await.unwrap();
        let notice =
            orderly_domain::notifications::Notice::new("note", "t", "m", serde_json::json!({}))
                .unwrap();
        let ids: Vec<Uuid> = users.iter().map(|u| u.0).collect();
        let (send, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (stored, _) = crate::notifications::insert_for_users(&client, send, &ids, &notice)
            .await
            .unwrap();
        // Another send's notification in the same range is not this page's.
        crate::notifications::insert_for_users(&client, other, &ids[1..2], &notice)
            .await
            .unwrap();
        let reached = |after: Option<usize>, upto: Option<usize>| {
            let page = orderly_domain::events::MemberPage {
                after: after.map(|i| ids[i]),
                upto: upto.map(|i| ids[i]),
            };
            let client = &client;
            async move {
                let mut got: Vec<(String, Uuid)> =
                    notified_by(client, send, &Recipients::Page { page })
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|r| (r.connection_id, r.notification_id))
                        .collect();
                got.sort();
                got
            }
        };
        let c = |name: &str, i: usize| (name.to_owned(), stored[i].1);
        assert_eq!(
            reached(None, Some(0)).await,
            [c("c0", 0)],
            "up to the bound"
        );
        assert_eq!(
            reached(Some(0), None).await,
            [c("c1", 1), c("c1b", 1), c("c2", 2)],
            "after the bound, every socket of each member"
        );
        assert_eq!(reached(Some(0), Some(1)).await, [c("c1", 1), c("c1b", 1)]);
        assert_eq!(
            reached(None, None).await.len(),
            4,
            "an unbounded page is the whole send"
        );
    }
}

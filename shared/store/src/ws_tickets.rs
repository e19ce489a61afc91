//! WebSocket connect tickets: short-lived, single-use, stored hashed. A ticket is redeemed at `$connect`
//! instead of a long-lived credential travelling in the URL.

use deadpool_postgres::GenericClient;
use orderly_domain::users::Role;
use uuid::Uuid;

use crate::StoreError;

pub async fn issue(
    db: &impl GenericClient,
    ticket_hash: &[u8],
    user_id: Uuid,
    session_id: Uuid,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO ws_tickets (ticket_hash, user_id, session_id, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        &[&ticket_hash, &user_id, &session_id, &ttl.as_secs_f64()],
    )
    .await?;
    Ok(())
}

/// Who a ticket lets connect: the user, their session and their role now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
}

/// Uses the ticket up, in one statement, when it is unused, unexpired and its session is live; `None`
/// otherwise. Two connects racing with one ticket: exactly one gets it.
pub async fn redeem(
    db: &impl GenericClient,
    ticket_hash: &[u8],
) -> Result<Option<Redeemed>, StoreError> {
    let row = db
        .query_opt(
            "UPDATE ws_tickets t SET used_at = now()
               FROM sessions s, users u
              WHERE t.ticket_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
                AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > now()
                AND u.id = t.user_id
          RETURNING t.user_id, t.session_id, u.role",
            &[&ticket_hash],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Redeemed {
            user_id: r.get(0),
            session_id: r.get(1),
            role: Role::parse(r.get(2))?,
        })
    }))
}

/// Forgets tickets that expired more than `grace` ago (used or not: neither can connect any more).
pub async fn purge_expired(
    db: &impl GenericClient,
    grace: std::time::Duration,
) -> Result<u64, StoreError> {
    Ok(db
        .execute(
            "DELETE FROM ws_tickets WHERE expires_at < now() - make_interval(secs => $1)",
            &[&grace.as_secs_f64()],
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::fresh_database;

    #[tokio::test]
    async fn a_ticket_connects_once_within_its_life_and_only_while_its_session_lives() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let (user_id, session_id) = crate::testing::signed_in(&db.pool).await;
        let ttl = Duration::from_secs(30);
        issue(&client, b"a", user_id, session_id, ttl)
            .await
            .unwrap();
        let redeemed = redeem(&client, b"a").await.unwrap();
        assert_eq!(
            redeemed,
            Some(Redeemed {
                user_id,
                session_id,
                role: Role::Customer
            })
        );
        assert_eq!(redeem(&client, b"a").await.unwrap(), None, "single use");
        assert_eq!(redeem(&client, b"unknown").await.unwrap(), None);

        issue(&client, b"b", user_id, session_id, ttl)
            .await
            .unwrap();
        client
            .execute(
                "UPDATE ws_tickets SET expires_at = now() - interval '1 second' WHERE ticket_hash = 'b'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(redeem(&client, b"b").await.unwrap(), None, "expired");

        issue(&client, b"c", user_id, session_id, ttl)
            .await
            .unwrap();
        client
            .execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(redeem(&client, b"c").await.unwrap(), None, "signed out");

        assert_eq!(
            purge_expired(&client, Duration::ZERO).await.unwrap(),
            1,
            "only the expired one"
        );
    }
}

//! WebSocket connect tickets: short-lived, single-use, stored hashed. A ticket is redeemed at `$connect`
//! instead of a long-lived credential travelling in the URL.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use orderly_domain::users::Role;
use uuid::Uuid;

use crate::StoreError;

/// Whose credential a ticket stands for: a user's session, and the access token it was asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer {
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// When the access token expires: neither the ticket nor the connection it opens outlives it.
    pub access_expires_at: DateTime<Utc>,
}

pub async fn issue(
    db: &impl GenericClient,
    ticket_hash: &[u8],
    bearer: &Bearer,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO ws_tickets (ticket_hash, user_id, session_id, access_expires_at, expires_at)
         VALUES ($1, $2, $3, $4, LEAST(now() + make_interval(secs => $5), $4))",
        &[
            &ticket_hash,
            &bearer.user_id,
            &bearer.session_id,
            &bearer.access_expires_at,
            &ttl.as_secs_f64(),
        ],
    )
    .await?;
    Ok(())
}

/// Who a ticket lets connect: the user, their session, their role now, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub access_expires_at: DateTime<Utc>,
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
          RETURNING t.user_id, t.session_id, u.role, t.access_expires_at",
            &[&ticket_hash],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Redeemed {
            user_id: r.get(0),
            session_id: r.get(1),
            role: Role::parse(r.get(2))?,
            access_expires_at: r.get(3),
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
        let bearer = Bearer {
            user_id,
            session_id,
            access_expires_at: Utc::now() + chrono::Duration::minutes(15),
        };
        issue(&client, b"a", &bearer, ttl).await.unwrap();
        let redeemed = redeem(&client, b"a").await.unwrap();
        assert_eq!(
            redeemed,
            Some(Redeemed {
                user_id,
                session_id,
                role: Role::Customer,
                access_expires_at: redeemed.unwrap().access_expires_at,
            })
        );
        let kept = redeemed.unwrap().access_expires_at - bearer.access_expires_at;
        assert!(
            kept.num_milliseconds().abs() < 1,
            "the token's expiry is carried: {kept}"
        );
        assert_eq!(redeem(&client, b"a").await.unwrap(), None, "single use");

        // A ticket dies with the token it was asked with, even inside its own 30 s.
        let expired = Bearer {
            access_expires_at: Utc::now() - chrono::Duration::milliseconds(1),
            ..bearer
        };
        issue(&client, b"d", &expired, ttl).await.unwrap();
        assert_eq!(redeem(&client, b"d").await.unwrap(), None, "past the token");
        assert_eq!(redeem(&client, b"unknown").await.unwrap(), None);

        issue(&client, b"b", &bearer, ttl).await.unwrap();
        client
            .execute(
                "UPDATE ws_tickets SET expires_at = now() - interval '1 second' WHERE ticket_hash = 'b'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(redeem(&client, b"b").await.unwrap(), None, "expired");

        issue(&client, b"c", &bearer, ttl).await.unwrap();
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
            2,
            "only the expired ones"
        );
    }
}

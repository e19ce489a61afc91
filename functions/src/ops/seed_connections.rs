//! Users with a live session and a connect ticket each, written straight into the database: what
//! `make bench`'s WebSocket row opens thousands of sockets with, without thousands of argon2 logins.

use orderly_store::{Pool, StoreError};
use uuid::Uuid;

use crate::services::tokens;

/// How long the tickets, and the access they stand for, stay valid: opening ten thousand sockets and
/// pushing to them takes a while.
const TICKET_MINUTES: i32 = 30;

/// `n` new users, each with a session and an unused connect ticket: (user id, ticket).
pub async fn users_with_tickets(pool: &Pool, n: usize) -> Result<Vec<(Uuid, String)>, StoreError> {
    let users: Vec<Uuid> = (0..n).map(|_| orderly_domain::new_id()).collect();
    let sessions: Vec<Uuid> = (0..n).map(|_| orderly_domain::new_id()).collect();
    let (tickets, hashes): (Vec<String>, Vec<Vec<u8>>) =
        (0..n).map(|_| tokens::new_connect_ticket()).unzip();
    let client = pool.get().await?;
    client
        .execute(
            "WITH u AS (
                 INSERT INTO users (id, email, password_hash, name)
                 SELECT id, 'ws-' || id || '@bench.test', 'x', 'Bench user' FROM unnest($1::uuid[]) AS id
                 RETURNING id),
             s AS (
                 INSERT INTO sessions (id, user_id, expires_at)
                 SELECT s, u, now() + interval '1 day' FROM unnest($2::uuid[], $1::uuid[]) AS p (s, u)
                 RETURNING id, user_id)
             INSERT INTO ws_tickets (ticket_hash, user_id, session_id, expires_at, access_expires_at)
             SELECT h, u, s, now() + make_interval(mins => $4), now() + make_interval(mins => $4)
               FROM unnest($3::bytea[], $1::uuid[], $2::uuid[]) AS t (h, u, s)",
            &[&users, &sessions, &hashes, &TICKET_MINUTES],
        )
        .await?;
    Ok(users.into_iter().zip(tickets).collect())
}

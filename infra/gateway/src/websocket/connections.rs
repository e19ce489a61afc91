//! The gateway's table of open connections: the only place that says whether a connection id is live, so
//! that the management API answers 410 for a connection the moment it is closed by anyone (the client,
//! `DeleteConnection`, the idle timeout, the duration limit), not when the socket has finished closing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Gateway;

pub(super) enum Outgoing {
    Text(String),
    /// Send a close frame with this code and reason, then stop writing.
    Close(u16, String),
}

/// API Gateway's two clocks on a connection. Its values are fixed in AWS (10 minutes, 2 hours); locally they
/// come from `ORDERLY_WS_IDLE_TIMEOUT_SECONDS` / `ORDERLY_WS_MAX_CONNECTION_SECONDS`, and the control API
/// can shorten them for one connection so a test need not wait minutes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Closed after this long without a message from the client (server pushes do not count).
    pub idle_timeout_seconds: u64,
    /// Closed this long after connecting, whatever the traffic.
    pub max_duration_seconds: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: 600,
            max_duration_seconds: 7_200,
        }
    }
}

/// What API Gateway sends when it closes a connection for either clock.
pub(super) const GOING_AWAY: (u16, &str) = (1001, "Going away");

pub(super) struct OpenSocket {
    pub sender: mpsc::UnboundedSender<Outgoing>,
    pub connected_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
    pub source_ip: String,
    pub user_agent: Option<String>,
    pub limits: Limits,
}

impl OpenSocket {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        let seconds = |t: DateTime<Utc>| (now - t).num_milliseconds() as f64 / 1000.0;
        seconds(self.last_active_at) >= self.limits.idle_timeout_seconds as f64
            || seconds(self.connected_at) >= self.limits.max_duration_seconds as f64
    }
}

#[derive(Default)]
pub struct Sockets {
    open: Mutex<HashMap<String, OpenSocket>>,
    limits: Limits,
}

impl Sockets {
    pub fn new(limits: Limits) -> Self {
        Self {
            open: Mutex::default(),
            limits,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, OpenSocket>> {
        self.open.lock().expect("sockets lock")
    }

    pub(super) fn insert(&self, connection_id: &str, socket: OpenSocket) {
        self.table().insert(connection_id.to_owned(), socket);
    }

    /// Notes a message from the client; false when the connection has already been closed by the server.
    pub(super) fn touch(&self, connection_id: &str) -> bool {
        match self.table().get_mut(connection_id) {
            Some(open) => {
                open.last_active_at = Utc::now();
                true
            }
            None => false,
        }
    }

    /// Forgets the connection and has its writer send a close frame; false when it was not open.
    pub(super) fn close(&self, connection_id: &str, code: u16, reason: &str) -> bool {
        match self.table().remove(connection_id) {
            Some(open) => {
                let _ = open.sender.send(Outgoing::Close(code, reason.to_owned()));
                true
            }
            None => false,
        }
    }

    pub(super) fn forget(&self, connection_id: &str) {
        self.table().remove(connection_id);
    }

    /// Queues a message for the client; false when the connection is not open.
    pub(super) fn send(&self, connection_id: &str, text: String) -> bool {
        self.table()
            .get(connection_id)
            .is_some_and(|open| open.sender.send(Outgoing::Text(text)).is_ok())
    }

    /// `GetConnection`'s answer, in its wire names (restJson1: camelCase, ISO 8601 timestamps).
    pub(super) fn describe(&self, connection_id: &str) -> Option<Value> {
        let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        self.table().get(connection_id).map(|socket| {
            json!({
                "connectedAt": iso(socket.connected_at),
                "lastActiveAt": iso(socket.last_active_at),
                "identity": {"sourceIp": socket.source_ip, "userAgent": socket.user_agent},
            })
        })
    }

    /// Replaces one connection's clocks (control API); false when it is not open.
    pub fn set_limits(&self, connection_id: &str, limits: Limits) -> bool {
        self.table()
            .get_mut(connection_id)
            .map(|open| open.limits = limits)
            .is_some()
    }

    /// Closes every connection whose idle or duration clock ran out; returns how many.
    fn close_expired(&self, now: DateTime<Utc>) -> usize {
        let mut table = self.table();
        let expired: Vec<String> = table
            .iter()
            .filter(|(_, open)| open.expired(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            if let Some(open) = table.remove(id) {
                tracing::info!(connection_id = %id, "closing: idle timeout or connection duration limit");
                let _ = open
                    .sender
                    .send(Outgoing::Close(GOING_AWAY.0, GOING_AWAY.1.to_owned()));
            }
        }
        expired.len()
    }

    pub fn close_all(&self) {
        for (_, open) in self.table().drain() {
            let _ = open
                .sender
                .send(Outgoing::Close(GOING_AWAY.0, GOING_AWAY.1.to_owned()));
        }
    }
}

/// Runs both clocks for every connection until the stack stops. A scan every half second is cheap (10,000
/// connections take well under a millisecond) and keeps each close within half a second of its deadline.
pub async fn enforce_limits(gateway: Arc<Gateway>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        gateway.sockets.close_expired(Utc::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(
        limits: Limits,
        connected_ago: i64,
        idle_for: i64,
    ) -> (OpenSocket, mpsc::UnboundedReceiver<Outgoing>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let now = Utc::now();
        let socket = OpenSocket {
            sender,
            connected_at: now - chrono::Duration::seconds(connected_ago),
            last_active_at: now - chrono::Duration::seconds(idle_for),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            limits,
        };
        (socket, receiver)
    }

    #[test]
    fn either_clock_closes_a_connection_with_going_away_and_only_that_one() {
        let sockets = Sockets::new(Limits {
            idle_timeout_seconds: 60,
            max_duration_seconds: 3_600,
        });
        let (idle, mut idle_rx) = socket(sockets.limits(), 100, 61);
        let (old, mut old_rx) = socket(sockets.limits(), 3_601, 1);
        let (fresh, mut fresh_rx) = socket(sockets.limits(), 100, 59);
        sockets.insert("idle", idle);
        sockets.insert("old", old);
        sockets.insert("fresh", fresh);

        assert_eq!(sockets.close_expired(Utc::now()), 2);
        for rx in [&mut idle_rx, &mut old_rx] {
            assert!(
                matches!(rx.try_recv(), Ok(Outgoing::Close(1001, reason)) if reason == "Going away")
            );
        }
        assert!(fresh_rx.try_recv().is_err());
        assert!(sockets.describe("idle").is_none() && sockets.describe("old").is_none());
        assert!(sockets.describe("fresh").is_some());
    }

    #[test]
    fn a_closed_connection_is_gone_at_once_to_every_call() {
        let sockets = Sockets::new(Limits::default());
        let (open, mut rx) = socket(Limits::default(), 0, 0);
        sockets.insert("c", open);
        assert!(sockets.send("c", "hi".into()));
        assert!(sockets.close("c", 1000, "bye"));
        assert!(!sockets.send("c", "late".into()));
        assert!(!sockets.touch("c"));
        assert!(!sockets.close("c", 1000, "again"));
        assert!(sockets.describe("c").is_none());
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Text(t)) if t == "hi"));
        assert!(matches!(rx.try_recv(), Ok(Outgoing::Close(1000, _))));
    }

    #[test]
    fn a_shorter_limit_for_one_connection_applies_to_it_alone() {
        let sockets = Sockets::new(Limits::default());
        let (a, _a) = socket(Limits::default(), 5, 5);
        let (b, _b) = socket(Limits::default(), 5, 5);
        sockets.insert("a", a);
        sockets.insert("b", b);
        assert!(sockets.set_limits(
            "a",
            Limits {
                idle_timeout_seconds: 2,
                max_duration_seconds: 7_200
            }
        ));
        assert!(!sockets.set_limits("missing", Limits::default()));
        assert_eq!(sockets.close_expired(Utc::now()), 1);
        assert!(sockets.describe("a").is_none() && sockets.describe("b").is_some());
    }
}

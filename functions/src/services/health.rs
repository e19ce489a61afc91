use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures::future::join_all;
use serde::Serialize;

use crate::State;

/// Each dependency gets this long; the whole check stays inside API Gateway's and the function's timeouts.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// An anonymous endpoint must not fan out to every dependency on each call: one check per instance serves
/// every request for this long.
pub const CACHE_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    pub status: &'static str,
    pub version: &'static str,
    pub checks: Checks,
    /// The names of the checks that failed, so a 503 says what is down.
    pub failing: Vec<&'static str>,
    pub uptime: String,
    /// When the dependencies were checked (answers within `CACHE_FOR` of it share the check).
    pub checked_at: String,
    pub timestamp: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checks {
    pub database: &'static str,
    pub queues: &'static str,
    pub storage: &'static str,
}

impl HealthReport {
    pub fn healthy(&self) -> bool {
        self.failing.is_empty()
    }
}

/// Why a dependency failed its check (kept for the log).
struct Unhealthy(String);

fn verdict(
    name: &'static str,
    outcome: Result<(), Unhealthy>,
    failing: &mut Vec<&'static str>,
) -> &'static str {
    match outcome {
        Ok(()) => "healthy",
        Err(Unhealthy(reason)) => {
            // The reason goes to the log only: a public endpoint must not describe our infrastructure.
            tracing::warn!(check = name, %reason, "health check failed");
            failing.push(name);
            "unhealthy"
        }
    }
}

async fn within<T, E: ToString>(
    check: impl Future<Output = Result<T, E>>,
) -> Result<(), Unhealthy> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Unhealthy(e.to_string())),
        Err(_) => Err(Unhealthy(format!("no answer within {CHECK_TIMEOUT:?}"))),
    }
}

struct Checked {
    at: Instant,
    checked_at: String,
    checks: Checks,
    failing: Vec<&'static str>,
}

/// The instance's last check. Requests that find it stale wait for one new check instead of each making
/// their own.
static LAST: tokio::sync::Mutex<Option<Checked>> = tokio::sync::Mutex::const_new(None);

/// The health of Postgres, every queue and the bucket, checked at most once per `CACHE_FOR`.
pub async fn check(state: &State) -> HealthReport {
    let mut last = LAST.lock().await;
    if last.as_ref().is_none_or(|c| c.at.elapsed() >= CACHE_FOR) {
        let (checks, failing) = check_now(state).await;
        *last = Some(Checked {
            at: Instant::now(),
            checked_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            checks,
            failing,
        });
    }
    let checked = last.as_ref().expect("just checked");
    HealthReport {
        status: if checked.failing.is_empty() {
            "healthy"
        } else {
            "unhealthy"
        },
        version: env!("CARGO_PKG_VERSION"),
        checks: checked.checks.clone(),
        failing: checked.failing.clone(),
        uptime: format_uptime(state.started.elapsed()),
        checked_at: checked.checked_at.clone(),
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// Checks Postgres, every queue and the bucket concurrently.
async fn check_now(state: &State) -> (Checks, Vec<&'static str>) {
    let database = within(orderly_store::health::ping(&state.db, CHECK_TIMEOUT));
    let queues = within(async {
        if state.config.health_queue_urls.is_empty() {
            return Err("HEALTH_QUEUE_URLS names no queue".to_owned());
        }
        let probes = state
            .config
            .health_queue_urls
            .iter()
            .map(|url| state.queues.probe(url));
        join_all(probes)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    });
    let storage = within(state.bucket.probe());
    let (database, queues, storage) = tokio::join!(database, queues, storage);

    let mut failing = Vec::new();
    let checks = Checks {
        database: verdict("database", database, &mut failing),
        queues: verdict("queues", queues, &mut failing),
        storage: verdict("storage", storage, &mut failing),
    };
    (checks, failing)
}

/// `2h15m30s`, as the original contract shows it.
fn format_uptime(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_the_contract() {
        assert_eq!(format_uptime(Duration::from_secs(8130)), "2h15m30s");
        assert_eq!(format_uptime(Duration::from_secs(61)), "1m1s");
        assert_eq!(format_uptime(Duration::from_secs(5)), "5s");
    }

    #[test]
    fn a_failed_check_is_named() {
        let mut failing = Vec::new();
        assert_eq!(
            verdict("database", Err(Unhealthy("refused".into())), &mut failing),
            "unhealthy"
        );
        assert_eq!(verdict("queues", Ok(()), &mut failing), "healthy");
        assert_eq!(failing, vec!["database"]);
    }
}

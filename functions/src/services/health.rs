use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use futures::future::join_all;
use serde::Serialize;

use crate::State;

/// Each dependency gets this long; the whole check stays inside API Gateway's and the function's timeouts.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    pub status: &'static str,
    pub version: &'static str,
    pub checks: Checks,
    /// The names of the checks that failed, so a 503 says what is down.
    pub failing: Vec<&'static str>,
    pub uptime: String,
    pub timestamp: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
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

fn verdict(
    name: &'static str,
    outcome: Result<(), String>,
    failing: &mut Vec<&'static str>,
) -> &'static str {
    match outcome {
        Ok(()) => "healthy",
        Err(reason) => {
            // The reason goes to the log only: a public endpoint must not describe our infrastructure.
            tracing::warn!(check = name, %reason, "health check failed");
            failing.push(name);
            "unhealthy"
        }
    }
}

async fn within<T, E: ToString>(check: impl Future<Output = Result<T, E>>) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

/// Checks Postgres, every queue and the bucket concurrently.
pub async fn check(state: &State) -> HealthReport {
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
    HealthReport {
        status: if failing.is_empty() {
            "healthy"
        } else {
            "unhealthy"
        },
        version: env!("CARGO_PKG_VERSION"),
        checks,
        failing,
        uptime: format_uptime(state.started.elapsed()),
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }
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
            verdict("database", Err("refused".into()), &mut failing),
            "unhealthy"
        );
        assert_eq!(verdict("queues", Ok(()), &mut failing), "healthy");
        assert_eq!(failing, vec!["database"]);
    }
}

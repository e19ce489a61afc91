use orderly_store::PoolSettings;
use thiserror::Error;

/// What every function instance reads from its environment (template.yaml's `Environment`). Read once,
/// at instance start; the local gateway passes the values it resolved from the template instead.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub order_events_topic_arn: String,
    pub artifacts_bucket: String,
    pub websocket_management_endpoint: String,
    /// Only the health function has these.
    pub health_queue_urls: Vec<String>,
    /// HS256 key for access tokens; only the functions that issue or check tokens have it.
    pub jwt_signing_key: Option<Vec<u8>>,
    /// Origins allowed to call the API from a browser (`*` is never implied).
    pub cors_allowed_origins: Vec<String>,
    /// Publish outbox events right after commit (default), or leave all publishing to the sweeper
    /// (`OUTBOX_PUBLISH=sweeper`: when the topic throttles, or to measure without it).
    pub publish_after_commit: bool,
    /// The payment provider's API; only the payment worker has it.
    pub payment_provider_url: Option<String>,
    /// How many WebSocket connections one user may hold at once.
    pub ws_max_connections_per_user: u32,
    /// The first admin, created by the migrate function when absent.
    pub bootstrap_admin: Option<(String, String)>,
    pub pool: PoolSettings,
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("missing configuration: {0} is not set")]
    Missing(&'static str),
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
}

/// Phones, tabs and laptops of one person; more is a leak or an abuse.
pub const DEFAULT_WS_CONNECTIONS_PER_USER: u32 = 10;

/// HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

fn list(value: Option<String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &'static str| {
            get(key)
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing(key))
        };
        let jwt_signing_key = match get("JWT_SIGNING_KEY").filter(|k| !k.is_empty()) {
            Some(key) if key.len() < MIN_SIGNING_KEY_BYTES => {
                return Err(ConfigError::Invalid(
                    "JWT_SIGNING_KEY must be at least 32 bytes",
                ));
            }
            key => key.map(String::into_bytes),
        };
        let bootstrap_admin = match (get("ORDERLY_ADMIN_EMAIL"), get("ORDERLY_ADMIN_PASSWORD")) {
            (Some(email), Some(password)) if !email.is_empty() && !password.is_empty() => {
                Some((email, password))
            }
            _ => None,
        };
        let mut pool = PoolSettings::default();
        if let Some(size) = get("DATABASE_POOL_SIZE").and_then(|s| s.parse().ok()) {
            pool.max_size = size;
        }
        if let Some(seconds) = get("DATABASE_POOL_WAIT_SECONDS").and_then(|s| s.parse().ok()) {
            pool.wait = std::time::Duration::from_secs(seconds);
        }
        Ok(Self {
            database_url: required("DATABASE_URL")?,
            order_events_topic_arn: required("ORDER_EVENTS_TOPIC_ARN")?,
            artifacts_bucket: required("ARTIFACTS_BUCKET")?,
            websocket_management_endpoint: required("WEBSOCKET_MANAGEMENT_ENDPOINT")?,
            health_queue_urls: list(get("HEALTH_QUEUE_URLS")),
            jwt_signing_key,
            cors_allowed_origins: list(get("CORS_ALLOWED_ORIGINS")),
            bootstrap_admin,
            payment_provider_url: get("PAYMENT_PROVIDER_URL").filter(|u| !u.is_empty()),
            publish_after_commit: get("OUTBOX_PUBLISH").is_none_or(|mode| mode != "sweeper"),
            ws_max_connections_per_user: match get("WS_MAX_CONNECTIONS_PER_USER") {
                Some(n) => n.parse().map_err(|_| {
                    ConfigError::Invalid("WS_MAX_CONNECTIONS_PER_USER must be a number")
                })?,
                None => DEFAULT_WS_CONNECTIONS_PER_USER,
            },
            pool,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    const COMPLETE: [(&str, &str); 5] = [
        ("DATABASE_URL", "postgres://db/orderly"),
        ("ORDER_EVENTS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
        ("ARTIFACTS_BUCKET", "b"),
        ("WEBSOCKET_MANAGEMENT_ENDPOINT", "http://127.0.0.1:3001"),
        ("HEALTH_QUEUE_URLS", "http://q/1,,http://q/2"),
    ];

    #[test]
    fn reads_every_variable_and_splits_the_queue_list() {
        let config = Config::from_lookup(lookup(&COMPLETE)).unwrap();
        assert_eq!(config.health_queue_urls, vec!["http://q/1", "http://q/2"]);
        assert_eq!(config.artifacts_bucket, "b");
    }

    #[test]
    fn names_the_missing_variable() {
        let without_db: Vec<_> = COMPLETE
            .iter()
            .copied()
            .filter(|(k, _)| *k != "DATABASE_URL")
            .collect();
        assert_eq!(
            Config::from_lookup(lookup(&without_db)).unwrap_err(),
            ConfigError::Missing("DATABASE_URL")
        );
    }
}

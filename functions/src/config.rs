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
    pub pool: PoolSettings,
}

#[derive(Debug, Error, PartialEq)]
#[error("missing configuration: {0} is not set")]
pub struct ConfigError(pub &'static str);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required =
            |key: &'static str| get(key).filter(|v| !v.is_empty()).ok_or(ConfigError(key));
        let mut pool = PoolSettings::default();
        if let Some(size) = get("DATABASE_POOL_SIZE").and_then(|s| s.parse().ok()) {
            pool.max_size = size;
        }
        Ok(Self {
            database_url: required("DATABASE_URL")?,
            order_events_topic_arn: required("ORDER_EVENTS_TOPIC_ARN")?,
            artifacts_bucket: required("ARTIFACTS_BUCKET")?,
            websocket_management_endpoint: required("WEBSOCKET_MANAGEMENT_ENDPOINT")?,
            health_queue_urls: get("HEALTH_QUEUE_URLS")
                .map(|urls| {
                    urls.split(',')
                        .filter(|u| !u.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
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
            ConfigError("DATABASE_URL")
        );
    }
}

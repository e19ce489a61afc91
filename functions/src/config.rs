use orderly_store::PoolSettings;
use secrecy::SecretString;
use thiserror::Error;

/// What every function instance reads from its environment (template.yaml's `Environment`). Read once,
/// at instance start, with no I/O; secrets are only *named* here and fetched when the state is built.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database credentials this function connects with; `None`: it has none (least privilege).
    pub database: Option<Credential>,
    pub order_events_topic_arn: String,
    pub artifacts_bucket: String,
    pub websocket_management_endpoint: String,
    /// Only the health function has these.
    pub health_queue_urls: Vec<String>,
    /// The WebSocket push worker's own queue, where it leaves the stock updates it held back for a
    /// moment (coalescing); only that worker has it.
    pub ws_push_queue_url: Option<String>,
    /// The HS256 key for access tokens; only the functions that issue or check tokens have it.
    pub jwt_signing_key: Option<Credential>,
    /// Origins allowed to call the API from a browser (`*` is never implied).
    pub cors_allowed_origins: Vec<String>,
    /// The outbox relay publishes events as they commit (`OUTBOX_PUBLISH=relay`, the default), or it
    /// stays idle and the sweeper alone publishes (`OUTBOX_PUBLISH=sweeper`: to measure without the
    /// topic, or to test the sweeper).
    pub outbox_relay: bool,
    /// The payment provider's API; only the payment worker has it.
    pub payment_provider_url: Option<String>,
    /// How many WebSocket connections one user may hold at once.
    pub ws_max_connections_per_user: u32,
    /// Ledger transactions a settlement counts per batch (and per progress step); only the settlement
    /// function reads it.
    pub settlement_batch_size: i64,
    /// How many slices of its range a settlement walks at once, each on its own connection; one more
    /// counts the total and one records progress meanwhile, so it is at most `DATABASE_POOL_SIZE` - 2.
    /// Only the settlement function reads it.
    pub settlement_walkers: usize,
    /// How long a settlement run holds its job without renewing it; a run that died frees the job this
    /// long after its last batch. Only the settlement function reads it.
    pub settlement_lease: std::time::Duration,
    /// The first admin, created by the migrate function when absent; only that function has it.
    pub first_admin: Option<Credential>,
    pub pool: PoolSettings,
    /// `DATABASE_PROXY_HOST`: an RDS Proxy to connect through instead of the database secret's host.
    pub database_proxy_host: Option<String>,
    /// Months of raw events kept in Postgres; older months are archived to S3 and dropped. Only the
    /// archive function reads it.
    pub metrics_retention_months: u32,
}

const DEFAULT_METRICS_RETENTION_MONTHS: u32 = 24;

const DEFAULT_SETTLEMENT_BATCH_SIZE: i64 = 10_000;
const DEFAULT_SETTLEMENT_WALKERS: usize = 2;
const DEFAULT_SETTLEMENT_LEASE_SECONDS: u64 = 120;

/// Where a secret comes from: a Secrets Manager secret (in AWS), or the value itself (the local stack's
/// and tests' documented overrides). Its `Debug` never shows a value.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The ARN (or name) of a Secrets Manager secret whose value is a JSON object.
    Secret(String),
    /// The value, given directly.
    Given(SecretString),
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
        let get = |key: &str| get(key).filter(|v| !v.is_empty());
        let required = |key: &'static str| get(key).ok_or(ConfigError::Missing(key));
        // `<SECRET>_SECRET_ARN` in AWS; the value itself under the override's name, locally.
        let credential = |secret_arn: &str, given: &str| match (get(secret_arn), get(given)) {
            (_, Some(value)) => Some(Credential::Given(value.into())),
            (Some(arn), None) => Some(Credential::Secret(arn)),
            (None, None) => None,
        };
        let mut pool = PoolSettings::default();
        if let Some(size) = get("DATABASE_POOL_SIZE").and_then(|s| s.parse().ok()) {
            pool.max_size = size;
        }
        if let Some(seconds) = get("DATABASE_POOL_WAIT_SECONDS").and_then(|s| s.parse().ok()) {
            pool.wait = std::time::Duration::from_secs(seconds);
        }
        Ok(Self {
            database: credential("DATABASE_SECRET_ARN", "DATABASE_URL"),
            order_events_topic_arn: required("ORDER_EVENTS_TOPIC_ARN")?,
            artifacts_bucket: required("ARTIFACTS_BUCKET")?,
            websocket_management_endpoint: required("WEBSOCKET_MANAGEMENT_ENDPOINT")?,
            health_queue_urls: list(get("HEALTH_QUEUE_URLS")),
            ws_push_queue_url: get("WS_PUSH_QUEUE_URL"),
            jwt_signing_key: credential("JWT_SECRET_ARN", "JWT_SIGNING_KEY"),
            cors_allowed_origins: list(get("CORS_ALLOWED_ORIGINS")),
            first_admin: get("ADMIN_SECRET_ARN").map(Credential::Secret),
            payment_provider_url: get("PAYMENT_PROVIDER_URL"),
            outbox_relay: match get("OUTBOX_PUBLISH").as_deref() {
                None | Some("relay") => true,
                Some("sweeper") => false,
                Some(_) => {
                    return Err(ConfigError::Invalid(
                        "OUTBOX_PUBLISH must be relay or sweeper",
                    ));
                }
            },
            ws_max_connections_per_user: match get("WS_MAX_CONNECTIONS_PER_USER") {
                Some(n) => n.parse().map_err(|_| {
                    ConfigError::Invalid("WS_MAX_CONNECTIONS_PER_USER must be a number")
                })?,
                None => DEFAULT_WS_CONNECTIONS_PER_USER,
            },
            settlement_batch_size: match get("SETTLEMENT_BATCH_SIZE") {
                Some(n) => n
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or(ConfigError::Invalid(
                        "SETTLEMENT_BATCH_SIZE must be a number from 1 to 1000000",
                    ))?,
                None => DEFAULT_SETTLEMENT_BATCH_SIZE,
            },
            settlement_walkers: match get("SETTLEMENT_WALKERS") {
                Some(n) => n
                    .parse()
                    .ok()
                    .filter(|n| (1..=pool.max_size.saturating_sub(2)).contains(n))
                    .ok_or(ConfigError::Invalid(
                        "SETTLEMENT_WALKERS must be a number from 1 to DATABASE_POOL_SIZE - 2",
                    ))?,
                None => DEFAULT_SETTLEMENT_WALKERS
                    .min(pool.max_size.saturating_sub(2))
                    .max(1),
            },
            settlement_lease: std::time::Duration::from_secs(
                match get("SETTLEMENT_LEASE_SECONDS") {
                    Some(n) => n.parse().ok().filter(|n| (1..=3_600).contains(n)).ok_or(
                        ConfigError::Invalid(
                            "SETTLEMENT_LEASE_SECONDS must be a number from 1 to 3600",
                        ),
                    )?,
                    None => DEFAULT_SETTLEMENT_LEASE_SECONDS,
                },
            ),
            pool,
            database_proxy_host: get("DATABASE_PROXY_HOST"),
            metrics_retention_months: match get("METRICS_RETENTION_MONTHS") {
                Some(n) => n.parse().ok().filter(|n| (1..=1_200).contains(n)).ok_or(
                    ConfigError::Invalid(
                        "METRICS_RETENTION_MONTHS must be a number from 1 to 1200",
                    ),
                )?,
                None => DEFAULT_METRICS_RETENTION_MONTHS,
            },
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
        (
            "DATABASE_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:db",
        ),
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
        assert!(matches!(&config.database, Some(Credential::Secret(arn)) if arn.ends_with(":db")));
        assert!(config.jwt_signing_key.is_none() && config.first_admin.is_none());
    }

    #[test]
    fn names_the_missing_variable() {
        let without_topic: Vec<_> = COMPLETE
            .iter()
            .copied()
            .filter(|(k, _)| *k != "ORDER_EVENTS_TOPIC_ARN")
            .collect();
        assert_eq!(
            Config::from_lookup(lookup(&without_topic)).unwrap_err(),
            ConfigError::Missing("ORDER_EVENTS_TOPIC_ARN")
        );
    }

    #[test]
    fn a_given_value_overrides_the_secret_and_never_shows_in_debug() {
        let mut pairs = COMPLETE.to_vec();
        pairs.push(("DATABASE_URL", "postgres://app:hunter2@db/orderly"));
        pairs.push(("JWT_SIGNING_KEY", "a-signing-key-of-thirty-two-bytes!!"));
        let config = Config::from_lookup(lookup(&pairs)).unwrap();
        assert!(matches!(config.database, Some(Credential::Given(_))));
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("thirty-two"),
            "{shown}"
        );
    }

    #[test]
    fn settlement_walkers_leave_connections_for_the_count_and_the_progress() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = COMPLETE.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(lookup(&pairs))
        };
        assert_eq!(with(&[]).unwrap().settlement_walkers, 2);
        assert_eq!(
            with(&[("DATABASE_POOL_SIZE", "3")])
                .unwrap()
                .settlement_walkers,
            1,
            "the default shrinks to fit a small pool"
        );
        assert_eq!(
            with(&[("SETTLEMENT_WALKERS", "1")])
                .unwrap()
                .settlement_walkers,
            1
        );
        for refused in ["0", "3", "many"] {
            assert!(
                matches!(
                    with(&[("SETTLEMENT_WALKERS", refused)]),
                    Err(ConfigError::Invalid(_))
                ),
                "{refused}"
            );
        }
    }
}

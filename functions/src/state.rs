use std::time::Instant;

use orderly_cloud::{
    ApiGatewayConnections, CloudError, S3Bucket, SecretsManager, SnsTopic, SqsQueues,
    lambda_sdk_config,
};
use orderly_store::{PgConfig, Pool, StoreError};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::config::{Config, Credential};
use crate::services::payment_provider::HttpPaymentProvider;

/// HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2).
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// Everything a function needs besides its event, built once per instance (cold start) and shared by
/// every invocation that instance serves.
pub struct State {
    pub config: Config,
    pub db: Pool,
    pub queues: SqsQueues,
    pub bucket: S3Bucket,
    pub topic: SnsTopic,
    pub connections: ApiGatewayConnections,
    pub payments: Option<HttpPaymentProvider>,
    /// The access-token key, for the functions that were given one.
    pub signing_key: Option<SecretBox<[u8]>>,
    /// The first admin's email and password, for the migrate function only.
    pub first_admin: Option<(String, SecretString)>,
    pub started: Instant,
}

#[derive(Debug, Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read a secret: {0}")]
    Secret(#[from] CloudError),
    #[error("AWS SDK configuration: {0}")]
    Sdk(String),
    #[error("secret {secret}: {problem}")]
    BadSecret {
        secret: &'static str,
        problem: &'static str,
    },
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A database secret is `{"url": "postgres://…"}`, or the shape RDS and Secrets Manager rotation use:
/// `{"username", "password", "host", "port", "dbname"}`.
fn database_config(fields: &Map<String, Value>) -> Result<PgConfig, StateError> {
    let bad = |problem| StateError::BadSecret {
        secret: "database",
        problem,
    };
    if let Some(url) = text(fields, "url") {
        return url.parse().map_err(|_| bad("`url` is not a Postgres URL"));
    }
    let field = |key| text(fields, key).ok_or(bad("needs `url`, or username, password and host"));
    let mut config = PgConfig::new();
    config
        .user(field("username")?)
        .password(field("password")?)
        .host(field("host")?)
        .dbname(text(fields, "dbname").unwrap_or_else(|| "orderly".to_owned()));
    if let Some(port) = text(fields, "port") {
        config.port(port.parse().map_err(|_| bad("`port` is not a number"))?);
    }
    Ok(config)
}

/// The same login and database, reached through an RDS Proxy at `proxy` (which listens on the database's
/// port and authenticates with the same secret).
fn through_proxy(database: &PgConfig, proxy: &str) -> PgConfig {
    let mut config = PgConfig::new();
    config.host(proxy).ssl_mode(database.get_ssl_mode());
    if let Some(user) = database.get_user() {
        config.user(user);
    }
    if let Some(password) = database.get_password() {
        config.password(password);
    }
    if let Some(dbname) = database.get_dbname() {
        config.dbname(dbname);
    }
    if let Some(port) = database.get_ports().first() {
        config.port(*port);
    }
    config
}

impl State {
    pub async fn new(config: Config) -> Result<Self, StateError> {
        let sdk = lambda_sdk_config().map_err(StateError::Sdk)?;
        let secrets = SecretsManager::new(&sdk);
        let db = match &config.database {
            None => orderly_store::unconfigured(),
            Some(Credential::Given(url)) => {
                orderly_store::connect(url.expose_secret(), config.pool)?
            }
            Some(Credential::Secret(arn)) => {
                let database = database_config(&secrets.json(arn).await?)?;
                let target = match &config.database_proxy_host {
                    Some(proxy) => through_proxy(&database, proxy),
                    None => database,
                };
                orderly_store::connect_with(target, config.pool)?
            }
        };
        let signing_key = match &config.jwt_signing_key {
            None => None,
            Some(Credential::Given(key)) => Some(key.expose_secret().to_owned()),
            Some(Credential::Secret(arn)) => Some(
                text(&secrets.json(arn).await?, "signing_key").ok_or(StateError::BadSecret {
                    secret: "jwt",
                    problem: "needs `signing_key`",
                })?,
            ),
        };
        if signing_key
            .as_ref()
            .is_some_and(|k| k.len() < MIN_SIGNING_KEY_BYTES)
        {
            return Err(StateError::BadSecret {
                secret: "jwt",
                problem: "the signing key must be at least 32 bytes",
            });
        }
        let first_admin = match &config.first_admin {
            Some(Credential::Secret(arn)) => {
                let fields = secrets.json(arn).await?;
                match (text(&fields, "email"), text(&fields, "password")) {
                    (Some(email), Some(password)) => Some((email, password.into())),
                    _ => {
                        return Err(StateError::BadSecret {
                            secret: "first admin",
                            problem: "needs `email` and `password`",
                        });
                    }
                }
            }
            _ => None,
        };
        Ok(Self {
            db,
            queues: SqsQueues::new(&sdk),
            bucket: S3Bucket::new(&sdk, &config.artifacts_bucket),
            topic: SnsTopic::new(&sdk, &config.order_events_topic_arn),
            connections: ApiGatewayConnections::new(&sdk, &config.websocket_management_endpoint),
            payments: config
                .payment_provider_url
                .as_deref()
                .map(HttpPaymentProvider::new),
            signing_key: signing_key.map(|k| SecretBox::new(k.into_bytes().into_boxed_slice())),
            first_admin,
            started: Instant::now(),
            config,
        })
    }

    /// The access-token key: a function configured without one cannot issue or check tokens.
    pub fn signing_key(&self) -> Option<&[u8]> {
        self.signing_key.as_ref().map(|k| k.expose_secret())
    }

    /// The instance lives as long as the process, so its state does too; a `'static` reference lets
    /// handlers borrow it across `.await` without reference counting.
    pub fn leak(self) -> &'static State {
        Box::leak(Box::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_database_secret_is_a_url_or_the_rds_fields() {
        let url = database_config(&fields(json!({"url": "postgres://a:b@db:6432/x"}))).unwrap();
        assert_eq!((url.get_user(), url.get_ports()), (Some("a"), &[6432][..]));
        let rds = database_config(&fields(json!({
            "username": "orderly_app", "password": "p@ss:w/rd", "host": "db.internal", "port": 5432, "dbname": "orderly"
        })))
        .unwrap();
        assert_eq!(rds.get_password(), Some(&b"p@ss:w/rd"[..]));
        assert_eq!(rds.get_dbname(), Some("orderly"));
        assert!(database_config(&fields(json!({"username": "x"}))).is_err());
    }

    #[test]
    fn through_a_proxy_only_the_host_changes() {
        let direct = database_config(&fields(json!({
            "username": "orderly_app", "password": "pw", "host": "db.internal", "port": 5433, "dbname": "orderly"
        })))
        .unwrap();
        let proxied = through_proxy(&direct, "orderly.proxy-abc.eu-west-1.rds.amazonaws.com");
        assert_eq!(
            proxied.get_hosts(),
            &[tokio_postgres::config::Host::Tcp(
                "orderly.proxy-abc.eu-west-1.rds.amazonaws.com".into()
            )]
        );
        assert_eq!(
            (
                proxied.get_user(),
                proxied.get_password(),
                proxied.get_dbname(),
                proxied.get_ports()
            ),
            (
                Some("orderly_app"),
                Some(&b"pw"[..]),
                Some("orderly"),
                &[5433][..]
            )
        );
    }
}

//! The secrets the template's functions read at cold start, made in the emulator's Secrets Manager from
//! the local stack's own settings, so functions fetch them exactly as in AWS. And the database's runtime
//! login, which in AWS whoever provisions the database makes (docs/security.md).

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use serde_json::json;
use tokio_postgres::NoTls;

/// What the local stack knows and turns into secrets.
pub struct LocalSecrets {
    /// The URL the stack was given (`DATABASE_URL`): it owns the schema and runs migrations.
    pub owner_url: String,
    pub jwt_signing_key: String,
    pub admin_email: String,
    pub admin_password: String,
}

/// The runtime role's login for this database: a member of `orderly_runtime` (rows only, no DDL), with a
/// fresh password each start. One per database, so stacks sharing a cluster do not clobber each other.
/// Returns the login's secret value, or `None` when the owner may not create roles (then the functions
/// use the owner's credentials, and the stack says so).
async fn runtime_login(owner_url: &str) -> Result<Option<serde_json::Value>, String> {
    let config: tokio_postgres::Config = owner_url
        .parse()
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| format!("cannot reach the database: {e}"))?;
    tokio::spawn(connection);
    let database = config.get_dbname().unwrap_or("postgres");
    let login: String = format!("orderly_app_{database}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    let password: String = (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random_range(0..36)]))
        .collect();
    // Role names and passwords cannot be bound as parameters; both are made of [a-z0-9_] above.
    let statements = format!(
        "DO $$ BEGIN CREATE ROLE orderly_runtime NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         DO $$ BEGIN CREATE ROLE {login} LOGIN IN ROLE orderly_runtime; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         ALTER ROLE {login} LOGIN PASSWORD '{password}';"
    );
    if let Err(e) = client.batch_execute(&statements).await {
        tracing::warn!(error = %e, "cannot create the runtime database login; functions will use the owner's credentials");
        return Ok(None);
    }
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    // The shape RDS gives its secrets, so that path is the one exercised locally.
    Ok(Some(json!({
        "username": login,
        "password": password,
        "host": host,
        "port": config.get_ports().first().copied().unwrap_or(5432),
        "dbname": database,
    })))
}

/// Creates (or updates) the secrets and returns template parameter name → secret ARN.
pub async fn provision(
    sdk: &SdkConfig,
    local: &LocalSecrets,
) -> Result<HashMap<String, String>, String> {
    let runtime = runtime_login(&local.owner_url)
        .await?
        .unwrap_or_else(|| json!({"url": local.owner_url}));
    let values = [
        ("DatabaseSecretArn", "orderly-local/database", runtime),
        (
            "DatabaseOwnerSecretArn",
            "orderly-local/database-owner",
            json!({"url": local.owner_url}),
        ),
        (
            "JwtSecretArn",
            "orderly-local/jwt",
            json!({"signing_key": local.jwt_signing_key}),
        ),
        (
            "AdminSecretArn",
            "orderly-local/first-admin",
            json!({"email": local.admin_email, "password": local.admin_password}),
        ),
    ];
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let mut arns = HashMap::new();
    for (parameter, name, value) in values {
        let created = client
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await;
        let arn = match created {
            Ok(output) => output.arn,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_exists_exception()) =>
            {
                client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value.to_string())
                    .send()
                    .await
                    .map_err(|e| format!("secret {name}: {}", DisplayErrorContext(e)))?
                    .arn
            }
            Err(e) => return Err(format!("secret {name}: {}", DisplayErrorContext(e))),
        };
        arns.insert(
            parameter.to_owned(),
            arn.ok_or_else(|| format!("secret {name} has no ARN"))?,
        );
    }
    Ok(arns)
}

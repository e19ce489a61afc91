use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
};
use tokio_postgres::NoTls;

use crate::StoreError;

/// Pool sizing for one function instance. A Lambda instance serves one request at a time, so a few
/// connections suffice; the local gateway runs every function in one process and wants more.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_size: usize,
    /// How long a caller waits for a free connection or a new one before the request fails.
    pub wait: Duration,
    /// A connection handed out less than this long ago is handed out again without a round trip to
    /// check it; one idle longer is checked first.
    pub verify_after_idle: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 4,
            wait: Duration::from_secs(5),
            verify_after_idle: VERIFY_AFTER_IDLE,
        }
    }
}

/// The default `verify_after_idle`. HikariCP skips its check for 500 ms the same way
/// (`aliveBypassWindowMs`).
pub const VERIFY_AFTER_IDLE: Duration = Duration::from_millis(500);

/// Builds the pool once per instance. No connection is opened here: the first query opens one, so a cold
/// start does not pay for the database until it needs it.
pub fn connect(database_url: &str, settings: PoolSettings) -> Result<Pool, StoreError> {
    let config: tokio_postgres::Config = database_url.parse().map_err(StoreError::BadUrl)?;
    connect_with(config, settings)
}

/// A pool for a function that was given no database credentials (least privilege): every attempt to use
/// it fails, saying so.
pub fn unconfigured() -> Pool {
    let mut config = tokio_postgres::Config::new();
    config.dbname("this function has no database credentials");
    connect_with(config, PoolSettings::default()).expect("a pool without hosts builds")
}

pub fn connect_with(
    mut config: tokio_postgres::Config,
    settings: PoolSettings,
) -> Result<Pool, StoreError> {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(settings.wait);
    }
    config.application_name("orderly");
    // A closed connection is never handed out (`Fast` checks that), and one that sat idle is verified
    // with a trivial query first, so a pool that outlived a database restart or a dropped network path
    // heals instead of failing the next request. One handed out moments ago is not verified again: that
    // was a round trip on every request under load (docs/adr/0016).
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let (verify_wait, verify_after_idle) = (settings.wait, settings.verify_after_idle);
    Pool::builder(manager)
        .pre_recycle(Hook::async_fn(move |client, metrics| {
            Box::pin(async move {
                if metrics.last_used() < verify_after_idle {
                    return Ok(());
                }
                match tokio::time::timeout(verify_wait, client.simple_query("")).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(HookError::Backend(e)),
                    Err(_) => Err(HookError::message("no answer to the idle check")),
                }
            })
        }))
        .max_size(settings.max_size)
        .runtime(Runtime::Tokio1)
        .timeouts(Timeouts {
            wait: Some(settings.wait),
            create: Some(settings.wait),
            recycle: Some(settings.wait),
        })
        .build()
        .map_err(|e| match e {
            deadpool_postgres::BuildError::NoRuntimeSpecified => {
                unreachable!("the runtime is set above")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fresh_database;

    async fn backend_pid(pool: &Pool) -> i32 {
        let client = pool.get().await.unwrap();
        client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    }

    #[tokio::test]
    async fn a_connection_the_server_ended_is_checked_and_replaced_not_handed_out() {
        let db = fresh_database().await;
        // One connection, so that the next request gets that one or a new one; checked however recently
        // used (within the shipped 500 ms a connection ended this fast may be handed out once: the client
        // may not have read the server's goodbye yet, and this test fails that way without the check).
        let one_always_checked = PoolSettings {
            max_size: 1,
            verify_after_idle: Duration::ZERO,
            ..PoolSettings::default()
        };
        let pool = connect(&db.url, one_always_checked).unwrap();
        let first = backend_pid(&pool).await;
        // Ended from elsewhere, as a restart or a failover would.
        let ended: bool = db
            .pool
            .get()
            .await
            .unwrap()
            .query_one("SELECT pg_terminate_backend($1)", &[&first])
            .await
            .unwrap()
            .get(0);
        assert!(ended);
        let second = backend_pid(&pool).await;
        assert_ne!(
            first, second,
            "a new connection, and the query on it worked"
        );
    }
}

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use crate::StoreError;

/// Pool sizing for one function instance. A Lambda instance serves one request at a time, so a few
/// connections suffice; the local gateway runs every function in one process and wants more.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_size: usize,
    /// How long a caller waits for a free connection or a new one before the request fails.
    pub wait: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_size: 4,
            wait: Duration::from_secs(5),
        }
    }
}

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
    // `Verified` runs a trivial query before handing out a recycled connection, so a pool that outlived
    // a database restart heals instead of failing the next request.
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Verified,
        },
    );
    Pool::builder(manager)
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

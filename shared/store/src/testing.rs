//! An isolated, migrated database per test, so integration tests run in parallel against one server.
//!
//! The first test of a run migrates a template database (named after the migrations' checksums, so a
//! changed migration makes a new one); every test then clones it with `CREATE DATABASE … TEMPLATE`, which
//! costs milliseconds instead of a full migration.

use std::hash::{Hash, Hasher};

use deadpool_postgres::Pool;
use tokio_postgres::NoTls;

use crate::{PoolSettings, connect, migrations};

pub struct TestDatabase {
    pub pool: Pool,
    /// URL of this test's own database.
    pub url: String,
    pub name: String,
}

/// The server to create test databases on: `TEST_DATABASE_URL`, else `DATABASE_URL`, else this
/// checkout's private cluster, started (and, on a fresh machine, installed) by the same script `make dev`
/// uses, so a plain `cargo test` works on a fresh clone.
pub fn server_url() -> String {
    static PRIVATE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Ok(url) = std::env::var("TEST_DATABASE_URL").or_else(|_| std::env::var("DATABASE_URL")) {
        return url;
    }
    PRIVATE
        .get_or_init(|| {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../infra/scripts/postgres.sh"
            );
            let status = std::process::Command::new(script)
                .arg("start")
                .status()
                .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
            assert!(
                status.success(),
                "{script} start failed; or set TEST_DATABASE_URL to a Postgres server"
            );
            let port = std::env::var("ORDERLY_PG_PORT").unwrap_or_else(|_| "15432".to_owned());
            format!("postgres://postgres@127.0.0.1:{port}/postgres")
        })
        .clone()
}

fn with_database(url: &str, database: &str) -> String {
    let mut config: tokio_postgres::Config = url.parse().expect("a valid Postgres URL");
    config.dbname(database);
    // tokio_postgres::Config has no Display; rebuild a URL from what the tests use.
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string().replace('/', "%2F"),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{database}")
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&with_database(url, "postgres"), NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test Postgres server: {e}"));
    tokio::spawn(connection);
    client
}

fn template_name() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for m in migrations::embedded_checksums() {
        m.hash(&mut hasher);
    }
    format!("orderly_template_{:016x}", hasher.finish())
}

async fn ensure_template(server: &str, admin: &tokio_postgres::Client) -> String {
    let template = template_name();
    // Serialise template creation across concurrently running test binaries.
    admin
        .execute("SELECT pg_advisory_lock(4242)", &[])
        .await
        .unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap();
    if exists.is_none() {
        admin
            .batch_execute(&format!("CREATE DATABASE {template}"))
            .await
            .unwrap();
        let pool = connect(&with_database(server, &template), PoolSettings::default()).unwrap();
        migrations::apply(&pool)
            .await
            .expect("migrations apply to an empty database");
        pool.close();
    }
    admin
        .execute("SELECT pg_advisory_unlock(4242)", &[])
        .await
        .unwrap();
    template
}

pub async fn fresh_database() -> TestDatabase {
    let server = server_url();
    let admin = admin_client(&server).await;
    let template = ensure_template(&server, &admin).await;
    let name = format!("orderly_test_{}", uuid::Uuid::now_v7().simple());
    // A clone fails while another session is connected to the template; only template creation connects,
    // and it has finished, but a slow backend exit can linger for a moment.
    let mut attempt = 0;
    loop {
        match admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
        {
            Ok(()) => break,
            Err(e)
                if attempt < 50
                    && e.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot create test database {name}: {e}"),
        }
    }
    let url = with_database(&server, &name);
    let pool = connect(&url, PoolSettings::default()).unwrap();
    TestDatabase { pool, url, name }
}

/// A customer row to hang a test's data on; returns its id.
pub async fn user(pool: &Pool) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    pool.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO users (id, email, password_hash, name) VALUES ($1, $2, 'x', 'Test User')",
            &[&id, &format!("user-{}@example.test", id.simple())],
        )
        .await
        .unwrap();
    id
}

/// A user with a live session (one day); returns (user id, session id).
pub async fn signed_in(pool: &Pool) -> (uuid::Uuid, uuid::Uuid) {
    let user_id = user(pool).await;
    let session_id = uuid::Uuid::now_v7();
    pool.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')",
            &[&session_id, &user_id],
        )
        .await
        .unwrap();
    (user_id, session_id)
}

/// A live product of a new merchant with `available` units at `price_cents` EUR; returns its id.
pub async fn product(pool: &Pool, available: i32, price_cents: i64) -> uuid::Uuid {
    let (merchant, id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let client = pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO merchants (id, name) VALUES ($1, $2)",
            &[&merchant, &format!("Merchant {merchant}")],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO products (id, merchant_id, sku, name, price_cents, currency) VALUES ($1, $2, $3, 'Lamp', $4, 'EUR')",
            &[&id, &merchant, &format!("SKU-{}", id.simple()), &price_cents],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO inventory (product_id, available) VALUES ($1, $2)",
            &[&id, &available],
        )
        .await
        .unwrap();
    id
}

/// A `COMPLETED` order of `buyer`, written directly, with a line per `(product, quantity)` at the
/// product's price; returns its id.
pub async fn completed_order(
    pool: &Pool,
    buyer: uuid::Uuid,
    lines: &[(uuid::Uuid, i32)],
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    let client = pool.get().await.unwrap();
    client
        .execute(
            "INSERT INTO orders (id, user_id, status, total_cents, currency, expires_at)
             VALUES ($1, $2, 'COMPLETED', 0, 'EUR', now())",
            &[&id, &buyer],
        )
        .await
        .unwrap();
    for (product_id, quantity) in lines {
        client
            .execute(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
                 SELECT $1, id, $3, price_cents FROM products WHERE id = $2",
                &[&id, product_id, quantity],
            )
            .await
            .unwrap();
    }
    id
}

/// A product's (available, reserved, sold).
pub async fn stock(pool: &Pool, product: uuid::Uuid) -> (i32, i32, i32) {
    let row = pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT available, reserved, sold FROM inventory WHERE product_id = $1",
            &[&product],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Waits until some session of this pool's database is blocked on a lock (another transaction holds what
/// it wants); panics after three seconds.
pub async fn until_blocked(pool: &Pool) {
    let client = pool.get().await.unwrap();
    for _ in 0..300 {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no transaction ever waited for another's lock");
}

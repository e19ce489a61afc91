//! Health when Postgres goes away and comes back. Runs on its own, after the other end-to-end tests,
//! because it stops the database the whole stack shares; `make test` runs it last.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use orderly_e2e::{Stack, eventually};
use serde_json::{Value, json};

fn postgres(action: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/scripts/postgres.sh");
    let status = Command::new(script)
        .arg(action)
        .status()
        .expect("run postgres.sh");
    assert!(status.success(), "postgres.sh {action} failed");
}

async fn health(stack: &Stack) -> (u16, Value) {
    let response = stack
        .http
        .get(format!("{}/health", stack.api))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn health_is_503_naming_the_database_while_postgres_is_down_and_recovers() {
    let stack = Stack::from_env();
    assert_eq!(health(&stack).await.0, 200);

    postgres("stop");
    let (status, body) = health(&stack).await;
    postgres("start");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["failing"], json!(["database"]));
    assert_eq!(
        body["checks"],
        json!({"database": "unhealthy", "queues": "healthy", "storage": "healthy"})
    );

    // The pool heals once Postgres is back: no restart of the stack needed.
    eventually(
        "health to be 200 again",
        Duration::from_secs(30),
        || async { (health(&stack).await.0 == 200).then_some(()) },
    )
    .await;
}

//! Health when Postgres goes away and comes back. Runs on its own, because it stops the database the whole
//! stack shares: `make test` runs it after the other suites and before the order load tests, whose backlog
//! would take minutes to drain first.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use orderly_e2e::{Stack, eventually};
use serde_json::json;

fn postgres(action: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/scripts/postgres.sh");
    let status = Command::new(script)
        .arg(action)
        .status()
        .expect("run postgres.sh");
    assert!(status.success(), "postgres.sh {action} failed");
}

/// Waits until no queue of the stack holds a message, visible or in flight.
async fn drained(stack: &Stack) {
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    eventually("every queue to drain", Duration::from_secs(180), || async {
        let queues = sqs.list_queues().send().await.ok()?;
        for url in queues.queue_urls() {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(ApproximateNumberOfMessages)
                .attribute_names(ApproximateNumberOfMessagesNotVisible)
                .send()
                .await
                .ok()?;
            let held: u64 = attributes
                .attributes()?
                .values()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum();
            // A dead-letter queue keeps what it holds; only the working queues must empty.
            if held > 0 && !url.to_lowercase().contains("dlq") {
                return None;
            }
        }
        Some(())
    })
    .await;
}

#[tokio::test]
async fn health_is_503_naming_the_database_while_postgres_is_down_and_recovers() {
    let stack = Stack::from_env();
    // The suites before this one may leave the emulator busy for a while (its queue and bucket checks can
    // time out): start from a healthy stack, whatever the time that takes.
    eventually(
        "the stack to be healthy before the outage",
        Duration::from_secs(120),
        || async { (stack.get_json("/health").await.0 == 200).then_some(()) },
    )
    .await;
    // ...and from drained queues: thousands of events failing and coming back at once keep the emulator
    // (one Python process on two cores) too busy to answer the health check's queue and bucket probes,
    // which would be a different outage from the one this test makes.
    drained(&stack).await;

    postgres("stop");
    // A check is shared for a few seconds, so the outage shows within that.
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (status, body) = stack.get_json("/health").await;
            if status != 200 {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    postgres("start");
    let (status, body) = outcome.expect("health reports the outage within 20 s");
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
        || async { (stack.get_json("/health").await.0 == 200).then_some(()) },
    )
    .await;
}

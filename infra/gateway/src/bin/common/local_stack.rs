//! What the benchmark and the chaos run both need of a running local stack: an SQS client on its
//! emulator, its queues, waiting until every event is published and every queue but the dead-letter
//! ones is empty, and the durability Postgres runs with. Included by both binaries with `#[path]`.

use std::time::{Duration, Instant};

pub async fn sqs_client() -> aws_sdk_sqs::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        format!(
            "http://127.0.0.1:{}",
            std::env::var("ORDERLY_EMULATOR_PORT")
                .expect("AWS_ENDPOINT_URL or ORDERLY_EMULATOR_PORT")
        )
    });
    let config = orderly_cloud::sdk_config_loader()
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into()),
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
            None,
            None,
            "orderly-tools",
        ))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

fn is_dead_letter_queue(url: &str) -> bool {
    url.to_ascii_lowercase().contains("dlq") || url.contains("DeadLetter")
}

/// The URLs of the working queues, or of the dead-letter ones.
pub async fn queues(sqs: &aws_sdk_sqs::Client, dead_letter: bool) -> Vec<String> {
    let listed = sqs.list_queues().send().await.expect("the queues");
    listed
        .queue_urls()
        .iter()
        .filter(|url| is_dead_letter_queue(url) == dead_letter)
        .cloned()
        .collect()
}

/// `fsync=… synchronous_commit=… full_page_writes=…`, as the database runs now: every figure about
/// speed or durability prints it.
pub async fn durability(db: &tokio_postgres::Client) -> String {
    let mut settings = Vec::new();
    for name in ["fsync", "synchronous_commit", "full_page_writes"] {
        let value: String = db
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .expect("a setting")
            .get(0);
        settings.push(format!("{name}={value}"));
    }
    settings.join(" ")
}

/// Work not done yet: outbox rows unpublished, messages in the working queues (visible or in flight).
#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    pub unpublished: i64,
    pub queued: i64,
}

/// Outbox rows not published yet.
pub async fn unpublished(db: &tokio_postgres::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        &[],
    )
    .await
    .expect("the outbox")
    .get(0)
}

pub async fn backlog(db: &tokio_postgres::Client, sqs: &aws_sdk_sqs::Client) -> Backlog {
    let unpublished = unpublished(db).await;
    let mut queued = 0i64;
    for url in queues(sqs, false).await {
        queued += messages(sqs, &url).await;
    }
    Backlog {
        unpublished,
        queued,
    }
}

/// Messages in a queue, visible and in flight.
pub async fn messages(sqs: &aws_sdk_sqs::Client, url: &str) -> i64 {
    use aws_sdk_sqs::types::QueueAttributeName;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("a queue's attributes");
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|name| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Waits until the backlog is empty, firing the outbox sweep meanwhile (it publishes rows older than its
/// grace); the seconds it took, or what was left after `at_most`.
pub async fn drain(
    db: &tokio_postgres::Client,
    sqs: &aws_sdk_sqs::Client,
    control: &str,
    at_most: Duration,
) -> Result<f64, Backlog> {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut last_sweep: Option<Instant> = None;
    loop {
        let left = backlog(db, sqs).await;
        if left.unpublished == 0 && left.queued == 0 {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > at_most {
            return Err(left);
        }
        if left.unpublished > 0 && last_sweep.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            let _ = http
                .post(format!("{control}/schedules/OutboxSweepFunction/fire"))
                .send()
                .await;
            last_sweep = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

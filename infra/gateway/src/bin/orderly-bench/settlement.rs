//! The settlement row of `make bench`: a month of 1,000,000 ledger transactions settled end to end
//! (`POST /jobs/settlement` → COMPLETED → the CSV downloaded through its presigned link), next to the
//! bare SQL aggregate of the same rows streamed with `COPY … TO STDOUT`, in the same run, alternating
//! A/B after the system has drained, medians and spread. Also the gateway's peak memory: every function
//! runs inside that one process, so it bounds the settlement function's.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use orderly_functions::ops::seed_transactions;
use serde_json::{Value, json};

use crate::env;
use crate::median;

const TRANSACTIONS: u64 = 1_000_000;
/// A month nothing else writes to, so the job settles exactly the seeded rows.
const MONTH: (i32, u32) = (2003, 1);
const ROUNDS: usize = 3;
/// How often the job is polled: what it adds to a run's time is at most this.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// The settlement function's `MemorySize` in template.yaml.
const MEMORY_SIZE_MB: u64 = 1024;

pub struct Row {
    pub end_to_end: Vec<f64>,
    pub baseline: Vec<f64>,
    pub peak_rss_mb: u64,
}

fn spread(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    (min, max)
}

pub async fn bench(client: &reqwest::Client, api: &str, admin_token: &str) -> Row {
    let url = env("DATABASE_URL");
    let pool = orderly_store::connect(&url, Default::default()).expect("a pool");
    let (mut db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the database");
    tokio::spawn(connection);
    let month = NaiveDate::from_ymd_opt(MONTH.0, MONTH.1, 1).expect("a month");
    let last_day = month
        .checked_add_months(chrono::Months::new(1))
        .and_then(|m| m.pred_opt())
        .expect("a last day");

    let merchants = seed_transactions::merchants(&pool)
        .await
        .expect("seed merchants");
    let progress = ProgressBar::new(TRANSACTIONS).with_style(
        ProgressStyle::with_template("  {prefix:<34} {bar:30} {pos}/{len} {per_sec}")
            .expect("a valid template"),
    );
    progress.set_prefix("ledger for the settlement row");
    seed_transactions::fill(&mut db, TRANSACTIONS, month, &merchants, |n| {
        progress.inc(n)
    })
    .await
    .expect("the ledger");
    progress.finish_and_clear();
    let (from, until) = orderly_domain::settlement::DayRange {
        from: month,
        to: last_day,
    }
    .instants();
    let baseline_sql = orderly_store::jobs::settlement_in_one_statement(from, until);

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let body = json!({"from": month.to_string(), "to": last_day.to_string()});
    let settle = async || {
        drained(&db).await;
        let started = Instant::now();
        let accepted: Value = client
            .post(format!("{api}/api/v1/jobs/settlement"))
            .bearer_auth(admin_token)
            .header("x-forwarded-for", "198.18.255.2")
            .json(&body)
            .send()
            .await
            .expect("POST /jobs/settlement")
            .json()
            .await
            .expect("a job");
        let job_id = accepted["job_id"].as_str().expect("a job id").to_owned();
        loop {
            let job: Value = client
                .get(format!("{api}/api/v1/jobs/{job_id}"))
                .bearer_auth(admin_token)
                .header("x-forwarded-for", "198.18.255.2")
                .send()
                .await
                .expect("GET /jobs/{id}")
                .json()
                .await
                .expect("a job");
            match job["status"].as_str() {
                Some("COMPLETED") => break,
                Some("QUEUED" | "RUNNING") => tokio::time::sleep(POLL_EVERY).await,
                // A slow run polls past the admin's per-user limit; wait as the answer says.
                None if job["error"]["code"] == "RATE_LIMITED" => {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                other => panic!("the settlement ended {other:?}: {job}"),
            }
        }
        let redirect = no_redirects
            .get(format!("{api}/api/v1/downloads/{job_id}.csv"))
            .bearer_auth(admin_token)
            .header("x-forwarded-for", "198.18.255.2")
            .send()
            .await
            .expect("the download");
        let location = redirect.headers()["location"]
            .to_str()
            .expect("a Location")
            .to_owned();
        let file = client
            .get(location)
            .send()
            .await
            .expect("the file")
            .text()
            .await
            .expect("its text");
        (started.elapsed().as_secs_f64(), file.lines().count())
    };
    let aggregate = async || {
        drained(&db).await;
        let started = Instant::now();
        let stream = db.copy_out(baseline_sql.as_str()).await.expect("COPY out");
        let mut stream = std::pin::pin!(stream);
        let mut text = Vec::new();
        while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
            text.extend_from_slice(&chunk.expect("a chunk"));
        }
        let lines = text.iter().filter(|b| **b == b'\n').count();
        (started.elapsed().as_secs_f64(), lines)
    };

    // Warm-up: one of each, not counted; both must produce the same number of lines.
    let (_, settled_lines) = settle().await;
    let (_, aggregate_lines) = aggregate().await;
    assert_eq!(
        settled_lines, aggregate_lines,
        "the settlement file and the baseline's output differ in length"
    );
    let (mut end_to_end, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        end_to_end.push(settle().await.0);
        baseline.push(aggregate().await.0);
    }
    let peak_rss_mb = gateway_peak_rss_mb(client).await;
    Row {
        end_to_end,
        baseline,
        peak_rss_mb,
    }
}

/// Waits until no job runs and every event is published: a measurement starts on a quiet system.
async fn drained(db: &tokio_postgres::Client) {
    for _ in 0..600 {
        let busy: i64 = db
            .query_one(
                "SELECT (SELECT count(*) FROM jobs WHERE status IN ('QUEUED', 'RUNNING'))
                      + (SELECT count(*) FROM outbox WHERE published_at IS NULL)",
                &[],
            )
            .await
            .expect("the drain check")
            .get(0);
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the system did not drain within a minute");
}

async fn gateway_peak_rss_mb(client: &reqwest::Client) -> u64 {
    let summary = crate::control_summary(client).await;
    summary["process"]["peak_rss_bytes"].as_u64().unwrap_or(0) / (1024 * 1024)
}

pub fn print(row: &Row) {
    let (e2e, base) = (median(&row.end_to_end), median(&row.baseline));
    let ((e_min, e_max), (b_min, b_max)) = (spread(&row.end_to_end), spread(&row.baseline));
    println!(
        "\nSettlement of {TRANSACTIONS} ledger transactions ({}-{:02}), median of {ROUNDS} alternating runs after a warm-up:",
        MONTH.0, MONTH.1
    );
    println!(
        "  end to end (POST → COMPLETED → CSV downloaded) {e2e:>7.2} s  (min {e_min:.2}, max {e_max:.2})"
    );
    println!(
        "  bare SQL aggregate + COPY TO STDOUT            {base:>7.2} s  (min {b_min:.2}, max {b_max:.2})"
    );
    println!(
        "  ratio end to end ÷ baseline: {:.2}× (goal ≤ 1.5×)",
        e2e / base
    );
    println!(
        "  gateway peak RSS {} MB: every function shares that process, so it bounds the settlement function's (MemorySize {MEMORY_SIZE_MB} MB)",
        row.peak_rss_mb
    );
}

/// `target/bench/settlement.csv`: one line per measurement, to compare across commits.
pub fn write(row: &Row, durability: &str) {
    let mut figures = Vec::new();
    for (side, values) in [("end_to_end", &row.end_to_end), ("baseline", &row.baseline)] {
        figures.push((format!("{side}_median_s"), median(values)));
        for (round, seconds) in values.iter().enumerate() {
            figures.push((format!("{side}_round{}_s", round + 1), *seconds));
        }
    }
    crate::summary::write_row("settlement", &figures, durability);
}

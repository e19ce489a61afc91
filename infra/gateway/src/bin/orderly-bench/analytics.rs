//! Tenant analytics at scale (`--analytics-only`): seeds 10 M events (`make seed-events`' own code) over
//! 1,000 merchants and 25 months, then times the seed's query (per enterprise merchant per day since the
//! first seeded day, every row) on the daily rollups next to the same query on the raw partitioned table,
//! alternating, and the API's first page through the stack. The plans go to
//! `target/bench/analytics-explain.txt`.

use crate::summary::named;
use std::time::{Duration, Instant};

use chrono::Utc;
use orderly_functions::ops::seed_events;
use orderly_store::metrics::{self, DailyFilter};

use crate::env;
use crate::median;

/// Events seeded; `BENCH_ANALYTICS_EVENTS` changes it (100,000,000 takes about ten minutes more).
fn events() -> i64 {
    std::env::var("BENCH_ANALYTICS_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000)
}
const ROLLUP_RUNS: usize = 10;
const RAW_RUNS: usize = 3;

pub struct Row {
    seeded: u64,
    seed_seconds: f64,
    rollup_ms: Vec<f64>,
    raw_ms: Vec<f64>,
    page_ms: Vec<f64>,
    rows: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

pub async fn bench(client: &reqwest::Client, api: &str, admin_token: &str) -> Row {
    let url = env("DATABASE_URL");
    let pool = orderly_store::connect(&url, Default::default()).expect("the database");
    let started = Instant::now();
    println!(
        "  seeding {} events (set-based SQL, a million a statement)…",
        events()
    );
    let seeded = seed_events::fill(&pool, events(), Utc::now(), |_| {})
        .await
        .expect("seeded");
    let seed_seconds = started.elapsed().as_secs_f64();
    let db = pool.get().await.expect("a connection");
    let _ = db.batch_execute("CHECKPOINT").await;
    let (start, _) = seed_events::span(Utc::now());
    let filter = DailyFilter {
        from: start.date_naive(),
        to: Utc::now().date_naive(),
        plan: Some("enterprise".into()),
        merchant_id: None,
        after: None,
        limit: i64::MAX,
    };
    let (mut rollup_ms, mut raw_ms, mut rows) = (Vec::new(), Vec::new(), 0);
    // Warm both (the first read of each loads its pages), then alternate.
    let _ = metrics::daily(&db, &filter).await.expect("rollups");
    let _ = metrics::daily_from_events(&db, &filter).await.expect("raw");
    for run in 0..ROLLUP_RUNS {
        let at = Instant::now();
        let found = metrics::daily(&db, &filter).await.expect("rollups");
        rollup_ms.push(ms(at.elapsed()));
        rows = found.len();
        if run < RAW_RUNS {
            let at = Instant::now();
            let raw = metrics::daily_from_events(&db, &filter).await.expect("raw");
            raw_ms.push(ms(at.elapsed()));
            assert_eq!(raw.len(), rows, "both queries find the same merchant days");
        }
    }
    let page_url = format!(
        "{api}/api/v1/admin/analytics/daily?from={}&to={}&plan=enterprise&limit=100",
        filter.from, filter.to
    );
    let mut page_ms = Vec::new();
    for _ in 0..ROLLUP_RUNS + 1 {
        let at = Instant::now();
        let answer = client
            .get(&page_url)
            .bearer_auth(admin_token)
            .header("x-forwarded-for", "198.18.255.5")
            .send()
            .await
            .expect("the stack answers");
        assert_eq!(answer.status(), 200);
        page_ms.push(ms(at.elapsed()));
    }
    page_ms.remove(0);
    explain(&db, &filter).await;
    Row {
        seeded,
        seed_seconds,
        rollup_ms: sorted(rollup_ms),
        raw_ms: sorted(raw_ms),
        page_ms: sorted(page_ms),
        rows,
    }
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of both forms, with the store's own statements.
async fn explain(db: &impl orderly_store::GenericClient, filter: &DailyFilter) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let mut text = format!(
        "The seed's query for enterprise merchants from {} to {} at {} events.\n",
        filter.from,
        filter.to,
        events()
    );
    for (label, raw) in [
        ("daily rollups (metric_days)", false),
        ("raw table (metric_events)", true),
    ] {
        let plan = metrics::explain_daily(db, filter, raw)
            .await
            .expect("a plan");
        text.push_str(&format!("\n-- {label}\n{plan}\n"));
    }
    let name = format!("analytics-explain-{}.txt", events());
    std::fs::write(dir.join(&name), &text).expect("the plans");
    std::fs::write(dir.join("analytics-explain.txt"), text).expect("analytics-explain.txt");
}

pub fn print(row: &Row) {
    println!(
        "\nanalytics: {} events over {} merchants and {} months ({} added in {:.0} s); the seed's query for enterprise merchants, {} merchant days",
        events(),
        seed_events::MERCHANT_COUNT,
        seed_events::MONTHS,
        row.seeded,
        row.seed_seconds,
        row.rows
    );
    let line = |label: &str, v: &[f64]| {
        println!(
            "  {label:<38} p50 {:>8.1} ms  max {:>8.1} ms  runs {}",
            median(v),
            v[v.len() - 1],
            v.len()
        )
    };
    line("daily rollups (every row)", &row.rollup_ms);
    line("raw metric_events (every row)", &row.raw_ms);
    line("API first page (100 rows, via gateway)", &row.page_ms);
    println!(
        "  ratio: the raw table takes {:.0}× the rollups (goal: under 1,000 ms at 100 M events)",
        median(&row.raw_ms) / median(&row.rollup_ms)
    );
}

pub fn write(row: &Row, durability: &str) {
    let figures = [
        ("events", events() as f64),
        ("merchant_days", row.rows as f64),
        ("rollup_p50_ms", median(&row.rollup_ms)),
        ("raw_p50_ms", median(&row.raw_ms)),
        ("page_p50_ms", median(&row.page_ms)),
        (
            "raw_over_rollup",
            median(&row.raw_ms) / median(&row.rollup_ms),
        ),
    ];
    crate::summary::write_row("analytics", &named(&figures), durability);
}

//! `make seed`: migrates the local database and fills it with demo data, then prints how to sign in.
//! `make seed-transactions N=… MONTH=YYYY-MM` (`orderly-seed transactions N YYYY-MM`): a ledger of N
//! transactions for settlement at scale.
//! `make seed-events N=…` (`orderly-seed events N`): N metric events over 1,000 merchants and 25 months,
//! for analytics at scale.

use std::time::Instant;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use orderly_functions::ops::seed::{CUSTOMERS, DEMO_PASSWORD, seed};
use orderly_functions::ops::seed_transactions;

fn is_local(url: &str) -> bool {
    ["@127.0.0.1", "@localhost", "@[::1]", "host=/"]
        .iter()
        .any(|h| url.contains(h))
        || !url.contains('@')
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if !is_local(&url) && std::env::var("ORDERLY_SEED_ANY_DATABASE").is_err() {
        return Err("refusing to put demo users with a known password into a non-local database (set ORDERLY_SEED_ANY_DATABASE=1 to insist)".into());
    }
    let pool = orderly_store::connect(&url, Default::default())?;
    orderly_store::migrations::apply(&pool).await?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("transactions") {
        return transactions(&pool, &url, &args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("events") {
        return events(&pool, &args[1..]).await;
    }
    let admin = match (
        std::env::var("ORDERLY_ADMIN_EMAIL"),
        std::env::var("ORDERLY_ADMIN_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) => Some((email, password)),
        _ => None,
    };
    let report = seed(&pool, admin.as_ref().map(|(e, p)| (e.as_str(), p.as_str()))).await?;
    println!(
        "Seeded: {} admin, {} customers, {} merchants, {} products created (the rest existed already).\n",
        u8::from(report.admin_created),
        report.customers_created,
        report.merchants_created,
        report.products_created
    );
    println!("  {:<28} {:<26} role", "email", "password");
    if let Some((email, password)) = &admin {
        println!("  {email:<28} {password:<26} admin");
    }
    for (email, _) in CUSTOMERS {
        println!("  {email:<28} {DEMO_PASSWORD:<26} customer");
    }
    println!(
        "\nSign in: curl -s localhost:3000/api/v1/auth/login -H 'content-type: application/json' \\\n  -d '{{\"email\":\"alice@example.com\",\"password\":\"{DEMO_PASSWORD}\"}}'"
    );
    Ok(())
}

/// Fills the ledger with `N` transactions over the month `YYYY-MM`, batch by batch with `COPY`.
async fn transactions(
    pool: &orderly_store::Pool,
    url: &str,
    args: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = match args.first() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("N must be a count, not `{n}`"))?,
        None => 1_000_000,
    };
    let month = args.get(1).map(String::as_str).unwrap_or("2026-01");
    let month = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| format!("MONTH must be YYYY-MM, not `{month}`"))?;
    let merchants = seed_transactions::merchants(pool).await?;
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let started = Instant::now();
    let progress = ProgressBar::new(count).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} transactions ({per_sec}, {eta} left)")
            .expect("a valid template"),
    );
    let added =
        seed_transactions::fill(&mut client, count, month, &merchants, |n| progress.inc(n)).await?;
    progress.finish_and_clear();
    println!(
        "Ledger: {added} of {count} transactions added over {} merchants in {} ({} s); the rest were there already.",
        merchants.len(),
        month.format("%Y-%m"),
        started.elapsed().as_secs()
    );
    println!(
        "Settle it: POST /api/v1/jobs/settlement {{\"from\":\"{}\",\"to\":\"{}\"}} as an admin.",
        month,
        month
            .checked_add_months(chrono::Months::new(1))
            .and_then(|m| m.pred_opt())
            .expect("a month has a last day")
    );
    Ok(())
}

/// Fills `metric_events` (and the day totals) with N events, a million per statement.
async fn events(
    pool: &orderly_store::Pool,
    args: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    use orderly_functions::ops::seed_events;
    let count: i64 = match args.first() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("N must be a count, not `{n}`"))?,
        None => 10_000_000,
    };
    let started = Instant::now();
    let progress = ProgressBar::new(count.max(0) as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events ({per_sec}, {eta} left)")
            .expect("a valid template"),
    );
    let added = seed_events::fill(pool, count, chrono::Utc::now(), |n| progress.inc(n)).await?;
    progress.finish_and_clear();
    println!(
        "Events: {added} of {count} added over {} merchants and {} months ({} s); the rest were there already.",
        seed_events::MERCHANT_COUNT,
        seed_events::MONTHS,
        started.elapsed().as_secs()
    );
    println!("Ask: GET /api/v1/admin/analytics/daily?from=…&to=…&plan=enterprise as an admin.");
    Ok(())
}

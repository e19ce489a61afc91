//! `make seed`: migrates the local database and fills it with demo data, then prints how to sign in.

use orderly_functions::ops::seed::{CUSTOMERS, DEMO_PASSWORD, seed};

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

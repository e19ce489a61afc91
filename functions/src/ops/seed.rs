//! Demo data for a local stack: the first admin, customers, merchants and products with stock.
//! Idempotent: whatever exists (by email, merchant name, SKU) is left as it is.

use orderly_domain::products::{NewProduct, ProductFields};
use orderly_domain::settlement::FeeSchedule;
use orderly_domain::users::Role;
use orderly_store::users::{self, NewUser};
use orderly_store::{Pool, StoreError, merchants, products};

use crate::services::passwords;

/// The password of every demo customer. Local demo data only: `make seed` refuses non-local databases.
pub const DEMO_PASSWORD: &str = "orderly-demo-password";

pub const CUSTOMERS: [(&str, &str); 3] = [
    ("alice@example.com", "Alice Example"),
    ("bob@example.com", "Bob Example"),
    ("carol@example.com", "Carol Example"),
];

const MERCHANTS: [&str; 2] = ["Northwind Traders", "Contoso Goods"];

/// (merchant index, sku, name, description, price in cents, stock, low-stock threshold)
const PRODUCTS: [(usize, &str, &str, &str, i64, i32, i32); 8] = [
    (
        0,
        "NW-LAMP-01",
        "Brass desk lamp",
        "A warm brass desk lamp with a linen shade",
        4999,
        120,
        10,
    ),
    (
        0,
        "NW-MUG-02",
        "Stoneware mug",
        "Hand-glazed, 350 ml",
        1499,
        500,
        50,
    ),
    (
        0,
        "NW-KETTLE-03",
        "Copper kettle",
        "1.2 l, for gas and induction",
        7900,
        40,
        5,
    ),
    (
        0,
        "NW-LIMITED-04",
        "Limited edition print",
        "Signed, numbered, 100 made",
        25000,
        100,
        10,
    ),
    (
        1,
        "CG-SHELF-01",
        "Walnut bookshelf",
        "Five shelves, oiled walnut",
        25900,
        15,
        3,
    ),
    (
        1,
        "CG-CHAIR-02",
        "Oak dining chair",
        "Solid oak, wax finish",
        12900,
        60,
        8,
    ),
    (
        1,
        "CG-RUG-03",
        "Wool rug",
        "160 x 230 cm, undyed wool",
        18900,
        4,
        5,
    ),
    (
        1,
        "CG-VASE-04",
        "Glass vase",
        "Mouth-blown, 30 cm",
        3900,
        0,
        2,
    ),
];

#[derive(Debug, Default)]
pub struct SeedReport {
    pub admin_created: bool,
    pub customers_created: usize,
    pub merchants_created: usize,
    pub products_created: usize,
}

async fn ensure_user(
    pool: &Pool,
    email: &str,
    password: &str,
    name: &str,
    role: Role,
) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    if users::find_credentials(&client, email).await?.is_some() {
        return Ok(false);
    }
    let password_hash = passwords::hash(password.to_owned())
        .await
        .map_err(|e| StoreError::Seed(e.to_string()))?;
    let new = NewUser {
        id: orderly_domain::new_id(),
        email,
        password_hash: &password_hash,
        name,
        role,
    };
    Ok(users::insert(&client, &new).await?.is_some())
}

pub async fn seed(pool: &Pool, admin: Option<(&str, &str)>) -> Result<SeedReport, StoreError> {
    let mut report = SeedReport::default();
    if let Some((email, password)) = admin {
        report.admin_created =
            ensure_user(pool, email, password, "Administrator", Role::Admin).await?;
    }
    for (email, name) in CUSTOMERS {
        report.customers_created +=
            usize::from(ensure_user(pool, email, DEMO_PASSWORD, name, Role::Customer).await?);
    }
    let mut merchant_ids = Vec::new();
    for name in MERCHANTS {
        let client = pool.get().await?;
        let merchant = match merchants::find_by_name(&client, name).await? {
            Some(existing) => existing,
            None => {
                report.merchants_created += 1;
                merchants::insert(
                    &client,
                    orderly_domain::new_id(),
                    name,
                    FeeSchedule::DEFAULT,
                    orderly_domain::merchants::Plan::Standard,
                )
                .await?
                .expect("the name was free a moment ago")
            }
        };
        merchant_ids.push(merchant.id);
    }
    for (merchant, sku, name, description, price_cents, stock, threshold) in PRODUCTS {
        let fields = ProductFields {
            merchant_id: merchant_ids[merchant],
            sku: sku.into(),
            name: name.into(),
            description: description.into(),
            price_cents,
            currency: "EUR".into(),
        };
        let new = NewProduct {
            fields,
            stock,
            low_stock_threshold: threshold,
        };
        let mut client = pool.get().await?;
        let tx = client.transaction().await?;
        // An existing SKU is refused by its unique constraint: that product is already seeded.
        if products::insert(&tx, orderly_domain::new_id(), &new)
            .await?
            .is_ok()
        {
            tx.commit().await?;
            report.products_created += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_store::testing::fresh_database;

    #[tokio::test]
    async fn seeding_twice_creates_everything_once() {
        let db = fresh_database().await;
        let first = seed(&db.pool, Some(("admin@example.test", "an admin password")))
            .await
            .unwrap();
        assert_eq!(
            (
                first.admin_created,
                first.customers_created,
                first.merchants_created,
                first.products_created
            ),
            (true, CUSTOMERS.len(), MERCHANTS.len(), PRODUCTS.len())
        );
        let second = seed(&db.pool, Some(("admin@example.test", "an admin password")))
            .await
            .unwrap();
        assert_eq!(
            (
                second.admin_created,
                second.customers_created,
                second.merchants_created,
                second.products_created
            ),
            (false, 0, 0, 0)
        );
        let client = db.pool.get().await.unwrap();
        let stock: i64 = client
            .query_one("SELECT sum(available)::bigint FROM inventory", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(stock, PRODUCTS.iter().map(|p| i64::from(p.5)).sum::<i64>());
        let (email, hash) = users::find_credentials(&client, "alice@example.com")
            .await
            .unwrap()
            .map(|(u, h)| (u.email, h))
            .unwrap();
        assert_eq!(email, "alice@example.com");
        assert!(passwords::verify(DEMO_PASSWORD.into(), Some(hash)).await);
    }
}

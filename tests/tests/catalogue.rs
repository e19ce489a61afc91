//! Merchants, products with ETags, inventory, low stock, audit, CORS, black box through the local gateway.

use orderly_e2e::{Stack, database};
use serde_json::json;

#[tokio::test]
async fn products_are_created_read_listed_and_filtered() {
    let stack = Stack::from_env();
    let (merchant_id, product) = stack.product(10).await;
    let id = product["id"].as_str().unwrap();
    assert_eq!(
        (product["version"].as_i64(), product["price_cents"].as_i64()),
        (Some(1), Some(4999))
    );

    let read = stack
        .call("GET", &format!("/api/v1/products/{id}"))
        .send()
        .await;
    assert_eq!((read.status, read.header("etag")), (200, Some("\"1\"")));
    assert_eq!(read.body["name"], "Desk lamp");

    let second = stack
        .call("POST", "/api/v1/products")
        .token(&stack.admin().await.access_token)
        .json(&json!({"merchant_id": merchant_id, "sku": format!("SKU-{}", uuid::Uuid::now_v7().simple()),
                      "name": "Walnut bookshelf", "price_cents": 25900, "currency": "EUR"}))
        .send()
        .await;
    assert_eq!(second.status, 201);

    let by_merchant = stack
        .call(
            "GET",
            &format!("/api/v1/products?merchant_id={merchant_id}&limit=1"),
        )
        .send()
        .await;
    assert_eq!(by_merchant.status, 200);
    assert_eq!(by_merchant.body["items"].as_array().unwrap().len(), 1);
    let cursor = by_merchant.body["next_cursor"]
        .as_str()
        .expect("a full page has a next cursor")
        .to_owned();
    let page_two = stack
        .call(
            "GET",
            &format!("/api/v1/products?merchant_id={merchant_id}&limit=1&cursor={cursor}"),
        )
        .send()
        .await;
    assert_eq!(page_two.body["items"][0]["id"], second.body["id"]);
    let page_three = stack
        .call(
            "GET",
            &format!(
                "/api/v1/products?merchant_id={merchant_id}&limit=1&cursor={}",
                page_two.body["next_cursor"].as_str().unwrap()
            ),
        )
        .send()
        .await;
    assert_eq!(
        (
            page_three.body["items"].as_array().unwrap().len(),
            &page_three.body["next_cursor"]
        ),
        (0, &json!(null))
    );

    let searched = stack
        .call(
            "GET",
            &format!("/api/v1/products?merchant_id={merchant_id}&q=walnut"),
        )
        .send()
        .await;
    let names: Vec<&str> = searched.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Walnut bookshelf"]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=bogus", "cursor"),
        ("merchant_id=42", "merchant_id"),
    ] {
        let bad = stack
            .call("GET", &format!("/api/v1/products?{query}"))
            .send()
            .await;
        assert_eq!(
            (
                bad.status,
                bad.body["error"]["details"][0]["field"].as_str()
            ),
            (422, Some(field)),
            "{query}"
        );
    }
    assert_eq!(
        stack
            .call("GET", "/api/v1/products/not-an-id")
            .send()
            .await
            .status,
        400
    );
    assert_eq!(
        stack
            .call(
                "GET",
                "/api/v1/products/018f0000-0000-7000-8000-000000000000"
            )
            .send()
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn product_input_is_validated_field_by_field_and_conflicts_are_409() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let invalid = stack
        .call("POST", "/api/v1/products")
        .token(&admin.access_token)
        .json(&json!({"sku": "has spaces", "price_cents": -5, "currency": "eur", "stock": -1}))
        .send()
        .await;
    assert_eq!(invalid.status, 422);
    let fields = invalid.error_fields();
    assert_eq!(
        fields,
        vec![
            "merchant_id",
            "sku",
            "name",
            "price_cents",
            "currency",
            "stock"
        ]
    );

    let wrong_type = stack
        .call("POST", "/api/v1/products")
        .token(&admin.access_token)
        .json(&json!({"price_cents": "12.50"}))
        .send()
        .await;
    assert_eq!(
        (
            wrong_type.status,
            wrong_type.body["error"]["details"][0]["field"].as_str()
        ),
        (422, Some("price_cents"))
    );

    let unknown_merchant = stack
        .call("POST", "/api/v1/products")
        .token(&admin.access_token)
        .json(&json!({"merchant_id": "018f0000-0000-7000-8000-000000000000", "sku": "X-1", "name": "X", "price_cents": 1, "currency": "EUR"}))
        .send()
        .await;
    assert_eq!(
        (
            unknown_merchant.status,
            unknown_merchant.body["error"]["details"][0]["field"].as_str()
        ),
        (422, Some("merchant_id"))
    );

    let (merchant_id, product) = stack.product(1).await;
    let duplicate = stack
        .call("POST", "/api/v1/products")
        .token(&admin.access_token)
        .json(&json!({"merchant_id": merchant_id, "sku": product["sku"], "name": "Copy", "price_cents": 1, "currency": "EUR"}))
        .send()
        .await;
    assert_eq!(
        (duplicate.status, duplicate.error_code()),
        (409, "SKU_TAKEN")
    );

    let name = format!("Unique merchant {}", uuid::Uuid::now_v7());
    let first = stack
        .call("POST", "/api/v1/admin/merchants")
        .token(&admin.access_token)
        .json(&json!({"name": name}))
        .send()
        .await;
    let second = stack
        .call("POST", "/api/v1/admin/merchants")
        .token(&admin.access_token)
        .json(&json!({"name": name}))
        .send()
        .await;
    assert_eq!(
        (first.status, second.status, second.error_code()),
        (201, 409, "MERCHANT_EXISTS")
    );
}

fn replacement(product: &serde_json::Value, name: &str) -> serde_json::Value {
    json!({"merchant_id": product["merchant_id"], "sku": product["sku"], "name": name, "description": "",
           "price_cents": product["price_cents"], "currency": product["currency"]})
}

#[tokio::test]
async fn writes_need_the_current_etag() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (_, product) = stack.product(5).await;
    let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());

    let without = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&replacement(&product, "Lamp v2"))
        .send()
        .await;
    assert_eq!(
        (without.status, without.error_code()),
        (428, "PRECONDITION_REQUIRED")
    );
    let updated = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .header("if-match", "\"1\"")
        .json(&replacement(&product, "Lamp v2"))
        .send()
        .await;
    assert_eq!(
        (updated.status, updated.header("etag")),
        (200, Some("\"2\"")),
        "{updated:?}"
    );
    let stale = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .header("if-match", "\"1\"")
        .json(&replacement(&product, "Lamp v3"))
        .send()
        .await;
    assert_eq!(
        (stale.status, stale.error_code(), stale.header("etag")),
        (412, "PRECONDITION_FAILED", Some("\"2\""))
    );
    let garbage = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .header("if-match", "*")
        .json(&replacement(&product, "x"))
        .send()
        .await;
    assert_eq!(garbage.status, 400);

    assert_eq!(
        stack
            .call("DELETE", &path)
            .token(&admin.access_token)
            .send()
            .await
            .status,
        428
    );
    assert_eq!(
        stack
            .call("DELETE", &path)
            .token(&admin.access_token)
            .header("if-match", "\"1\"")
            .send()
            .await
            .status,
        412
    );
    assert_eq!(
        stack
            .call("DELETE", &path)
            .token(&admin.access_token)
            .header("if-match", "\"2\"")
            .send()
            .await
            .status,
        204
    );
    assert_eq!(stack.call("GET", &path).send().await.status, 404);
    let listed = stack
        .call(
            "GET",
            &format!(
                "/api/v1/products?merchant_id={}",
                product["merchant_id"].as_str().unwrap()
            ),
        )
        .send()
        .await;
    assert!(
        listed.body["items"].as_array().unwrap().is_empty(),
        "a deleted product leaves the catalogue"
    );
}

#[tokio::test]
async fn two_concurrent_puts_with_the_same_etag_give_exactly_one_200_and_one_412() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    for round in 0..5 {
        let (_, product) = stack.product(1).await;
        let path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
        let put = |name: String| {
            let body = replacement(&product, &name);
            stack
                .call("PUT", &path)
                .token(&admin.access_token)
                .header("if-match", "\"1\"")
                .json(&body)
                .send()
        };
        let (a, b) = tokio::join!(put(format!("A{round}")), put(format!("B{round}")));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}: {a:?} / {b:?}");
        let current = stack.call("GET", &path).send().await;
        assert_eq!(current.header("etag"), Some("\"2\""));
    }
}

#[tokio::test]
async fn inventory_counts_never_touch_reserved_units_and_are_audited() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (_, product) = stack.product(10).await;
    let id = product["id"].as_str().unwrap();
    let path = format!("/api/v1/products/{id}/inventory");

    let stock = stack.call("GET", &path).send().await;
    assert_eq!(stock.status, 200);
    assert_eq!(
        (
            &stock.body["available"],
            &stock.body["reserved"],
            &stock.body["sold"],
            &stock.body["low_stock"]
        ),
        (&json!(10), &json!(0), &json!(0), &json!(false))
    );
    // Orders reserve units (the order pipeline's job); a fixture stands in for one here.
    let product_id: uuid::Uuid = id.parse().unwrap();
    database()
        .await
        .execute(
            "UPDATE inventory SET available = available - 4, reserved = 4 WHERE product_id = $1",
            &[&product_id],
        )
        .await
        .unwrap();

    let below = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&json!({"on_hand": 3}))
        .send()
        .await;
    assert_eq!((below.status, below.error_code()), (409, "BELOW_RESERVED"));
    let counted = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&json!({"on_hand": 12}))
        .send()
        .await;
    assert_eq!(
        (
            counted.status,
            &counted.body["available"],
            &counted.body["reserved"]
        ),
        (200, &json!(8), &json!(4))
    );
    let negative = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&json!({"adjust": -9}))
        .send()
        .await;
    assert_eq!(
        (negative.status, negative.error_code()),
        (409, "INSUFFICIENT_STOCK")
    );
    let both = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&json!({"on_hand": 1, "adjust": 1}))
        .send()
        .await;
    assert_eq!(both.status, 422);
    let lost = stack
        .call("PUT", &path)
        .token(&admin.access_token)
        .json(&json!({"adjust": -7, "low_stock_threshold": 2}))
        .send()
        .await;
    assert_eq!(
        (
            lost.status,
            &lost.body["available"],
            &lost.body["low_stock"]
        ),
        (200, &json!(1), &json!(true))
    );

    let low = stack
        .call("GET", "/api/v1/admin/inventory/low-stock?limit=100")
        .token(&admin.access_token)
        .send()
        .await;
    assert!(
        low.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["product_id"] == json!(id)),
        "{low:?}"
    );

    let audit = stack.audit_logs("action=inventory.changed&limit=100").await;
    let entry = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target_id"] == json!(id) && e["after"]["available"] == 1)
        .cloned();
    let entry = entry.expect("the adjustment is audited");
    assert_eq!(
        (&entry["before"]["available"], &entry["actor_user_id"]),
        (&json!(8), &json!(admin.id))
    );
    assert!(entry["request_id"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn a_restock_retried_with_its_idempotency_key_is_applied_once() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (_, product) = stack.product(10).await;
    let id = product["id"].as_str().unwrap();
    let path = format!("/api/v1/products/{id}/inventory");
    let key = uuid::Uuid::now_v7().to_string();
    let send = |body: serde_json::Value, key: &str| {
        stack
            .call("PUT", &path)
            .token(&admin.access_token)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let (first, concurrent) = tokio::join!(
        send(json!({"adjust": 5}), &key),
        send(json!({"adjust": 5}), &key)
    );
    assert_eq!(
        (first.status, concurrent.status),
        (200, 200),
        "{first:?} {concurrent:?}"
    );
    // The same change spelled otherwise is the same request; removing a buyer limit is not leaving it.
    let replayed = send(json!({"low_stock_threshold": null, "adjust": 5}), &key).await;
    assert_eq!(replayed.status, 200, "{replayed:?}");
    let unlimited = send(json!({"adjust": 5, "buyer_limit": null}), &key).await;
    assert_eq!(
        (unlimited.status, unlimited.error_fields()),
        (422, vec!["Idempotency-Key"]),
        "{unlimited:?}"
    );
    for answer in [&first, &concurrent, &replayed] {
        assert_eq!(answer.body["available"], 15, "{answer:?}");
    }
    let now = stack.call("GET", &path).send().await;
    assert_eq!(now.body["available"], 15, "applied once");
    let audit = stack.audit_logs("action=inventory.changed&limit=100").await;
    let entries = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == json!(id))
        .count();
    assert_eq!(entries, 1, "audited once");

    let other_change = send(json!({"adjust": 6}), &key).await;
    assert_eq!(
        (other_change.status, other_change.error_fields()),
        (422, vec!["Idempotency-Key"])
    );
    let (_, other) = stack.product(10).await;
    let other_product = stack
        .call(
            "PUT",
            &format!(
                "/api/v1/products/{}/inventory",
                other["id"].as_str().unwrap()
            ),
        )
        .token(&admin.access_token)
        .header("idempotency-key", &key)
        .json(&json!({"adjust": 5}))
        .send()
        .await;
    assert_eq!(
        (other_product.status, other_product.error_fields()),
        (422, vec!["Idempotency-Key"]),
        "one key, one product"
    );
    let fresh = send(json!({"adjust": 5}), &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(
        (fresh.status, &fresh.body["available"]),
        (200, &json!(20)),
        "a new key is a new restock"
    );
}

#[tokio::test]
async fn audit_logs_page_and_filter_by_actor_and_action() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    for _ in 0..3 {
        stack.product(1).await;
    }
    let first = stack
        .audit_logs(&format!(
            "actor={}&action=product.created&limit=2",
            admin.id
        ))
        .await;
    assert_eq!(first.status, 200);
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|e| e["action"] == "product.created" && e["actor_user_id"] == json!(admin.id))
    );
    assert!(
        items[0]["id"].as_str() > items[1]["id"].as_str(),
        "newest first"
    );
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let next = stack
        .audit_logs(&format!(
            "actor={}&action=product.created&limit=2&cursor={cursor}",
            admin.id
        ))
        .await;
    assert!(next.body["items"][0]["id"].as_str() < items[1]["id"].as_str());
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let stack = Stack::from_env();
    let preflight = stack
        .call("OPTIONS", "/api/v1/products/{id}")
        .header("origin", "https://shop.example.test")
        .header("access-control-request-method", "PUT")
        .send()
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://shop.example.test")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .is_some_and(|h| h.contains("if-match"))
    );

    let foreign = stack
        .call("OPTIONS", "/api/v1/products")
        .header("origin", "https://evil.example.test")
        .send()
        .await;
    assert_eq!(
        (
            foreign.status,
            foreign.header("access-control-allow-origin")
        ),
        (204, None)
    );

    let read = stack
        .call("GET", "/api/v1/products")
        .header("origin", "https://shop.example.test")
        .send()
        .await;
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://shop.example.test")
    );
    assert!(
        read.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("etag"))
    );
    assert_eq!(read.header("x-content-type-options"), Some("nosniff"));
}

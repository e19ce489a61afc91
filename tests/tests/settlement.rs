//! Settlement end to end: orders paid through the real pipeline book the ledger; a settlement job runs
//! on the settlement queue and function of template.yaml and leaves a CSV in S3 behind a presigned link.

use std::time::Duration;

use chrono::Utc;
use orderly_e2e::{Answer, Session, Stack, eventually};
use serde_json::{Value, json};

const JOB: Duration = Duration::from_secs(60);

async fn merchant(stack: &Stack, admin: &Session, fees: Value) -> String {
    let mut body = json!({"name": format!("Settled {}", uuid::Uuid::now_v7())});
    body.as_object_mut()
        .unwrap()
        .extend(fees.as_object().unwrap().clone());
    let created = stack
        .call("POST", "/api/v1/admin/merchants")
        .token(&admin.access_token)
        .json(&body)
        .send()
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    created.body["id"].as_str().unwrap().to_owned()
}

async fn product(stack: &Stack, admin: &Session, merchant_id: &str, price_cents: i64) -> String {
    let product = stack
        .call("POST", "/api/v1/products")
        .token(&admin.access_token)
        .json(&json!({
            "merchant_id": merchant_id, "sku": format!("SET-{}", uuid::Uuid::now_v7().simple()),
            "name": "Ledger lamp", "price_cents": price_cents, "currency": "EUR", "stock": 50,
        }))
        .send()
        .await;
    assert_eq!(product.status, 201, "{product:?}");
    product.body["id"].as_str().unwrap().to_owned()
}

async fn paid_order(stack: &Stack, buyer: &Session, items: Value) {
    let placed = stack.place_order(buyer, items).await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let id = placed.body["id"].as_str().unwrap();
    stack.order_reaches(buyer, id, "COMPLETED").await;
}

async fn request(stack: &Stack, admin: &Session, body: Value) -> Answer {
    stack
        .call("POST", "/api/v1/jobs/settlement")
        .token(&admin.access_token)
        .json(&body)
        .send()
        .await
}

async fn finished(stack: &Stack, admin: &Session, job_id: &str) -> Value {
    eventually(&format!("job {job_id} to finish"), JOB, || async move {
        let job = stack
            .call("GET", &format!("/api/v1/jobs/{job_id}"))
            .token(&admin.access_token)
            .send()
            .await;
        assert_eq!(job.status, 200, "{job:?}");
        ["COMPLETED", "FAILED", "CANCELLED"]
            .contains(&job.body["status"].as_str().unwrap())
            .then_some(job.body)
    })
    .await
}

/// Follows the download redirect to S3; returns the object's content type, disposition and text.
async fn download(stack: &Stack, admin: &Session, job_id: &str) -> (String, String, String) {
    let redirect = stack
        .call("GET", &format!("/api/v1/downloads/{job_id}.csv"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(redirect.status, 302, "{redirect:?}");
    let url = redirect.header("location").expect("a Location").to_owned();
    assert!(url.contains("X-Amz-Signature"), "a presigned URL: {url}");
    assert!(url.contains("X-Amz-Expires=900"), "valid 15 minutes: {url}");
    let object = stack.http.get(&url).send().await.unwrap();
    assert_eq!(object.status(), 200);
    let header = |name: &str| {
        object
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    (content_type, disposition, object.text().await.unwrap())
}

#[tokio::test]
async fn a_settlement_of_paid_orders_writes_each_merchants_day_to_a_csv_behind_a_presigned_link() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let buyer = stack.customer().await;
    let standard = merchant(&stack, &admin, json!({})).await;
    let discounted = merchant(
        &stack,
        &admin,
        json!({"fee_rate_bps": 100, "fee_fixed_cents": 0}),
    )
    .await;
    let lamp = product(&stack, &admin, &standard, 4999).await;
    let bulb = product(&stack, &admin, &discounted, 1000).await;
    // One order mixing both merchants, one for the first alone.
    paid_order(
        &stack,
        &buyer,
        json!([{"product_id": lamp, "quantity": 2}, {"product_id": bulb, "quantity": 3}]),
    )
    .await;
    paid_order(&stack, &buyer, json!([{"product_id": lamp, "quantity": 1}])).await;

    let today = Utc::now().date_naive().to_string();
    let requested = request(&stack, &admin, json!({"from": today, "to": today})).await;
    assert_eq!(requested.status, 202, "{requested:?}");
    assert_eq!(requested.body["status"], "QUEUED");
    let job_id = requested.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        requested.header("location"),
        Some(format!("/api/v1/jobs/{job_id}").as_str())
    );
    let job = finished(&stack, &admin, &job_id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["progress"], 100.0);
    assert_eq!(job["kind"], "SETTLEMENT");
    assert!(job["processed"].as_i64() >= Some(3), "{job}");
    assert_eq!(
        job["download_url"],
        format!("/api/v1/downloads/{job_id}.csv")
    );

    let (content_type, disposition, csv) = download(&stack, &admin, &job_id).await;
    assert_eq!(content_type, "text/csv");
    assert!(
        disposition.contains(&format!("settlement-{job_id}.csv")),
        "{disposition}"
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("merchant_id,date,gross,fee,net,txn_count")
    );
    let ours: Vec<&str> = lines
        .filter(|l| l.starts_with(&standard) || l.starts_with(&discounted))
        .collect();
    // Computed here, independently: 2.9 % + 0.30 per capture, rounded half up to a cent.
    // Standard: 99.98 → 2.90 + 0.30 and 49.99 → 1.45 + 0.30; discounted: 30.00 at 1 % → 0.30.
    let mut expected = vec![
        format!("{standard},{today},149.97,4.95,145.02,2"),
        format!("{discounted},{today},30.00,0.30,29.70,1"),
    ];
    expected.sort_by_key(|l| l[..36].to_owned());
    assert_eq!(ours, expected, "in file order (day, merchant):\n{csv}");

    // One merchant's settlement is exactly its own row.
    let single = request(
        &stack,
        &admin,
        json!({"from": today, "to": today, "merchant_id": discounted}),
    )
    .await;
    assert_eq!(single.status, 202, "{single:?}");
    let single_id = single.body["job_id"].as_str().unwrap();
    assert_eq!(
        finished(&stack, &admin, single_id).await["status"],
        "COMPLETED"
    );
    let (_, _, csv) = download(&stack, &admin, single_id).await;
    assert_eq!(
        csv,
        format!(
            "merchant_id,date,gross,fee,net,txn_count\n{discounted},{today},30.00,0.30,29.70,1\n"
        )
    );

    let listed = stack
        .call(
            "GET",
            "/api/v1/jobs?kind=settlement&status=completed&limit=100",
        )
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    let (newer, older) = (
        ids.iter().position(|id| *id == single_id),
        ids.iter().position(|id| *id == job_id),
    );
    assert!(newer.is_some() && newer < older, "newest first: {ids:?}");
}

#[tokio::test]
async fn a_settlement_request_is_checked_field_by_field_and_admins_only() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    for (body, fields) in [
        (
            json!({"from": "2026-02-01", "to": "2026-01-01"}),
            vec!["to"],
        ),
        (
            json!({"from": "2026-01-01", "to": "2027-01-02"}),
            vec!["to"],
        ),
        (
            json!({"from": "2026-13-01", "to": "yesterday"}),
            vec!["from", "to"],
        ),
        (json!({}), vec!["from", "to"]),
    ] {
        let refused = request(&stack, &admin, body.clone()).await;
        assert_eq!(refused.status, 422, "{body}: {refused:?}");
        assert_eq!(refused.error_fields(), fields, "{body}");
    }
    let unknown_field = request(
        &stack,
        &admin,
        json!({"from": "2026-01-01", "to": "2026-01-31", "currency": "EUR"}),
    )
    .await;
    assert_eq!(unknown_field.status, 422, "{unknown_field:?}");

    let customer = stack.customer().await;
    let forbidden = request(
        &stack,
        &customer,
        json!({"from": "2026-01-01", "to": "2026-01-31"}),
    )
    .await;
    assert_eq!(forbidden.status, 403, "{forbidden:?}");
    for path in [
        "/api/v1/jobs",
        &format!("/api/v1/jobs/{}", uuid::Uuid::now_v7()),
    ] {
        let answer = stack
            .call("GET", path)
            .token(&customer.access_token)
            .send()
            .await;
        assert_eq!(answer.status, 403, "{path}: {answer:?}");
    }
    let unknown = stack
        .call("GET", &format!("/api/v1/jobs/{}", uuid::Uuid::now_v7()))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let bad_filter = stack
        .call("GET", "/api/v1/jobs?status=done")
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(bad_filter.status, 422, "{bad_filter:?}");
    assert_eq!(bad_filter.error_fields(), ["status"]);
}

#[tokio::test]
async fn the_same_key_answers_the_same_job_and_a_cancelled_job_has_no_file_and_stays_cancelled() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    // A range in the far past: nothing to settle, so the job is quick whatever other tests do.
    let body = json!({"from": "2001-01-01", "to": "2001-01-31"});
    let key = format!("settle-{}", uuid::Uuid::now_v7());
    let send = || {
        stack
            .call("POST", "/api/v1/jobs/settlement")
            .token(&admin.access_token)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
    };
    let (first, second) = (send().await, send().await);
    assert_eq!((first.status, second.status), (202, 202));
    assert_eq!(
        first.body["job_id"], second.body["job_id"],
        "same key, same job"
    );
    let job_id = first.body["job_id"].as_str().unwrap();

    let cancel = |id: String| {
        let stack = &stack;
        let admin = &admin;
        async move {
            stack
                .call("POST", &format!("/api/v1/jobs/{id}/cancel"))
                .token(&admin.access_token)
                .send()
                .await
        }
    };
    // Whether the worker got to it first or not, the job ends finished; cancelling again is refused.
    let first_cancel = cancel(job_id.to_owned()).await;
    assert!(
        first_cancel.status == 200 || first_cancel.error_code() == "ILLEGAL_TRANSITION",
        "{first_cancel:?}"
    );
    let job = finished(&stack, &admin, job_id).await;
    let again = cancel(job_id.to_owned()).await;
    assert_eq!(
        (again.status, again.error_code()),
        (409, "ILLEGAL_TRANSITION"),
        "{again:?}"
    );
    let download = stack
        .call("GET", &format!("/api/v1/downloads/{job_id}.csv"))
        .token(&admin.access_token)
        .send()
        .await;
    if job["status"] == "CANCELLED" {
        assert_eq!(first_cancel.status, 200);
        assert_eq!(
            (download.status, download.error_code()),
            (409, "JOB_NOT_READY"),
            "{download:?}"
        );
    } else {
        assert_eq!(job["status"], "COMPLETED", "{job}");
        assert_eq!(download.status, 302, "{download:?}");
    }
    let unknown = stack
        .call(
            "POST",
            &format!("/api/v1/jobs/{}/cancel", uuid::Uuid::now_v7()),
        )
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
}

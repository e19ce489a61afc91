//! Settlement end to end: orders paid through the real pipeline book the ledger; a settlement job runs
//! on the settlement queue and function of template.yaml and leaves a CSV in S3 behind a presigned link.

use std::time::Duration;

use chrono::Utc;
use orderly_e2e::{Answer, Session, Stack, eventually};
use serde_json::{Value, json};

const JOB: Duration = Duration::from_secs(60);

/// The kill fault takes the function's next invocation, whichever job it runs: the test that arms it
/// runs while no other test of this file does, so the run it kills is its own.
static KILL_TURN: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

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
    let _turn = KILL_TURN.read().await;
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
    let _turn = KILL_TURN.read().await;
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
    let _turn = KILL_TURN.read().await;
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

/// `rows` ledger transactions spread evenly over `month` (`YYYY-MM`, UTC) for a merchant of their own,
/// written straight into the stack's database as `make seed-transactions` does: the walk, not the pipeline, is under test.
async fn ledger(stack: &Stack, admin: &Session, month: &str, rows: i64) -> String {
    let merchant_id = merchant(stack, admin, json!({})).await;
    orderly_e2e::database()
        .await
        .execute(
            "INSERT INTO merchant_transactions
                    (merchant_id, payment_id, order_id, kind, occurred_at, gross_cents, fee_cents, currency)
             SELECT $1::text::uuid, gen_random_uuid(), gen_random_uuid(), 'CAPTURE',
                    m.start + (m.start + interval '1 month' - m.start) * ((i - 1)::float8 / $3::bigint),
                    100 + (i * 7919) % 5000, 30 + (i * 7919) % 150, 'EUR'
               FROM (SELECT ($2::text || '-01T00:00:00Z')::timestamptz AS start) AS m,
                    generate_series(1, $3::bigint) AS i",
            &[&merchant_id, &month, &rows],
        )
        .await
        .unwrap();
    merchant_id
}

async fn settle(
    stack: &Stack,
    admin: &Session,
    month_from: &str,
    month_to: &str,
    merchant_id: &str,
) -> String {
    let requested = request(
        stack,
        admin,
        json!({"from": month_from, "to": month_to, "merchant_id": merchant_id}),
    )
    .await;
    assert_eq!(requested.status, 202, "{requested:?}");
    requested.body["job_id"].as_str().unwrap().to_owned()
}

/// Waits until the job has counted something (it is mid-walk).
async fn running(stack: &Stack, admin: &Session, job_id: &str) -> Value {
    eventually(
        &format!("job {job_id} to be mid-walk"),
        JOB,
        || async move {
            let job = stack
                .call("GET", &format!("/api/v1/jobs/{job_id}"))
                .token(&admin.access_token)
                .send()
                .await;
            (job.body["status"] == "RUNNING" && job.body["processed"].as_i64() > Some(0))
                .then_some(job.body)
        },
    )
    .await
}

#[tokio::test]
async fn a_running_settlement_cancelled_stops_at_a_batch_boundary_and_leaves_no_object() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    // 20,000 transactions in batches of 10 (the test stack's SETTLEMENT_BATCH_SIZE): 2,000 boundaries, and
    // few rows: the order load test that follows must not find the database busy with this file's ledgers.
    let merchant_id = ledger(&stack, &admin, "2001-03", 20_000).await;
    let job_id = settle(&stack, &admin, "2001-03-01", "2001-03-31", &merchant_id).await;
    let before = running(&stack, &admin, &job_id).await;
    let cancel = stack
        .call("POST", &format!("/api/v1/jobs/{job_id}/cancel"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(cancel.status, 200, "{cancel:?}");
    assert_eq!(cancel.body["message"], "Job cancellation requested");
    let job = finished(&stack, &admin, &job_id).await;
    assert_eq!(job["status"], "CANCELLED", "{job}");
    assert!(
        job["processed"].as_i64() < Some(20_000),
        "stopped before the end: {before} → {job}"
    );
    assert!(job["download_url"].is_null(), "{job}");

    let (s3, bucket) = stack.s3().await;
    let key = format!("settlements/{job_id}.csv");
    let head = s3.head_object().bucket(&bucket).key(&key).send().await;
    assert!(head.is_err(), "no object for a cancelled job");
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "no upload left open: {uploads:?}"
    );
}

/// The file of an uninterrupted settlement of `merchant_id` over `month`.
async fn reference_file(
    stack: &Stack,
    admin: &Session,
    from: &str,
    to: &str,
    merchant_id: &str,
) -> String {
    let job_id = settle(stack, admin, from, to, merchant_id).await;
    assert_eq!(finished(stack, admin, &job_id).await["status"], "COMPLETED");
    download(stack, admin, &job_id).await.2
}

#[tokio::test]
async fn a_settlement_whose_function_is_killed_mid_run_resumes_and_writes_the_same_file() {
    let _alone = KILL_TURN.write().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    // 5,000 batches: the run lasts well past the kill.
    let merchant_id = ledger(&stack, &admin, "2001-04", 50_000).await;
    let expected = reference_file(&stack, &admin, "2001-04-01", "2001-04-30", &merchant_id).await;
    assert_eq!(expected.lines().count(), 1 + 30, "a line per day of April");

    let armed = stack
        .http
        .post(format!(
            "{}/faults/functions/SettlementFunction/kill",
            stack.control
        ))
        .json(&json!({"after_ms": 400}))
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 204);
    let job_id = settle(&stack, &admin, "2001-04-01", "2001-04-30", &merchant_id).await;
    eventually("the settlement run to be killed", JOB, || async {
        let history = stack.control_json("/invocations").await;
        history
            .as_array()?
            .iter()
            .any(|i| i["function"] == "SettlementFunction" && i["outcome"] == "killed")
            .then_some(())
    })
    .await;
    let mid_walk = stack
        .call("GET", &format!("/api/v1/jobs/{job_id}"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(mid_walk.body["status"], "RUNNING", "{mid_walk:?}");
    assert!(
        mid_walk.body["processed"].as_i64() < Some(50_000),
        "{mid_walk:?}"
    );
    // The dead run's lease (3 s here) runs out; the outbox sweep announces the job again.
    let job = eventually("the job to resume and complete", JOB, || async {
        stack.fire_schedule("OutboxSweepFunction").await;
        let job = stack
            .call("GET", &format!("/api/v1/jobs/{job_id}"))
            .token(&admin.access_token)
            .send()
            .await;
        (job.body["status"] == "COMPLETED").then_some(job.body)
    })
    .await;
    assert_eq!(
        job["processed"], 50_000,
        "every transaction counted once: {job}"
    );
    let (_, _, file) = download(&stack, &admin, &job_id).await;
    assert_eq!(file, expected, "the same file as an uninterrupted run");
}

#[tokio::test]
async fn a_duplicated_job_message_counts_nothing_twice() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let merchant_id = ledger(&stack, &admin, "2001-05", 20_000).await;
    let expected = reference_file(&stack, &admin, "2001-05-01", "2001-05-31", &merchant_id).await;

    let job_id = settle(&stack, &admin, "2001-05-01", "2001-05-31", &merchant_id).await;
    running(&stack, &admin, &job_id).await;
    // The same announcement again, straight into the queue, while the first run walks.
    let sqs = aws_sdk_sqs::Client::new(&stack.aws().await);
    let url = stack.queue_url(&sqs, "SettlementQueue").await;
    let admin_id = admin.id.clone();
    let duplicate = json!({
        "event_id": uuid::Uuid::now_v7(), "occurred_at": Utc::now(), "event_type": "job.requested",
        "data": {"job_id": job_id, "kind": "SETTLEMENT", "requested_by": admin_id},
    });
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&url)
            .message_body(duplicate.to_string())
            .send()
            .await
            .unwrap();
    }
    let job = finished(&stack, &admin, &job_id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["processed"], 20_000, "{job}");
    let (_, _, file) = download(&stack, &admin, &job_id).await;
    assert_eq!(file, expected);
}

#[tokio::test]
async fn the_admin_who_asked_follows_the_job_live_at_a_few_updates_a_second() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let merchant_id = ledger(&stack, &admin, "2001-06", 20_000).await;
    let mut socket = stack.connect_as(&admin).await;
    socket
        .send(json!({"action": "subscribe", "topics": ["jobs"]}))
        .await;
    assert_eq!(socket.receive_json(JOB).await["type"], "subscribed");

    let started = std::time::Instant::now();
    let job_id = settle(&stack, &admin, "2001-06-01", "2001-06-30", &merchant_id).await;
    // Pushes may arrive out of order (standard queues): gather until each stage has been seen.
    let (mut queued, mut running, mut completed) = (0, Vec::new(), None);
    while queued == 0 || running.is_empty() || completed.is_none() {
        let update = socket.receive_json(JOB).await;
        if update["type"] != "job.progress" || update["job_id"] != job_id.as_str() {
            continue;
        }
        match update["status"].as_str() {
            Some("QUEUED") => queued += 1,
            Some("RUNNING") => running.push(update),
            Some("COMPLETED") => completed = Some(update),
            other => panic!("unexpected status {other:?}: {update}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    assert_eq!(queued, 1);
    let completed = completed.unwrap();
    assert_eq!(completed["progress"], 100.0, "{completed}");
    assert_eq!(completed["processed"], 20_000, "{completed}");
    assert_eq!(completed["event"], "job.progress");
    for update in &running {
        let progress = update["progress"].as_f64().unwrap();
        assert!((0.0..100.0).contains(&progress), "{update}");
        assert!(
            update["processed"].as_i64() <= update["total"].as_i64(),
            "{update}"
        );
        assert_eq!(update["total"], 20_000, "{update}");
    }
    // At most one update per half second of the run (plus the first).
    assert!(
        running.len() as f64 <= elapsed * 2.0 + 1.0,
        "{} running updates in {elapsed:.1} s",
        running.len()
    );
}

/// The single settlement line of `merchant_id` for today, from a job over today for that merchant.
async fn todays_line(stack: &Stack, admin: &Session, merchant_id: &str) -> String {
    let today = Utc::now().date_naive().to_string();
    let file = reference_file(stack, admin, &today, &today, merchant_id).await;
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 2, "the header and one line: {file}");
    lines[1].to_owned()
}

#[tokio::test]
async fn a_capture_refunded_after_its_order_expired_books_the_share_back_without_the_fee() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let buyer = stack.customer().await;
    let (merchant_id, product) = stack.product_at(5, 2000, "XTS").await;
    let order_id = stack.pending_charge(&buyer, &product).await;
    orderly_e2e::database()
        .await
        .execute(
            "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid",
            &[&order_id],
        )
        .await
        .unwrap();
    stack.fire_schedule("OrdersExpireFunction").await;
    stack.order_reaches(&buyer, &order_id, "EXPIRED").await;
    stack.settle_charge(&order_id, "captured").await;
    stack.fire_schedule("PaymentsReconcileFunction").await;
    let refunded = stack.charges(&order_id).await;
    assert_eq!(refunded[0]["refunded"], true, "{refunded:?}");

    // Captured 20.00 with 2.9 % + 0.30 = 0.88 of fee; refunded 20.00 the same day, with no fee back.
    let today = Utc::now().date_naive();
    assert_eq!(
        todays_line(&stack, &admin, &merchant_id).await,
        format!("{merchant_id},{today},0.00,0.88,-0.88,2")
    );
}

#[tokio::test]
async fn a_merchants_new_fee_schedule_is_audited_and_applies_to_captures_from_then_on() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let buyer = stack.customer().await;
    let merchant_id = merchant(&stack, &admin, json!({})).await;
    let lamp = product(&stack, &admin, &merchant_id, 1000).await;
    paid_order(&stack, &buyer, json!([{"product_id": lamp, "quantity": 1}])).await;

    let change = |body: Value, id: String| {
        let stack = &stack;
        let token = admin.access_token.clone();
        async move {
            stack
                .call("PATCH", &format!("/api/v1/admin/merchants/{id}"))
                .token(&token)
                .json(&body)
                .send()
                .await
        }
    };
    let nothing = change(json!({}), merchant_id.clone()).await;
    assert_eq!(nothing.status, 422, "{nothing:?}");
    assert_eq!(nothing.error_fields(), ["body"]);
    let out_of_range = change(
        json!({"fee_rate_bps": 10_001, "fee_fixed_cents": -1}),
        merchant_id.clone(),
    )
    .await;
    assert_eq!(out_of_range.status, 422, "{out_of_range:?}");
    assert_eq!(
        out_of_range.error_fields(),
        ["fee_rate_bps", "fee_fixed_cents"]
    );
    let unknown_field = change(json!({"fee_percent": 1}), merchant_id.clone()).await;
    assert_eq!(unknown_field.status, 422, "{unknown_field:?}");
    let unknown = change(
        json!({"fee_rate_bps": 100}),
        uuid::Uuid::now_v7().to_string(),
    )
    .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");

    let changed = change(
        json!({"fee_rate_bps": 100, "fee_fixed_cents": 0}),
        merchant_id.clone(),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.body["fee_rate_bps"], 100);
    assert_eq!(changed.body["fee_fixed_cents"], 0);
    let audit = stack.audit_logs("action=merchant.updated&limit=100").await;
    assert_eq!(audit.status, 200, "{audit:?}");
    let entry = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["target_id"] == merchant_id.as_str())
        .unwrap_or_else(|| panic!("the change is audited: {audit:?}"))
        .clone();
    assert_eq!(entry["before"]["fee_rate_bps"], 290, "{entry}");
    assert_eq!(entry["after"]["fee_rate_bps"], 100, "{entry}");
    assert_eq!(entry["actor_user_id"], admin.id.as_str(), "{entry}");

    paid_order(&stack, &buyer, json!([{"product_id": lamp, "quantity": 1}])).await;
    // 10.00 at 2.9 % + 0.30 = 0.59 before the change, 10.00 at 1 % = 0.10 after it.
    let today = Utc::now().date_naive();
    assert_eq!(
        todays_line(&stack, &admin, &merchant_id).await,
        format!("{merchant_id},{today},20.00,0.69,19.31,2")
    );
}

#[tokio::test]
async fn a_daily_sales_export_runs_through_the_same_job_lifecycle() {
    let _turn = KILL_TURN.read().await;
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    // Two days of rollups in a month no order reaches, as the report function would have kept them.
    orderly_e2e::database()
        .await
        .batch_execute(
            "INSERT INTO daily_sales (day, orders, units, gross_cents, cancelled_orders)
             VALUES ('2002-02-01', 3, 7, 14997, 1), ('2002-02-03', 1, 1, 500, 0)
             ON CONFLICT (day) DO UPDATE SET orders = excluded.orders, units = excluded.units,
                 gross_cents = excluded.gross_cents, cancelled_orders = excluded.cancelled_orders",
        )
        .await
        .unwrap();
    let export = |body: Value| {
        let stack = &stack;
        let token = admin.access_token.clone();
        async move {
            stack
                .call("POST", "/api/v1/jobs/report-export")
                .token(&token)
                .json(&body)
                .send()
                .await
        }
    };
    let backwards = export(json!({"from": "2002-02-03", "to": "2002-02-01"})).await;
    assert_eq!(backwards.status, 422, "{backwards:?}");
    assert_eq!(backwards.error_fields(), ["to"]);
    let merchant_scoped = export(
        json!({"from": "2002-02-01", "to": "2002-02-03", "merchant_id": uuid::Uuid::now_v7()}),
    )
    .await;
    assert_eq!(
        merchant_scoped.status, 422,
        "no parameter is ignored: {merchant_scoped:?}"
    );
    let customer = stack.customer().await;
    let refused = stack
        .call("POST", "/api/v1/jobs/report-export")
        .token(&customer.access_token)
        .json(&json!({"from": "2002-02-01", "to": "2002-02-03"}))
        .send()
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");

    let accepted = export(json!({"from": "2002-02-01", "to": "2002-02-03"})).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        accepted.header("location"),
        Some(format!("/api/v1/jobs/{job_id}").as_str())
    );
    let job = finished(&stack, &admin, &job_id).await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(job["kind"], "REPORT_EXPORT");
    assert_eq!(
        (job["processed"].as_i64(), job["total"].as_i64()),
        (Some(2), Some(2))
    );
    let (content_type, disposition, csv) = download(&stack, &admin, &job_id).await;
    assert_eq!(content_type, "text/csv");
    assert!(
        disposition.contains(&format!("daily-sales-{job_id}.csv")),
        "{disposition}"
    );
    assert_eq!(
        csv,
        "date,orders,units,gross,cancelled_orders\n2002-02-01,3,7,149.97,1\n2002-02-03,1,1,5.00,0\n"
    );

    let empty = export(json!({"from": "2002-03-01", "to": "2002-03-31"})).await;
    let empty_id = empty.body["job_id"].as_str().unwrap();
    assert_eq!(
        finished(&stack, &admin, empty_id).await["status"],
        "COMPLETED"
    );
    assert_eq!(
        download(&stack, &admin, empty_id).await.2,
        "date,orders,units,gross,cancelled_orders\n",
        "an empty range is the header alone"
    );
    let listed = stack
        .call("GET", "/api/v1/jobs?kind=report_export&limit=100")
        .token(&admin.access_token)
        .send()
        .await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["kind"] == "REPORT_EXPORT"),
        "{listed:?}"
    );
}

//! Event metrics, black box through the local gateway: ingest with per-event rejection, last-N-minutes
//! aggregates that match what was sent, who may call what, and bad bodies that write nothing.

use chrono::{SecondsFormat, Utc};
use orderly_e2e::{Answer, Stack, database, eventually};
use serde_json::{Value, json};

/// A merchant on `plan` and an API key bound to it: (merchant id, key).
async fn merchant_with_key(stack: &Stack, plan: &str) -> (String, String) {
    let admin = stack.admin().await;
    let merchant = stack
        .call("POST", "/api/v1/admin/merchants")
        .token(&admin.access_token)
        .json(&json!({"name": format!("Shop {}", uuid::Uuid::now_v7()), "plan": plan}))
        .send()
        .await;
    assert_eq!(merchant.status, 201, "{merchant:?}");
    assert_eq!(merchant.body["plan"], plan);
    let merchant_id = merchant.body["id"].as_str().unwrap().to_owned();
    let key = stack
        .call("POST", "/api/v1/admin/api-keys")
        .token(&admin.access_token)
        .json(&json!({"name": "shop front", "merchant_id": merchant_id}))
        .send()
        .await;
    assert_eq!(key.status, 201, "{key:?}");
    assert_eq!(key.body["merchant_id"], merchant_id.as_str());
    (
        merchant_id,
        key.body["api_key"].as_str().unwrap().to_owned(),
    )
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn send_events(stack: &Stack, key: &str, events: &Value) -> Answer {
    stack
        .call("POST", "/api/v1/events")
        .header("authorization", &format!("ApiKey {key}"))
        .json(events)
        .send()
        .await
}

async fn metrics(stack: &Stack, query: &str) -> Answer {
    let admin = stack.admin().await;
    stack
        .call("GET", &format!("/api/v1/admin/metrics?{query}"))
        .token(&admin.access_token)
        .send()
        .await
}

async fn stored_events(merchant_id: &str) -> i64 {
    let id: uuid::Uuid = merchant_id.parse().unwrap();
    database()
        .await
        .query_one(
            "SELECT count(*) FROM metric_events WHERE merchant_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

fn of_type<'a>(report: &'a Value, event_type: &str) -> &'a Value {
    report["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event_type"] == event_type)
        .unwrap_or_else(|| panic!("{event_type} in {report}"))
}

#[tokio::test]
async fn valid_events_are_kept_bad_ones_reported_and_the_minutes_add_up() {
    let stack = Stack::from_env();
    let (merchant_id, key) = merchant_with_key(&stack, "enterprise").await;
    let other_shop = uuid::Uuid::now_v7().to_string();
    let mut events: Vec<Value> = (1..=100)
        .map(|ms| json!({"timestamp": now(), "user_id": format!("u-{}", ms % 7), "event_type": "latency", "value": ms}))
        .collect();
    events.push(
        json!({"timestamp": now(), "user_id": "u-1", "event_type": "add_to_cart", "value": 1}),
    );
    events.push(
        json!({"timestamp": now(), "user_id": "u-2", "event_type": "add_to_cart", "value": 1}),
    );
    // Three bad ones: from next year, without a value, for another shop.
    events.push(json!({"timestamp": "2099-01-01T00:00:00Z", "user_id": "u-3", "event_type": "latency", "value": 5}));
    events.push(json!({"timestamp": now(), "user_id": "u-3", "event_type": "latency"}));
    events.push(json!({"timestamp": now(), "user_id": "u-3", "event_type": "latency", "value": 5, "merchant_id": other_shop}));

    let sent = send_events(&stack, &key, &Value::Array(events)).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(sent.body["accepted"], 102);
    let rejected: Vec<(u64, &str)> = sent.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [(102, "timestamp"), (103, "value"), (104, "merchant_id")]
    );
    assert_eq!(stored_events(&merchant_id).await, 102);

    let report = metrics(
        &stack,
        &format!("minutes=5&merchant_id={merchant_id}&series=true"),
    )
    .await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["merchant_id"], merchant_id.as_str());
    assert_eq!(report.body["percentile_relative_error"], 0.01);
    let latency = of_type(&report.body, "latency");
    assert_eq!(
        (
            &latency["count"],
            &latency["sum"],
            &latency["min"],
            &latency["max"]
        ),
        (&json!(100), &json!(5050.0), &json!(1.0), &json!(100.0))
    );
    assert_eq!(latency["avg"], 50.5);
    for (quantile, exact) in [("p50", 50.0), ("p95", 95.0), ("p99", 99.0)] {
        let got = latency[quantile].as_f64().unwrap();
        assert!(
            ((got - exact) / exact).abs() <= 0.011,
            "{quantile} {got} vs {exact}"
        );
    }
    let per_minute: u64 = latency["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_minute, 100, "the minutes add up to the span");
    assert_eq!(of_type(&report.body, "add_to_cart")["count"], 2);

    let one_type = metrics(
        &stack,
        &format!("minutes=5&merchant_id={merchant_id}&event_type=add_to_cart"),
    )
    .await;
    assert_eq!(one_type.body["event_types"].as_array().unwrap().len(), 1);
    assert!(one_type.body["event_types"][0].get("series").is_none());

    // The upkeep schedule merges and forgets, but changes no figure of the open minutes.
    let upkeep = stack.fire_schedule("MetricsUpkeepFunction").await;
    assert!(upkeep["result"]["partitions_made"].is_number(), "{upkeep}");
    let again = metrics(&stack, &format!("minutes=5&merchant_id={merchant_id}")).await;
    assert_eq!(of_type(&again.body, "latency")["count"], 100);
}

#[tokio::test]
async fn a_body_with_no_good_event_or_too_many_is_refused_whole() {
    let stack = Stack::from_env();
    let (merchant_id, key) = merchant_with_key(&stack, "standard").await;

    let not_a_list = send_events(&stack, &key, &json!({"event_type": "x"})).await;
    assert_eq!(not_a_list.status, 422, "{not_a_list:?}");

    let empty = send_events(&stack, &key, &json!([])).await;
    assert_eq!((empty.status, empty.error_fields()), (422, vec!["body"]));

    let all_bad = send_events(
        &stack,
        &key,
        &json!([{"timestamp": now(), "user_id": "u", "event_type": "has space", "value": 1},
                {"timestamp": "soon", "user_id": "u", "event_type": "x", "value": "1"}]),
    )
    .await;
    assert_eq!(all_bad.status, 422, "{all_bad:?}");
    assert_eq!(
        all_bad.error_fields(),
        ["[0].event_type", "[1].timestamp", "[1].value"]
    );

    let event = json!({"timestamp": now(), "user_id": "u", "event_type": "x", "value": 1});
    let too_many = send_events(&stack, &key, &Value::Array(vec![event; 1_001])).await;
    assert_eq!(too_many.status, 413, "{too_many:?}");
    assert_eq!(
        too_many.body["error"]["message"],
        "at most 1000 events per request"
    );

    let huge = stack
        .call("POST", "/api/v1/events")
        .header("authorization", &format!("ApiKey {key}"))
        .body(format!("[{}]", " ".repeat(1_100_000)))
        .send()
        .await;
    assert_eq!(huge.status, 413, "{huge:?}");
    assert!(
        huge.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1048576 bytes")
    );

    assert_eq!(stored_events(&merchant_id).await, 0, "nothing was written");
}

#[tokio::test]
async fn a_signed_in_user_sends_only_their_own_events() {
    let stack = Stack::from_env();
    let (merchant_id, _) = merchant_with_key(&stack, "standard").await;
    let user = stack.customer().await;
    let sent = stack
        .call("POST", "/api/v1/events")
        .token(&user.access_token)
        .json(&json!([
            {"timestamp": now(), "event_type": "page_view", "value": 1, "merchant_id": merchant_id},
            {"timestamp": now(), "user_id": "someone-else", "event_type": "page_view", "value": 1, "merchant_id": merchant_id},
            {"timestamp": now(), "event_type": "page_view", "value": 1},
            {"timestamp": now(), "event_type": "page_view", "value": 1, "merchant_id": uuid::Uuid::now_v7()},
        ]))
        .send()
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(sent.body["accepted"], 1);
    let rejected: Vec<(u64, &str, &str)> = sent.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "user_id", "must be your own user id (or left out)"),
            (
                2,
                "merchant_id",
                "is required (which merchant's shop this happened in)"
            ),
            (3, "merchant_id", "no such merchant"),
        ]
    );
    let id: uuid::Uuid = merchant_id.parse().unwrap();
    let owner: String = database()
        .await
        .query_one(
            "SELECT user_id FROM metric_events WHERE merchant_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, user.id);
}

#[tokio::test]
async fn metrics_are_for_admins_and_their_parameters_are_checked() {
    let stack = Stack::from_env();
    let customer = stack.customer().await;
    let refused = stack
        .call("GET", "/api/v1/admin/metrics?minutes=5")
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");

    let anonymous = stack
        .call("POST", "/api/v1/events")
        .json(&json!([]))
        .send()
        .await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");

    for (query, field) in [
        ("minutes=0", "minutes"),
        ("minutes=1441", "minutes"),
        ("minutes=ten", "minutes"),
        ("", "minutes"),
        ("minutes=5&merchant_id=shop-1", "merchant_id"),
        ("minutes=5&series=yes", "series"),
        ("minutes=5&window=5", "window"),
    ] {
        let answer = metrics(&stack, query).await;
        assert_eq!(
            (answer.status, answer.error_fields()),
            (422, vec![field]),
            "{query}: {answer:?}"
        );
    }
    let everyone = metrics(&stack, "minutes=1440").await;
    assert_eq!(everyone.status, 200, "{everyone:?}");
    assert_eq!(everyone.body["merchant_id"], Value::Null);
}

#[tokio::test]
async fn analytics_give_each_merchant_day_by_plan_newest_first_a_page_at_a_time() {
    let stack = Stack::from_env();
    let (big, big_key) = merchant_with_key(&stack, "enterprise").await;
    let (small, small_key) = merchant_with_key(&stack, "standard").await;
    let today = Utc::now();
    let yesterday = today - chrono::Duration::days(1);
    let at = |t: chrono::DateTime<Utc>, value: i64| json!({"timestamp": t.to_rfc3339(), "user_id": "u", "event_type": "checkout", "value": value});
    let sent = send_events(
        &stack,
        &big_key,
        &json!([at(today, 10), at(today, 20), at(yesterday, 5)]),
    )
    .await;
    assert_eq!(sent.body["accepted"], 3, "{sent:?}");
    let sent = send_events(&stack, &small_key, &json!([at(today, 1)])).await;
    assert_eq!(sent.body["accepted"], 1, "{sent:?}");

    let (from, to) = (
        yesterday.date_naive().to_string(),
        today.date_naive().to_string(),
    );
    let admin = stack.admin().await;
    let get = |query: String| {
        let token = admin.access_token.clone();
        let stack = &stack;
        async move {
            stack
                .call("GET", &format!("/api/v1/admin/analytics/daily?{query}"))
                .token(&token)
                .send()
                .await
        }
    };
    let enterprise = get(format!("from={from}&to={to}&plan=enterprise&limit=100")).await;
    assert_eq!(enterprise.status, 200, "{enterprise:?}");
    let items = enterprise.body["items"].as_array().unwrap();
    let mine: Vec<(&str, i64, f64)> = items
        .iter()
        .filter(|d| d["merchant_id"] == big.as_str())
        .map(|d| {
            (
                d["day"].as_str().unwrap(),
                d["events"].as_i64().unwrap(),
                d["avg_value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [(to.as_str(), 2, 15.0), (from.as_str(), 1, 5.0)],
        "newest day first"
    );
    assert!(
        items.iter().all(|d| d["merchant_id"] != small.as_str()),
        "a standard merchant is not on the enterprise list"
    );
    let days: Vec<&str> = items.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert!(days.windows(2).all(|w| w[0] >= w[1]), "{days:?}");

    // One merchant, a page at a time.
    let first = get(format!("from={from}&to={to}&merchant_id={big}&limit=1")).await;
    assert_eq!(first.body["items"][0]["day"], to.as_str());
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = get(format!(
        "from={from}&to={to}&merchant_id={big}&limit=1&cursor={cursor}"
    ))
    .await;
    assert_eq!(second.body["items"][0]["day"], from.as_str(), "{second:?}");
    let third = get(format!(
        "from={from}&to={to}&merchant_id={big}&limit=1&cursor={}",
        second.body["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_eq!(third.body["items"], json!([]));
    assert_eq!(third.body["next_cursor"], Value::Null);

    let wrong_plan = get(format!(
        "from={from}&to={to}&merchant_id={small}&plan=enterprise"
    ))
    .await;
    assert_eq!(wrong_plan.body["items"], json!([]));

    for (query, fields) in [
        (format!("from={from}&to={to}&plan=gold"), vec!["plan"]),
        (format!("from={to}"), vec!["to"]),
        ("from=yesterday&to=today".to_owned(), vec!["from", "to"]),
        (format!("from={from}&to={to}&cursor=c1abc"), vec!["cursor"]),
    ] {
        let answer = get(query.clone()).await;
        assert_eq!(
            (answer.status, answer.error_fields()),
            (422, fields),
            "{query}"
        );
    }
    let backwards = get(format!("from={to}&to={from}")).await;
    if from != to {
        assert_eq!(
            (backwards.status, backwards.error_fields()),
            (422, vec!["to"])
        );
    }
    let customer = stack.customer().await;
    let refused = stack
        .call(
            "GET",
            &format!("/api/v1/admin/analytics/daily?from={from}&to={to}"),
        )
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn a_month_past_the_retention_is_archived_verified_dropped_and_restored_as_a_job() {
    let stack = Stack::from_env();
    let db = database().await;
    // March 2020 is far past the 24 months kept; nothing else in this stack is that old.
    db.batch_execute(
        "SELECT metric_events_ensure_partitions('2020-03-01', '2020-03-01');
         INSERT INTO metric_events (merchant_id, occurred_at, event_type, user_id, value)
         SELECT '0190a1b2-0000-7000-8000-000000000001', '2020-03-01'::timestamptz + g * interval '40 minutes',
                'page_view', CASE WHEN g = 7 THEN E'shopper \"seven\"\nsecond line' ELSE 'u-' || g END, g
           FROM generate_series(1, 1000) AS g",
    )
    .await
    .unwrap();

    let fired = stack.fire_schedule("EventsArchiveFunction").await;
    assert_eq!(fired["result"]["archived"], json!(["2020-03"]), "{fired}");
    let gone: Option<String> = db
        .query_one("SELECT to_regclass('metric_events_2020_03')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(gone, None, "the partition is dropped");

    let admin = stack.admin().await;
    let listed = stack
        .call("GET", "/api/v1/admin/archives")
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let archive = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["month"] == "2020-03")
        .unwrap_or_else(|| panic!("{listed:?}"))
        .clone();
    assert_eq!(archive["rows"], 1000);
    assert_eq!(archive["s3_key"], "archives/metric_events/2020-03.csv.gz");

    // What S3 holds is the month, header first, the odd user id intact.
    let (s3, bucket) = stack.s3().await;
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("archives/metric_events/2020-03.csv.gz")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(object.len() as i64, archive["bytes"].as_i64().unwrap());
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&object[..]), &mut csv)
        .unwrap();
    assert!(
        csv.starts_with("merchant_id,occurred_at,event_type,user_id,value,received_at\n"),
        "{}",
        &csv[..80]
    );
    assert!(csv.contains("\"shopper \"\"seven\"\"\nsecond line\""));
    assert_eq!(csv.matches(",page_view,").count(), 1000);

    let again = stack.fire_schedule("EventsArchiveFunction").await;
    assert_eq!(again["result"]["archived"], json!([]), "{again}");

    // Restored as a job, the month is back row for row.
    let restore = stack
        .call("POST", "/api/v1/admin/archives/2020-03/restore")
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(restore.status, 202, "{restore:?}");
    let job_url = restore.header("location").unwrap().to_owned();
    let job = eventually(
        "the restore job",
        std::time::Duration::from_secs(60),
        || {
            let (stack, token, url) = (&stack, admin.access_token.clone(), job_url.clone());
            async move {
                let job = stack.call("GET", &url).token(&token).send().await;
                (job.body["status"] == "COMPLETED" || job.body["status"] == "FAILED")
                    .then_some(job.body)
            }
        },
    )
    .await;
    assert_eq!(job["status"], "COMPLETED", "{job}");
    assert_eq!(
        (&job["processed"], &job["total"]),
        (&json!(1000), &json!(1000))
    );
    let back = db
        .query_one(
            "SELECT count(*), sum(value)::float8, count(*) FILTER (WHERE user_id = E'shopper \"seven\"\nsecond line')
               FROM metric_events WHERE occurred_at >= '2020-03-01' AND occurred_at < '2020-04-01'",
            &[],
        )
        .await
        .unwrap();
    let (rows, sum, odd): (i64, f64, i64) = (back.get(0), back.get(1), back.get(2));
    assert_eq!((rows, sum, odd), (1000, 500_500.0, 1));
    let kept = stack.fire_schedule("EventsArchiveFunction").await;
    assert_eq!(
        kept["result"]["archived"],
        json!([]),
        "a month just restored stays: {kept}"
    );

    for (month, status) in [("2019-01", 404), ("March", 400)] {
        let answer = stack
            .call("POST", &format!("/api/v1/admin/archives/{month}/restore"))
            .token(&admin.access_token)
            .send()
            .await;
        assert_eq!(answer.status, status, "{month}: {answer:?}");
    }

    let customer = stack.customer().await;
    let refused = stack
        .call("GET", "/api/v1/admin/archives")
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(refused.status, 403);
}

//! The REST API's front door, black box.

use orderly_e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn health_reports_every_dependency_healthy() {
    let stack = Stack::from_env();
    let response = stack
        .http
        .get(format!("{}/health", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-amzn-requestid"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(
        body["checks"],
        json!({"database": "healthy", "queues": "healthy", "storage": "healthy"})
    );
    assert_eq!(body["failing"], json!([]));
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(body["uptime"].as_str().is_some_and(|u| u.ends_with('s')));
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(
        body["checked_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}

#[tokio::test]
async fn anonymous_health_calls_share_one_check_and_are_limited_per_address() {
    let stack = Stack::from_env();
    let ip = orderly_e2e::client_ip();
    let calls = (0..20).map(|_| stack.call_from("GET", "/health", &ip).send());
    let answers = futures::future::join_all(calls).await;
    let checks: std::collections::BTreeSet<&str> = answers
        .iter()
        .map(|a| a.body["checked_at"].as_str().expect("a report"))
        .collect();
    // One check serves an instance 5 s; the burst may straddle the end of one (then two checks), never
    // more. In-process the stack is one instance; in process mode each environment is one, as in Lambda.
    let environments = stack.control_json("/environments").await;
    let instances = environments["alive"]["HealthFunction"]
        .as_u64()
        .unwrap_or(1) as usize;
    assert!(
        checks.len() <= 2 * instances,
        "twenty concurrent calls share each instance's check ({instances} instances): {checks:?}"
    );
    // 60 a minute, one more each second: the first refusal comes after the 60th call, within a few more.
    let mut calls = 20;
    let limited = loop {
        let answer = stack.call_from("GET", "/health", &ip).send().await;
        calls += 1;
        if answer.status != 200 || calls == 80 {
            break answer;
        }
    };
    assert_eq!(
        (limited.status, limited.error_code()),
        (429, "RATE_LIMITED")
    );
    assert!(calls > 60, "refused after {calls} calls");
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        stack
            .call_from("GET", "/health", &orderly_e2e::client_ip())
            .send()
            .await
            .status,
        200,
        "another address is not affected"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_as_api_gateway_does_in_the_apis_error_shape() {
    let stack = Stack::from_env();
    for (method, path) in [
        ("GET", "/no/such/route"),
        ("POST", "/health"),
        ("DELETE", "/"),
        // A path parameter no route can take (a control character; found by Schemathesis): API
        // Gateway's answer, not the function's.
        ("GET", "/api/v1/jobs/%02"),
        ("PUT", "/api/v1/notifications/%18/read"),
    ] {
        let response = stack
            .http
            .request(method.parse().unwrap(), format!("{}{path}", stack.api))
            .send()
            .await
            .unwrap();
        // The template's MISSING_AUTHENTICATION_TOKEN gateway response turns API Gateway's
        // misleading 403 into a 404 in the API's error shape.
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "MissingAuthenticationTokenException"
        );
        let request_id = response.headers()["x-amzn-requestid"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": {"code": "NOT_FOUND", "message": "no such resource or method",
                "details": [], "request_id": request_id}}),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn text_holding_a_nul_is_a_400_before_it_reaches_postgres() {
    // Found by Schemathesis: a login whose email held U+0000 reached Postgres, which cannot store it in
    // `text`, and answered 500. Now any JSON body with it is refused at the edge, for every route.
    let stack = Stack::from_env();
    let customer = stack.customer().await;
    let login = stack
        .login(
            "someone\u{0}@example.test",
            "a long enough password",
            &orderly_e2e::client_ip(),
        )
        .await;
    assert_eq!(login.status, 400, "{login:?}");
    assert_eq!(login.error_code(), "BAD_REQUEST");
    let update = stack
        .call("PUT", &format!("/api/v1/users/{}", customer.id))
        .token(&customer.access_token)
        .json(&json!({"name": "nul\u{0}name"}))
        .send()
        .await;
    assert_eq!(update.status, 400, "{update:?}");
    let me = stack
        .call("GET", "/api/v1/me")
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(me.body["name"], "Test Customer", "nothing was changed");
}

#[tokio::test]
async fn a_body_over_ten_megabytes_is_refused_and_the_gateway_keeps_serving() {
    let stack = Stack::from_env();
    let oversized = vec![b'x'; 10 * 1024 * 1024 + 1];
    let response = stack
        .http
        .get(format!("{}/health", stack.api))
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "Request Too Long"})
    );

    let malformed = stack
        .http
        .get(format!("{}/health", stack.api))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        malformed.status(),
        200,
        "the proxy passes bodies through; health ignores it"
    );
}

#[tokio::test]
async fn the_openapi_document_and_its_offline_docs_page_are_served() {
    let stack = Stack::from_env();
    let document = stack
        .http
        .get(format!("{}/openapi.json", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), 200);
    let document: Value = document.json().await.unwrap();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert!(document["paths"]["/api/v1/products/{id}"]["put"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirects
        .get(format!("{}/docs", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            page.status().as_u16(),
            page.headers()["location"].to_str().unwrap()
        ),
        (302, "docs/index.html")
    );
    let index = stack
        .http
        .get(format!("{}/docs/index.html", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = index.text().await.unwrap();
    assert!(
        html.contains("swagger-ui") && !html.contains("cdn"),
        "the page loads its UI from the stack itself"
    );
    let initializer = stack
        .http
        .get(format!("{}/docs/swagger-initializer.js", stack.api))
        .send()
        .await
        .unwrap();
    assert!(
        initializer
            .text()
            .await
            .unwrap()
            .contains("../openapi.json")
    );
    let bundle = stack
        .http
        .get(format!("{}/docs/swagger-ui-bundle.js", stack.api))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn no_query_parameter_is_ignored_every_get_route_refuses_one_it_does_not_take() {
    let stack = Stack::from_env();
    let customer = stack.customer().await;
    let offset = stack
        .call("GET", "/api/v1/orders?offset=20")
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(
        (offset.status, offset.error_fields()),
        (422, vec!["offset"]),
        "{offset:?}"
    );
    for status in ["completed", "Completed", "COMPLETED", "pending_payment"] {
        let listed = stack
            .call("GET", &format!("/api/v1/orders?status={status}"))
            .token(&customer.access_token)
            .send()
            .await;
        assert_eq!(listed.status, 200, "?status={status}: {listed:?}");
    }
    let unknown = stack
        .call("GET", "/api/v1/orders?status=done")
        .token(&customer.access_token)
        .send()
        .await;
    assert_eq!(
        (unknown.status, unknown.error_fields()),
        (422, vec!["status"])
    );

    let admin = stack.admin().await;
    let summary = stack.control_json("/").await;
    let mut checked = 0;
    for route in summary["rest_routes"].as_array().unwrap() {
        let path = route["path"].as_str().unwrap();
        if route["method"] != "GET" || path == "/openapi.json" || path.starts_with("/docs") {
            continue;
        }
        let concrete: Vec<String> = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        let answer = stack
            .call("GET", &format!("{}?unexpected=1", concrete.join("/")))
            .token(&admin.access_token)
            .send()
            .await;
        assert_eq!(
            (answer.status, answer.error_fields()),
            (422, vec!["unexpected"]),
            "GET {path}?unexpected=1: {answer:?}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "{checked} GET routes checked");
}

//! Authorization in depth, black box: every admin function refuses non-admins by itself, odd path shapes
//! never slip past the policy, and revocations take effect on the next request, not when a cache expires.

use orderly_e2e::{Session, Stack, claims};
use serde_json::{Value, json};

/// A REST proxy event for `method path` (a template path: `{…}` become fresh ids), as the authorizer would
/// have left it with `context`.
fn proxy_event(method: &str, path: &str, context: Value) -> Value {
    let concrete: String = path
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let parameters: serde_json::Map<String, Value> = path
        .split('/')
        .zip(concrete.split('/'))
        .filter_map(|(pattern, value)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_owned(), json!(value)))
        })
        .collect();
    json!({
        "resource": path,
        "path": concrete,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": if parameters.is_empty() { Value::Null } else { Value::Object(parameters) },
        "requestContext": {
            "requestId": uuid::Uuid::now_v7().to_string(),
            "httpMethod": method,
            "resourcePath": path,
            "stage": "prod",
            "identity": {"sourceIp": orderly_e2e::client_ip()},
            "authorizer": context,
        },
        "body": "{}",
        "isBase64Encoded": false,
    })
}

fn user_context(user: &Session) -> Value {
    let claims = claims(&user.access_token);
    json!({"user_id": user.id, "role": claims["role"], "session_id": claims["sid"], "api_key_id": ""})
}

async fn invoke(stack: &Stack, function: &str, event: &Value) -> Value {
    let answer: Value = stack
        .http
        .post(format!("{}/functions/{function}/invoke", stack.control))
        .json(event)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["payload"].clone()
}

#[tokio::test]
async fn every_admin_route_refuses_non_admins_in_its_own_function_with_the_authorizer_bypassed() {
    let stack = Stack::from_env();
    let customer = stack.customer().await;
    let (key_id, _) = stack.api_key("a key on admin routes").await;
    let summary = stack.control_json("/").await;
    let admin_routes: Vec<&Value> = summary["rest_routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["admin_only"] == true)
        .collect();
    assert!(
        admin_routes.len() >= 12,
        "the template's admin routes: {admin_routes:?}"
    );
    let callers = [
        ("a customer", user_context(&customer), 403),
        (
            "an API key",
            json!({"user_id": "", "role": "", "session_id": "", "api_key_id": key_id}),
            403,
        ),
        ("nobody", json!({}), 401),
    ];
    for route in admin_routes {
        let (method, path) = (
            route["method"].as_str().unwrap(),
            route["path"].as_str().unwrap(),
        );
        let function = route["function"].as_str().unwrap();
        for (who, context, status) in &callers {
            let response = invoke(
                &stack,
                function,
                &proxy_event(method, path, context.clone()),
            )
            .await;
            assert_eq!(
                response["statusCode"], *status,
                "{method} {path} ({function}) called by {who}: {response}"
            );
        }
    }
}

#[tokio::test]
async fn odd_path_shapes_never_get_past_the_policy_or_to_someone_elses_order() {
    let stack = Stack::from_env();
    let customer = stack.customer().await;
    let token = &customer.access_token;
    let other = stack.customer().await;
    let (_, product) = stack.unpaid_product(1).await;
    let theirs = stack
        .place_order(
            &other,
            json!([{"product_id": product["id"], "quantity": 1}]),
        )
        .await;
    let theirs = theirs.body["id"].as_str().unwrap();

    // Shapes no resource can have: refused before the authorizer, as a path that matches nothing.
    for path in [
        "/api//v1/admin/audit-logs",
        "/api/v1//admin/audit-logs",
        "//api/v1/admin/audit-logs",
        "/api/v1/admin//audit-logs",
        "/api/v1/admin/audit-logs//",
        "/api/v1/./admin/audit-logs",
        "/api/v1/me/../admin/audit-logs",
        "/api/v1/%2e%2e/v1/admin/audit-logs",
        "/api/v1%2Fadmin/audit-logs",
        "/api/v1/admin%2Faudit-logs",
        &format!("/api/v1/orders//{theirs}"),
        &format!("/api/v1/orders/./{theirs}"),
    ] {
        let (status, body) = stack.raw_request("GET", path, token).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("NOT_FOUND")),
            "GET {path}: {body}"
        );
    }
    // Shapes that do name a resource reach it, and meet its policy like the canonical path.
    for (path, status) in [
        ("/api/v1/admin/audit-logs", 403),
        ("/api/v1/admin/audit-logs/", 403),
        ("/api/v1/%61dmin/audit-logs", 403),
        ("/api/v1/admin/%61udit-logs/", 403),
        ("/api/v1/me/", 200),
        (&format!("/api/v1/orders/{theirs}/"), 404),
        (&format!("/api/v1/orders/{theirs}/status/"), 404),
    ] {
        let (got, body) = stack.raw_request("GET", path, token).await;
        assert_eq!(got, status, "GET {path}: {body}");
    }
    // The same shapes change nothing for an admin: the refusal is about the path, not the caller.
    let admin = stack.admin().await;
    let (status, _) = stack
        .raw_request("GET", "/api/v1/admin/audit-logs/", &admin.access_token)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_on_its_next_request_though_its_policy_is_cached() {
    let stack = Stack::from_env();
    let (key_id, key) = stack.api_key("soon revoked").await;
    let with_key = |path: &'static str| {
        let (stack, key) = (&stack, key.clone());
        async move {
            stack
                .call("GET", path)
                .header("authorization", &format!("ApiKey {key}"))
                .send()
                .await
        }
    };
    // Anything behind the authorizer that a key may call; 403 (not a user) proves the key got through.
    assert_eq!(with_key("/api/v1/me").await.status, 403);
    let admin = stack.admin().await;
    let revoked = stack
        .call("DELETE", &format!("/api/v1/admin/api-keys/{key_id}"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    let refused = with_key("/api/v1/me").await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, "UNAUTHORIZED"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_routes_on_the_next_request() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    stack.set_role(&user.id, "admin").await;
    let rotated = stack
        .call("POST", "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await;
    let token = rotated.body["access_token"].as_str().unwrap().to_owned();
    let audit = |token: String| {
        let stack = &stack;
        async move {
            stack
                .call("GET", "/api/v1/admin/audit-logs?limit=1")
                .token(&token)
                .send()
                .await
        }
    };
    assert_eq!(audit(token.clone()).await.status, 200);
    stack.set_role(&user.id, "customer").await;
    // The token still says admin, and the authorizer's policy for it is cached as an admin's.
    assert_eq!(claims(&token)["role"], "admin");
    let refused = audit(token).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, "FORBIDDEN"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn logout_ends_the_access_tokens_of_its_session_at_once_and_only_those() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let laptop = stack.session(&user.email, &user.password, &user.id).await;
    assert_eq!(stack.me(&user.access_token).await.status, 200);
    let out = stack
        .call("POST", "/api/v1/auth/logout")
        .token(&user.access_token)
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await;
    assert_eq!(out.status, 204);
    let refused = stack.me(&user.access_token).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, "UNAUTHORIZED")
    );
    assert_eq!(
        stack.me(&laptop.access_token).await.status,
        200,
        "the other sign-in goes on"
    );
}

#[tokio::test]
async fn housekeeping_purges_what_no_request_can_use_and_keeps_the_rest() {
    let stack = Stack::from_env();
    let db = orderly_e2e::database().await;
    let user = stack.customer().await;
    let tag = uuid::Uuid::now_v7().simple().to_string();
    // Aged leftovers of every kind, and one live row of each next to them.
    db.batch_execute(&format!(
        "INSERT INTO rate_limits (key, tat) VALUES ('old-{tag}', now() - interval '2 hours'), ('live-{tag}', now() + interval '10 seconds');
         INSERT INTO idempotency_keys (scope, key, request_hash, expires_at)
              VALUES ('old-{tag}', 'k', '\\x00', now() - interval '1 minute'), ('live-{tag}', 'k', '\\x00', now() + interval '1 day');"
    ))
    .await
    .unwrap();
    let ended = stack.session(&user.email, &user.password, &user.id).await;
    let ended_sid = claims(&ended.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let live_sid = claims(&user.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    db.execute(
        "UPDATE sessions SET revoked_at = now() - interval '8 days', revoked_reason = 'logout' WHERE id = $1::text::uuid",
        &[&ended_sid],
    )
    .await
    .unwrap();

    let fired = stack.fire_schedule("HousekeepingFunction").await;
    let purged = &fired["result"];
    for kind in ["rate_limits", "idempotency_keys", "sessions"] {
        assert!(
            purged[kind].as_u64().is_some_and(|n| n >= 1),
            "{kind}: {fired}"
        );
    }
    let count = |sql: String| {
        let db = &db;
        async move { db.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM rate_limits WHERE key LIKE '%-{tag}'"
        ))
        .await,
        1
    );
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM idempotency_keys WHERE scope LIKE '%-{tag}'"
        ))
        .await,
        1
    );
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM sessions WHERE id IN ('{ended_sid}', '{live_sid}')"
        ))
        .await,
        1
    );
    assert_eq!(
        stack
            .call("GET", "/api/v1/me")
            .token(&user.access_token)
            .send()
            .await
            .status,
        200,
        "the live session is untouched"
    );
}

#[tokio::test]
async fn functions_connect_as_a_runtime_role_that_cannot_change_the_schema() {
    let stack = Stack::from_env();
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.aws().await);
    let value = secrets
        .get_secret_value()
        .secret_id("orderly-local/database")
        .send()
        .await
        .expect("the stack made the runtime secret");
    let runtime: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let login = runtime["username"].as_str().expect("a login of its own");
    assert!(login.starts_with("orderly_app_"), "{login}");

    // A request, so some function has surely connected.
    assert_eq!(stack.get_json("/api/v1/products").await.0, 200);
    let owner = orderly_e2e::database().await;
    let connected: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = current_database()",
            &[&login],
        )
        .await
        .unwrap()
        .get(0);
    assert!(connected > 0, "the functions' pools log in as {login}");

    let mut config: tokio_postgres::Config =
        std::env::var("DATABASE_URL").unwrap().parse().unwrap();
    config
        .user(login)
        .password(runtime["password"].as_str().unwrap());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .query("SELECT id FROM orders LIMIT 1", &[])
        .await
        .expect("the runtime role reads rows");
    for ddl in [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE audit_logs",
        "ALTER TABLE orders ADD COLUMN note text",
        "TRUNCATE audit_logs",
        "CREATE ROLE intruder",
    ] {
        let refused = client.batch_execute(ddl).await.expect_err(ddl);
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{ddl}: {refused}"
        );
    }
}

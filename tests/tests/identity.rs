//! Users, tokens, the authorizer, API keys and rate limits, black box through the local gateway.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use orderly_e2e::{Stack, client_ip, eventually};
use serde_json::{Value, json};

#[tokio::test]
async fn registration_normalises_the_email_and_refuses_duplicates_and_bad_input() {
    let stack = Stack::from_env();
    let local = uuid::Uuid::now_v7().simple().to_string();
    let created = stack
        .call("POST", "/api/v1/users")
        .json(&json!({"email": format!("  Ada.{local}@Example.TEST "), "password": "correct horse battery", "name": "Ada"}))
        .send()
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["email"], format!("ada.{local}@example.test"));
    assert_eq!(created.body["role"], "customer");
    assert!(created.body.get("password_hash").is_none());

    let again = stack
        .call("POST", "/api/v1/users")
        .json(&json!({"email": format!("ADA.{local}@example.test"), "password": "another password", "name": "Ada"}))
        .send()
        .await;
    assert_eq!((again.status, again.error_code()), (409, "EMAIL_TAKEN"));

    let invalid = stack
        .call("POST", "/api/v1/users")
        .json(&json!({"email": "nope", "password": "short", "name": ""}))
        .send()
        .await;
    assert_eq!(
        (invalid.status, invalid.error_code()),
        (422, "VALIDATION_FAILED")
    );
    let fields = invalid.error_fields();
    assert_eq!(fields, vec!["email", "password", "name"]);

    let with_role = stack
        .call("POST", "/api/v1/users")
        .json(&json!({"email": format!("eve.{local}@example.test"), "password": "correct horse battery", "name": "Eve", "role": "admin"}))
        .send()
        .await;
    assert_eq!(
        with_role.status, 422,
        "a role cannot be chosen at registration: {with_role:?}"
    );

    let malformed = stack
        .call("POST", "/api/v1/users")
        .body("{\"email\":")
        .send()
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "BAD_REQUEST")
    );
    let too_large = stack
        .call("POST", "/api/v1/users")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await;
    assert_eq!(
        (too_large.status, too_large.error_code()),
        (413, "PAYLOAD_TOO_LARGE")
    );
}

#[tokio::test]
async fn login_gives_tokens_and_a_wrong_password_or_unknown_email_the_same_401() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    assert!(user.access_token.split('.').count() == 3 && user.refresh_token.starts_with("rt_"));
    let me = stack
        .call("GET", "/api/v1/me")
        .token(&user.access_token)
        .send()
        .await;
    assert_eq!(
        (me.status, me.body["email"].as_str()),
        (200, Some(user.email.as_str()))
    );

    let wrong = stack
        .login(&user.email, "not the password at all", &client_ip())
        .await;
    let unknown = stack
        .login(
            "nobody-at-all@example.test",
            "not the password at all",
            &client_ip(),
        )
        .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(
        wrong.body["error"]["message"], unknown.body["error"]["message"],
        "no hint which one was wrong"
    );
}

/// An HS256 token built by hand (RFC 7515), so the test shares no JWT code with the system it tests.
fn forge(claims: Value, key: &[u8]) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        signed.as_bytes(),
    );
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test]
async fn tampered_unsigned_wrongly_signed_expired_and_missing_tokens_are_401() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let key =
        std::env::var("JWT_SIGNING_KEY").expect("the stack's signing key; `make test` sets it");
    let parts: Vec<&str> = user.access_token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["role"] = json!("admin");
    let now = chrono_now();

    let changed_payload = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let wrong_key = forge(payload.clone(), b"not-the-signing-key-not-the-signing-key");
    let mut expired = payload.clone();
    expired["role"] = json!("customer");
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 60);
    let expired = forge(expired, key.as_bytes());
    let mut right = payload.clone();
    right["role"] = json!("customer");
    let control = forge(right, key.as_bytes());

    assert_eq!(
        stack
            .call("GET", "/api/v1/me")
            .token(&control)
            .send()
            .await
            .status,
        200,
        "a correctly signed token passes"
    );
    for (what, token) in [
        ("changed payload", changed_payload),
        ("alg none", alg_none),
        ("wrong key", wrong_key),
        ("expired", expired),
    ] {
        let answer = stack.call("GET", "/api/v1/me").token(&token).send().await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, "UNAUTHORIZED"),
            "{what}"
        );
    }
    let missing = stack.call("GET", "/api/v1/me").send().await;
    assert_eq!(missing.status, 401);
    let basic = stack
        .call("GET", "/api/v1/me")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    assert_eq!(basic.status, 401);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn refresh(stack: &Stack, token: &str) -> orderly_e2e::Answer {
    stack
        .call("POST", "/api/v1/auth/refresh")
        .json(&json!({"refresh_token": token}))
        .send()
        .await
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_whole_family() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let first = refresh(&stack, &user.refresh_token).await;
    assert_eq!(first.status, 200, "{first:?}");
    let newest = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(newest, user.refresh_token);
    let second = refresh(&stack, &newest).await;
    assert_eq!(second.status, 200);
    let newest = second.body["refresh_token"].as_str().unwrap().to_owned();

    let reuse = refresh(&stack, &user.refresh_token).await;
    assert_eq!((reuse.status, reuse.error_code()), (401, "UNAUTHORIZED"));
    let after = refresh(&stack, &newest).await;
    assert_eq!(
        after.status, 401,
        "the newest token of the family stopped working too"
    );

    let audit = stack
        .audit_logs(&format!("action=auth.refresh_reuse&actor={}", user.id))
        .await;
    assert_eq!(audit.status, 200, "{audit:?}");
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{audit:?}"
    );
    assert_eq!(
        audit.body["items"][0]["after"]["revoked_tokens"], 3,
        "the family's three tokens"
    );
}

#[tokio::test]
async fn logout_revokes_the_refresh_family() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let out = stack
        .call("POST", "/api/v1/auth/logout")
        .token(&user.access_token)
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_eq!(refresh(&stack, &user.refresh_token).await.status, 401);
    let other = stack.customer().await;
    let foreign = stack
        .call("POST", "/api/v1/auth/logout")
        .token(&other.access_token)
        .json(&json!({"refresh_token": user.refresh_token}))
        .send()
        .await;
    assert_eq!(foreign.status, 401, "one cannot log someone else out");
}

#[tokio::test]
async fn users_see_and_change_only_themselves_and_only_admins_change_roles() {
    let stack = Stack::from_env();
    let (a, b) = (stack.customer().await, stack.customer().await);
    let admin = stack.admin().await;

    let own = stack
        .call("GET", &format!("/api/v1/users/{}", a.id))
        .token(&a.access_token)
        .send()
        .await;
    assert_eq!(own.status, 200);
    let other = stack
        .call("GET", &format!("/api/v1/users/{}", b.id))
        .token(&a.access_token)
        .send()
        .await;
    assert_eq!((other.status, other.error_code()), (404, "NOT_FOUND"));
    let change_other = stack
        .call("PUT", &format!("/api/v1/users/{}", b.id))
        .token(&a.access_token)
        .json(&json!({"name": "Mallory"}))
        .send()
        .await;
    assert_eq!(change_other.status, 404);
    let malformed = stack
        .call("GET", "/api/v1/users/not-a-uuid")
        .token(&a.access_token)
        .send()
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "BAD_REQUEST")
    );

    let renamed = stack
        .call("PUT", &format!("/api/v1/users/{}", a.id))
        .token(&a.access_token)
        .json(&json!({"name": "Ada L."}))
        .send()
        .await;
    assert_eq!(
        (renamed.status, renamed.body["name"].as_str()),
        (200, Some("Ada L."))
    );
    let self_promotion = stack
        .call("PUT", &format!("/api/v1/users/{}", a.id))
        .token(&a.access_token)
        .json(&json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(
        (self_promotion.status, self_promotion.error_code()),
        (403, "FORBIDDEN")
    );
    let wrong_current = stack
        .call("PUT", &format!("/api/v1/users/{}", a.id))
        .token(&a.access_token)
        .json(&json!({"password": "a brand new password", "current_password": "wrong"}))
        .send()
        .await;
    assert_eq!(wrong_current.status, 422);

    let seen_by_admin = stack
        .call("GET", &format!("/api/v1/users/{}", b.id))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(seen_by_admin.status, 200);
    let promoted = stack
        .call("PUT", &format!("/api/v1/users/{}", b.id))
        .token(&admin.access_token)
        .json(&json!({"role": "admin"}))
        .send()
        .await;
    assert_eq!(
        (promoted.status, promoted.body["role"].as_str()),
        (200, Some("admin"))
    );
    // The role reaches B's next access token.
    let rotated = refresh(&stack, &b.refresh_token).await;
    let token = rotated.body["access_token"].as_str().unwrap();
    let admin_route = stack
        .call("GET", "/api/v1/admin/audit-logs?action=user.role_changed")
        .token(token)
        .send()
        .await;
    assert_eq!(admin_route.status, 200, "{admin_route:?}");
    let logged = admin_route.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["target_id"] == json!(b.id) && l["after"]["role"] == "admin");
    assert!(logged, "the role change is audited with before/after");
}

#[tokio::test]
async fn customers_are_refused_on_admin_routes_by_the_authorizer_policy() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    for (method, path) in [
        ("GET", "/api/v1/admin/audit-logs"),
        ("POST", "/api/v1/admin/api-keys"),
        ("POST", "/api/v1/products"),
        (
            "PUT",
            "/api/v1/products/018f0000-0000-7000-8000-000000000000",
        ),
        ("GET", "/api/v1/admin/inventory/low-stock"),
    ] {
        let answer = stack
            .call(method, path)
            .token(&user.access_token)
            .json(&json!({}))
            .send()
            .await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (403, "FORBIDDEN"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn api_keys_are_shown_once_authenticate_service_clients_and_can_be_revoked() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (id, key) = stack.api_key("warehouse sync").await;

    let listed = stack
        .call("GET", "/api/v1/admin/api-keys?limit=100")
        .token(&admin.access_token)
        .send()
        .await;
    let entry = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == json!(id))
        .cloned()
        .expect("listed");
    assert!(
        entry.get("api_key").is_none() && !entry.to_string().contains(&key),
        "no secret in the list"
    );

    // The key authenticates (the authorizer lets it through) but is not a user.
    let as_key = stack
        .call("GET", "/api/v1/me")
        .header("authorization", &format!("ApiKey {key}"))
        .send()
        .await;
    assert_eq!(
        (as_key.status, as_key.error_code()),
        (403, "FORBIDDEN"),
        "{as_key:?}"
    );
    let bad_key = stack
        .call("GET", "/api/v1/me")
        .header("authorization", &format!("ApiKey {key}x"))
        .send()
        .await;
    assert_eq!(bad_key.status, 401);
    let on_admin = stack
        .call("GET", "/api/v1/admin/audit-logs")
        .header("authorization", &format!("ApiKey {key}"))
        .send()
        .await;
    assert_eq!(on_admin.status, 403);

    let revoked = stack
        .call("DELETE", &format!("/api/v1/admin/api-keys/{id}"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(revoked.status, 204);
    let again = stack
        .call("DELETE", &format!("/api/v1/admin/api-keys/{id}"))
        .token(&admin.access_token)
        .send()
        .await;
    assert_eq!(again.status, 404);
    // API Gateway caches the policy for a credential for ReauthorizeEvery; the authorizer itself refuses
    // the revoked key at once.
    let event = json!({
        "type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:local/prod/GET/api/v1/me",
        "httpMethod": "GET", "path": "/api/v1/me", "resource": "/api/v1/me",
        "headers": {"authorization": format!("ApiKey {key}")}, "requestContext": {"httpMethod": "GET"},
    });
    let direct: Value = stack
        .http
        .post(format!(
            "{}/functions/AuthorizerFunction/invoke",
            stack.control
        ))
        .json(&event)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        direct["error"], "the function failed: Unauthorized",
        "{direct}"
    );
}

#[tokio::test]
async fn a_user_gets_1000_requests_a_minute_then_429_with_retry_after() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let started = std::time::Instant::now();
    let mut passed = 0;
    let mut refused = None;
    // GCRA gives one request back every 60 ms, so a few more than 1000 pass while these are in flight;
    // the bound below allows exactly for that.
    while refused.is_none() && passed < 1500 {
        let calls = (0..50).map(|_| {
            stack
                .call("GET", "/api/v1/me")
                .token(&user.access_token)
                .send()
        });
        for answer in futures::future::join_all(calls).await {
            match answer.status {
                200 if refused.is_none() => passed += 1,
                200 => {}
                _ if refused.is_none() => refused = Some(answer),
                _ => {}
            }
        }
    }
    let refills = (started.elapsed().as_millis() / 60) as usize;
    let over = refused.expect("a 429 arrives");
    assert!(
        (1000..=1000 + refills + 50).contains(&passed),
        "{passed} passed in {:?} before the first refusal",
        started.elapsed()
    );
    assert_eq!((over.status, over.error_code()), (429, "RATE_LIMITED"));
    assert!(
        over.header("retry-after")
            .and_then(|r| r.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
    );
    assert_eq!(
        (
            over.header("ratelimit-limit"),
            over.header("ratelimit-remaining")
        ),
        (Some("1000"), Some("0"))
    );
    let other = stack.customer().await;
    assert_eq!(
        stack
            .call("GET", "/api/v1/me")
            .token(&other.access_token)
            .send()
            .await
            .status,
        200,
        "limits are per user"
    );
}

#[tokio::test]
async fn login_attempts_are_limited_per_ip_and_per_email_and_recover() {
    let stack = Stack::from_env();
    let ip = client_ip();
    for n in 0..20 {
        let attempt = stack
            .login(
                &format!("guess-{n}-{}@example.test", uuid::Uuid::now_v7().simple()),
                "wrong password",
                &ip,
            )
            .await;
        assert_eq!(attempt.status, 401);
    }
    let limited = stack
        .login("one-more@example.test", "wrong password", &ip)
        .await;
    assert_eq!(
        (limited.status, limited.error_code()),
        (429, "RATE_LIMITED")
    );
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));

    // GCRA gives one attempt back every 3 s (20 a minute): the IP may try again once Retry-After passes.
    let recovered = eventually(
        "the login limit to recover",
        Duration::from_secs(retry_after + 10),
        || {
            let (stack, ip) = (&stack, &ip);
            async move {
                let attempt = stack
                    .login("after-the-window@example.test", "wrong password", ip)
                    .await;
                (attempt.status == 401).then_some(attempt)
            }
        },
    )
    .await;
    assert_eq!(recovered.error_code(), "UNAUTHORIZED");

    let user = stack.customer().await;
    for _ in 0..9 {
        assert_eq!(
            stack
                .login(&user.email, "wrong password", &client_ip())
                .await
                .status,
            401
        );
    }
    let by_email = stack.login(&user.email, &user.password, &client_ip()).await;
    assert_eq!(
        by_email.status, 429,
        "the 11th attempt on one email in a minute, from any IP, is refused"
    );
}

async fn change_profile(
    stack: &Stack,
    user: &orderly_e2e::Session,
    body: Value,
) -> orderly_e2e::Answer {
    stack
        .call("PUT", &format!("/api/v1/users/{}", user.id))
        .token(&user.access_token)
        .json(&body)
        .send()
        .await
}

#[tokio::test]
async fn a_new_password_ends_every_other_session_and_a_new_email_needs_the_password() {
    let stack = Stack::from_env();
    let phone = stack.customer().await;
    let laptop = stack
        .session(&phone.email, &phone.password, &phone.id)
        .await;

    let no_password = change_profile(
        &stack,
        &phone,
        json!({"email": format!("moved-{}@example.test", uuid::Uuid::now_v7().simple())}),
    )
    .await;
    assert_eq!(no_password.status, 422, "{no_password:?}");
    assert_eq!(no_password.error_fields(), vec!["current_password"]);
    let new_email = format!("moved-{}@example.test", uuid::Uuid::now_v7().simple());
    let moved = change_profile(
        &stack,
        &phone,
        json!({"email": new_email, "current_password": phone.password}),
    )
    .await;
    assert_eq!(
        (moved.status, moved.body["email"].as_str()),
        (200, Some(new_email.as_str()))
    );

    let changed = change_profile(
        &stack,
        &phone,
        json!({"password": "a brand new password", "current_password": phone.password}),
    )
    .await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(
        stack.me(&phone.access_token).await.status,
        200,
        "the session that changed it goes on"
    );
    assert_eq!(
        stack.me(&laptop.access_token).await.status,
        401,
        "the other one ends at once"
    );
    assert_eq!(refresh(&stack, &laptop.refresh_token).await.status, 401);
    assert_eq!(refresh(&stack, &phone.refresh_token).await.status, 200);
    let audit = stack
        .audit_logs(&format!("action=user.password_changed&actor={}", phone.id))
        .await;
    let ended = &audit.body["items"][0]["after"]["ended_sessions"];
    assert_eq!(
        ended.as_array().map(Vec::len),
        Some(1),
        "the audit names the ended session: {audit:?}"
    );
}

#[tokio::test]
async fn current_password_guesses_spend_the_same_per_email_budget_as_logins() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    // The customer's own login spent one of the ten.
    for n in 0..9 {
        let guess = change_profile(
            &stack,
            &user,
            json!({"password": "a brand new password", "current_password": format!("guess {n}")}),
        )
        .await;
        assert_eq!(guess.status, 422, "guess {n}: {guess:?}");
    }
    let limited = change_profile(
        &stack,
        &user,
        json!({"password": "a brand new password", "current_password": user.password}),
    )
    .await;
    assert_eq!(
        (limited.status, limited.error_code()),
        (429, "RATE_LIMITED"),
        "even the right password waits once the budget is spent"
    );
    assert_eq!(
        stack
            .login(&user.email, &user.password, &client_ip())
            .await
            .status,
        429,
        "and so does login for this email"
    );
}

#[tokio::test]
async fn registration_and_refresh_are_limited_per_address() {
    let stack = Stack::from_env();
    let ip = client_ip();
    let register = |n: usize| {
        let (stack, ip) = (&stack, &ip);
        async move {
            stack
                .call_from("POST", "/api/v1/users", ip)
                .json(&json!({"email": format!("burst-{n}-{}@example.test", uuid::Uuid::now_v7().simple()), "password": "x", "name": "B"}))
                .send()
                .await
        }
    };
    // Invalid registrations count too: the limit is on attempts, before any work.
    for n in 0..10 {
        assert_eq!(register(n).await.status, 422);
    }
    let limited = register(10).await;
    assert_eq!(
        (limited.status, limited.error_code()),
        (429, "RATE_LIMITED")
    );
    assert!(limited.header("retry-after").is_some());

    let refresh_from = |token: &'static str| {
        let (stack, ip) = (&stack, &ip);
        async move {
            stack
                .call_from("POST", "/api/v1/auth/refresh", ip)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
        }
    };
    for _ in 0..60 {
        assert_eq!(refresh_from("rt_not-a-token").await.status, 401);
    }
    assert_eq!(refresh_from("rt_not-a-token").await.status, 429);
}

#[tokio::test]
async fn a_session_ends_ninety_days_after_sign_in_however_often_it_is_refreshed() {
    let stack = Stack::from_env();
    let user = stack.customer().await;
    let rotated = refresh(&stack, &user.refresh_token).await;
    assert_eq!(rotated.status, 200);
    let sid = orderly_e2e::claims(&user.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        orderly_e2e::claims(rotated.body["access_token"].as_str().unwrap())["sid"],
        sid.as_str(),
        "a rotation stays in its session"
    );
    orderly_e2e::database()
        .await
        .execute(
            "UPDATE sessions SET created_at = now() - interval '90 days 1 minute', expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid",
            &[&sid],
        )
        .await
        .unwrap();
    let newest = rotated.body["refresh_token"].as_str().unwrap();
    let refused = refresh(&stack, newest).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (401, "UNAUTHORIZED")
    );
}

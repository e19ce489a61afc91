//! The notification history over HTTP: its shape, read state, filters, and only one's own. The
//! notifications are written straight into the stack's database: the pipeline that sends them is under
//! test elsewhere (pipeline.rs), the history is under test here.

use orderly_e2e::{Answer, Session, Stack};
use serde_json::Value;

async fn received(user: &Session, title: &str) -> String {
    let id = uuid::Uuid::now_v7();
    orderly_e2e::database()
        .await
        .execute(
            "INSERT INTO notifications (id, user_id, type, title, message, data)
             VALUES ($1, $2::text::uuid, 'announcement', $3, 'Hello', '{\"n\": 1}')",
            &[&id, &user.id, &title],
        )
        .await
        .unwrap();
    id.to_string()
}

async fn history(stack: &Stack, user: &Session, query: &str) -> Answer {
    stack
        .call("GET", &format!("/api/v1/notifications{query}"))
        .token(&user.access_token)
        .send()
        .await
}

fn titles(answer: &Answer) -> Vec<&str> {
    answer.body["items"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect()
}

async fn mark_read(stack: &Stack, user: &Session, id: &str) -> Answer {
    stack
        .call("PUT", &format!("/api/v1/notifications/{id}/read"))
        .token(&user.access_token)
        .send()
        .await
}

#[tokio::test]
async fn the_history_filters_by_read_state_and_marks_one_or_all_read() {
    let stack = Stack::from_env();
    let (me, other) = (stack.customer().await, stack.customer().await);
    let first = received(&me, "first").await;
    received(&me, "second").await;
    let theirs = received(&other, "theirs").await;

    let all = history(&stack, &me, "").await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(titles(&all), ["second", "first"], "newest first");
    let newest = &all.body["items"][0];
    for field in [
        "id",
        "type",
        "title",
        "message",
        "data",
        "timestamp",
        "status",
    ] {
        assert!(newest.get(field).is_some(), "{field} in {newest}");
    }
    assert_eq!(newest["data"]["n"], 1);
    assert_eq!(
        (&newest["read"], &newest["read_at"]),
        (&Value::Bool(false), &Value::Null)
    );

    let read = mark_read(&stack, &me, &first).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["read"], true);
    let read_at = read.body["read_at"].clone();
    assert!(read_at.is_string(), "{read:?}");
    let again = mark_read(&stack, &me, &first).await;
    assert_eq!(
        again.body["read_at"], read_at,
        "marking again keeps the first time"
    );
    let foreign = mark_read(&stack, &me, &theirs).await;
    assert_eq!(
        foreign.status, 404,
        "another user's notification: {foreign:?}"
    );
    let malformed = mark_read(&stack, &me, "not-an-id").await;
    assert_eq!(malformed.status, 400, "{malformed:?}");

    assert_eq!(
        titles(&history(&stack, &me, "?unread=true").await),
        ["second"]
    );
    assert_eq!(
        titles(&history(&stack, &me, "?unread=false").await),
        ["first"]
    );
    let bad = history(&stack, &me, "?unread=maybe").await;
    assert_eq!(
        (bad.status, bad.error_fields()),
        (422, vec!["unread"]),
        "{bad:?}"
    );

    let read_all = |user: &Session| {
        stack
            .call("PUT", "/api/v1/notifications/read-all")
            .token(&user.access_token)
            .send()
    };
    let marked = read_all(&me).await;
    assert_eq!(
        (marked.status, &marked.body["updated"]),
        (200, &Value::from(1))
    );
    assert_eq!(
        read_all(&me).await.body["updated"],
        0,
        "nothing left unread"
    );
    assert!(titles(&history(&stack, &me, "?unread=true").await).is_empty());
    assert_eq!(
        titles(&history(&stack, &other, "?unread=true").await),
        ["theirs"],
        "nobody else's are touched"
    );
    let anonymous = stack
        .call("PUT", "/api/v1/notifications/read-all")
        .send()
        .await;
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
}

const PUSH: std::time::Duration = std::time::Duration::from_secs(30);

async fn send(stack: &Stack, admin: &Session, body: &Value, key: Option<&str>) -> Answer {
    let call = stack
        .call("POST", "/api/v1/admin/notifications")
        .token(&admin.access_token)
        .json(body);
    match key {
        Some(key) => call.header("idempotency-key", key).send().await,
        None => call.send().await,
    }
}

fn notification_of<'a>(answer: &'a Answer, user: &Session) -> &'a str {
    answer.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["user_id"] == user.id.as_str())
        .and_then(|n| n["notification_id"].as_str())
        .expect("a notification for the user")
}

#[tokio::test]
async fn send_to_users_reaches_every_socket_of_each_target_and_nobody_else() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (a, b, bystander) = (
        stack.customer().await,
        stack.customer().await,
        stack.customer().await,
    );
    let mut sockets = vec![
        (stack.connect_as(&a).await, &a),
        (stack.connect_as(&a).await, &a),
        (stack.connect_as(&b).await, &b),
    ];
    let mut elsewhere = stack.connect_as(&bystander).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = serde_json::json!({
        "user_ids": [a.id, b.id, unknown, a.id],
        "type": "promotion", "title": "Sale", "message": "Half off today", "data": {"code": "HALF"},
    });
    let sent = send(&stack, &admin, &body, Some(&format!("send-{unknown}"))).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    assert_eq!(
        sent.body["notifications"].as_array().unwrap().len(),
        2,
        "one per known user"
    );
    assert_eq!(sent.body["unknown_user_ids"], serde_json::json!([unknown]));

    for (socket, user) in &mut sockets {
        let pushed = socket.receive_json(PUSH).await;
        assert_eq!(pushed["type"], "notification", "{pushed}");
        let notification = &pushed["notification"];
        assert_eq!(notification["id"], notification_of(&sent, user), "{pushed}");
        assert_eq!(
            (
                &notification["type"],
                &notification["title"],
                &notification["message"]
            ),
            (
                &Value::from("promotion"),
                &Value::from("Sale"),
                &Value::from("Half off today")
            )
        );
        assert_eq!(notification["data"]["code"], "HALF");
        assert!(notification["timestamp"].is_string(), "{pushed}");
    }
    // Every target has it; the bystander's next message is the answer to a ping sent after that.
    elsewhere.send(serde_json::json!({"action": "ping"})).await;
    assert_eq!(elsewhere.receive_json(PUSH).await["type"], "pong");

    let unread = history(&stack, &a, "?unread=true").await;
    assert_eq!(unread.body["items"][0]["id"], notification_of(&sent, &a));
    assert_eq!(unread.body["items"][0]["title"], "Sale");

    let again = send(&stack, &admin, &body, Some(&format!("send-{unknown}"))).await;
    assert_eq!(
        (again.status, &again.body["batch_id"]),
        (202, &sent.body["batch_id"]),
        "the same key answers the same send"
    );
    assert_eq!(
        titles(&history(&stack, &a, "?unread=true").await),
        ["Sale"],
        "sent once"
    );
}

#[tokio::test]
async fn only_admins_send_and_a_bad_send_names_its_fields() {
    let stack = Stack::from_env();
    let (admin, customer) = (stack.admin().await, stack.customer().await);
    let body =
        serde_json::json!({"user_ids": [customer.id], "type": "x", "title": "t", "message": "m"});
    let refused = send(&stack, &customer, &body, None).await;
    assert_eq!(refused.status, 403, "{refused:?}");

    let bad = serde_json::json!({"user_ids": [], "type": "Promo!", "title": " ", "message": "m", "data": [1]});
    let answer = send(&stack, &admin, &bad, None).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    assert_eq!(answer.error_fields(), ["user_ids", "type", "title", "data"]);
    let too_many: Vec<String> = (0..1_001)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let answer = send(
        &stack,
        &admin,
        &serde_json::json!({"user_ids": too_many, "type": "x", "title": "t", "message": "m"}),
        None,
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_fields()),
        (422, vec!["user_ids"])
    );
}

/// Sends `title` to `user` alone and returns its notification id.
async fn notify(stack: &Stack, admin: &Session, user: &Session, title: &str) -> String {
    let body =
        serde_json::json!({"user_ids": [user.id], "type": "note", "title": title, "message": "m"});
    let sent = send(stack, admin, &body, None).await;
    assert_eq!(sent.status, 202, "{sent:?}");
    notification_of(&sent, user).to_owned()
}

async fn next_notification(socket: &mut orderly_e2e::Socket) -> (String, String) {
    let pushed = socket.receive_json(PUSH).await;
    assert_eq!(pushed["type"], "notification", "{pushed}");
    let n = &pushed["notification"];
    (
        n["id"].as_str().unwrap().to_owned(),
        n["title"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_client_that_reconnects_with_since_gets_what_it_missed_then_live_ones_exactly_once() {
    let stack = Stack::from_env();
    let (admin, user) = (stack.admin().await, stack.customer().await);
    let mut socket = stack.connect_as(&user).await;
    let first = notify(&stack, &admin, &user, "first").await;
    assert_eq!(
        next_notification(&mut socket).await,
        (first.clone(), "first".into())
    );
    socket.close().await;

    let second = notify(&stack, &admin, &user, "second").await;
    let third = notify(&stack, &admin, &user, "third").await;
    let mut resumed = stack.resume_as(&user, &first).await;
    assert_eq!(
        next_notification(&mut resumed).await,
        (second, "second".into())
    );
    assert_eq!(
        next_notification(&mut resumed).await,
        (third, "third".into())
    );
    let fourth = notify(&stack, &admin, &user, "fourth").await;
    assert_eq!(
        next_notification(&mut resumed).await,
        (fourth, "fourth".into()),
        "then the live ones"
    );
    resumed.send(serde_json::json!({"action": "ping"})).await;
    assert_eq!(
        resumed.receive_json(PUSH).await["type"],
        "pong",
        "nothing twice"
    );

    let ticket = stack.ticket(&user).await;
    let refused = stack
        .try_connect(Some(&format!("{ticket}&since=yesterday")))
        .await;
    assert_eq!(refused.err(), Some(400), "since must be a notification id");
}

#[tokio::test]
async fn a_client_that_missed_more_than_the_bound_is_told_to_page_the_history() {
    let stack = Stack::from_env();
    let (admin, user) = (stack.admin().await, stack.customer().await);
    for n in 0..101 {
        received(&user, &format!("missed {n}")).await;
    }
    let mut resumed = stack.resume_as(&user, &uuid::Uuid::nil().to_string()).await;
    let resync = resumed.receive_json(PUSH).await;
    assert_eq!(resync["type"], "resync", "{resync}");
    let live = notify(&stack, &admin, &user, "after the resync").await;
    assert_eq!(
        next_notification(&mut resumed).await,
        (live, "after the resync".into())
    );
}

#[tokio::test]
async fn a_broadcast_retried_with_its_idempotency_key_reaches_each_member_once() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let member = stack.customer().await;
    let created = stack
        .call("POST", "/api/v1/admin/groups")
        .token(&admin.access_token)
        .json(&serde_json::json!({"name": format!("retry {}", uuid::Uuid::now_v7())}))
        .send()
        .await;
    let group = created.body["id"].as_str().unwrap().to_owned();
    let members = format!("/api/v1/admin/groups/{group}/members/{}", member.id);
    assert_eq!(
        admin_call(&stack, &admin, "PUT", &members).await.status,
        200
    );
    let mut socket = stack.connect_as(&member).await;

    let key = uuid::Uuid::now_v7().to_string();
    let path = format!("/api/v1/admin/groups/{group}/broadcast");
    let send = |title: &'static str| {
        stack
            .call("POST", &path)
            .token(&admin.access_token)
            .header("idempotency-key", &key)
            .json(&serde_json::json!({"type": "vip", "title": title, "message": "m"}))
            .send()
    };
    let (first, concurrent) = tokio::join!(send("Once"), send("Once"));
    let again = send("Once").await;
    assert_eq!(
        (first.status, concurrent.status, again.status),
        (202, 202, 202),
        "{first:?} {concurrent:?} {again:?}"
    );
    for answer in [&concurrent, &again] {
        assert_eq!(answer.body["broadcast_id"], first.body["broadcast_id"]);
    }
    let other = send("Twice?").await;
    assert_eq!(
        (other.status, other.error_fields()),
        (422, vec!["Idempotency-Key"]),
        "{other:?}"
    );
    let group_id: uuid::Uuid = group.parse().unwrap();
    let stored: i64 = orderly_e2e::database()
        .await
        .query_one(
            "SELECT count(*) FROM broadcasts WHERE group_id = $1",
            &[&group_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "one broadcast recorded");

    // The member gets it once (stored before it is pushed): the socket's next message answers a ping.
    assert_eq!(next_notification(&mut socket).await.1, "Once");
    socket.send(serde_json::json!({"action": "ping"})).await;
    assert_eq!(socket.receive_json(PUSH).await["type"], "pong");
    assert_eq!(titles(&history(&stack, &member, "").await), ["Once"]);
}

async fn admin_call(stack: &Stack, admin: &Session, method: &str, path: &str) -> Answer {
    stack
        .call(method, path)
        .token(&admin.access_token)
        .send()
        .await
}

#[tokio::test]
async fn a_broadcast_reaches_every_socket_of_the_members_only() {
    let stack = Stack::from_env();
    let admin = stack.admin().await;
    let (first, second, removed, outsider) = (
        stack.customer().await,
        stack.customer().await,
        stack.customer().await,
        stack.customer().await,
    );
    let name = format!("VIP {}", uuid::Uuid::now_v7());
    let created = stack
        .call("POST", "/api/v1/admin/groups")
        .token(&admin.access_token)
        .json(&serde_json::json!({"name": name}))
        .send()
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let group = created.body["id"].as_str().unwrap().to_owned();
    let again = stack
        .call("POST", "/api/v1/admin/groups")
        .token(&admin.access_token)
        .json(&serde_json::json!({"name": name}))
        .send()
        .await;
    assert_eq!((again.status, again.error_code()), (409, "GROUP_EXISTS"));

    let members = format!("/api/v1/admin/groups/{group}/members");
    for user in [&first, &second, &removed] {
        let added = admin_call(&stack, &admin, "PUT", &format!("{members}/{}", user.id)).await;
        assert_eq!(
            (added.status, &added.body["user_id"]),
            (200, &Value::from(user.id.as_str()))
        );
    }
    let nobody = uuid::Uuid::now_v7();
    assert_eq!(
        admin_call(&stack, &admin, "PUT", &format!("{members}/{nobody}"))
            .await
            .status,
        404
    );
    let gone = admin_call(
        &stack,
        &admin,
        "DELETE",
        &format!("{members}/{}", removed.id),
    )
    .await;
    assert_eq!(gone.status, 204, "{gone:?}");
    let listed = admin_call(&stack, &admin, "GET", &members).await;
    let mut ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![first.id.as_str(), second.id.as_str()];
    expected.sort();
    assert_eq!(ids, expected);

    let mut sockets = vec![
        stack.connect_as(&first).await,
        stack.connect_as(&first).await,
        stack.connect_as(&second).await,
    ];
    let mut elsewhere = vec![
        stack.connect_as(&removed).await,
        stack.connect_as(&outsider).await,
    ];
    let topic = format!("group:{group}");
    sockets[0]
        .send(serde_json::json!({"action": "subscribe", "topics": [topic]}))
        .await;
    assert_eq!(
        sockets[0].receive_json(PUSH).await["type"],
        "subscribed",
        "a member follows the group"
    );
    elsewhere[0]
        .send(serde_json::json!({"action": "subscribe", "topics": [topic]}))
        .await;
    let refused = elsewhere[0].receive_json(PUSH).await;
    assert_eq!(
        refused["code"], "FORBIDDEN_TOPIC",
        "a removed member does not: {refused}"
    );

    let broadcast = stack
        .call("POST", &format!("/api/v1/admin/groups/{group}/broadcast"))
        .token(&admin.access_token)
        .json(&serde_json::json!({"type": "vip", "title": "Early access", "message": "Tomorrow 9:00"}))
        .send()
        .await;
    assert_eq!(
        (broadcast.status, &broadcast.body["members"]),
        (202, &Value::from(2)),
        "{broadcast:?}"
    );
    for socket in &mut sockets {
        let (_, title) = next_notification(socket).await;
        assert_eq!(title, "Early access");
    }
    for socket in &mut elsewhere {
        socket.send(serde_json::json!({"action": "ping"})).await;
        assert_eq!(
            socket.receive_json(PUSH).await["type"],
            "pong",
            "not a member: nothing"
        );
    }
    assert_eq!(
        titles(&history(&stack, &second, "").await),
        ["Early access"]
    );

    let customer = stack
        .call("POST", "/api/v1/admin/groups")
        .token(&first.access_token)
        .json(&serde_json::json!({"name": "mine"}))
        .send()
        .await;
    assert_eq!(customer.status, 403);
}

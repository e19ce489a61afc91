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

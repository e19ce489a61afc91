//! What `POST /api/v1/events` accepts: each event is read on its own, so one bad event is reported with
//! its index and field and the rest are kept.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{MAX_FUTURE, MetricEvent};

/// Events in one request at most (a batch is one transaction and one binary `COPY`).
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// How late an event may arrive: a phone offline for a few days still reports what happened. Older
/// events belong to an import, not to the live API.
pub const MAX_PAST: Duration = Duration::days(7);
pub const MAX_EVENT_TYPE_CHARS: usize = 64;
pub const MAX_USER_ID_CHARS: usize = 128;

/// One event that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    /// Its position in the request's array, from 0.
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// Who sends, which decides whose events these may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// An API key bound to one merchant: events are that merchant's (`merchant_id` may be left out, and
    /// may not name another).
    MerchantKey(Uuid),
    /// An API key of the platform, bound to no merchant: each event names its merchant.
    PlatformKey,
    /// A signed-in user sending their own events: `user_id` is theirs (left out or equal), and each event
    /// names the merchant whose shop it happened in.
    User(Uuid),
}

/// Reads the event at `index`, or says everything wrong with it.
pub fn read_event(
    index: usize,
    raw: &Value,
    sender: Sender,
    now: DateTime<Utc>,
) -> Result<MetricEvent, Vec<Rejection>> {
    let mut problems = Vec::new();
    let mut reject = |field: &str, message: String| {
        problems.push(Rejection {
            index,
            field: field.to_owned(),
            message,
        })
    };
    let Some(fields) = raw.as_object() else {
        reject("event", "must be an object".into());
        return Err(problems);
    };
    for name in fields.keys() {
        if !matches!(
            name.as_str(),
            "timestamp" | "user_id" | "event_type" | "value" | "merchant_id"
        ) {
            reject(name, "is not a field of an event".into());
        }
    }
    let timestamp = match fields.get("timestamp") {
        None | Some(Value::Null) => Err("is required".to_owned()),
        Some(Value::String(text)) => check_timestamp(text, now),
        Some(_) => Err("must be a string (RFC 3339 date-time)".into()),
    }
    .map_err(|m| reject("timestamp", m))
    .ok();
    let event_type = required_text(fields, "event_type", MAX_EVENT_TYPE_CHARS)
        .and_then(check_event_type)
        .map_err(|m| reject("event_type", m))
        .ok();
    let value = match fields.get("value") {
        None | Some(Value::Null) => Err("is required".to_owned()),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| "must be a finite number".to_owned())
            .and_then(check_value),
        Some(_) => Err("must be a number".into()),
    }
    .map_err(|m| reject("value", m))
    .ok();
    let user_id = match (sender, fields.get("user_id")) {
        (_, None | Some(Value::Null)) => check_user(sender, None),
        (_, Some(Value::String(id))) => check_user(sender, Some(id)),
        (Sender::User(_), Some(_)) => Err("must be your own user id (or left out)".into()),
        (_, Some(_)) => Err("must be a string".into()),
    }
    .map_err(|m| reject("user_id", m))
    .ok();
    let named = match fields.get("merchant_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => id
            .parse::<Uuid>()
            .map(Some)
            .map_err(|_| "must be a UUID".to_owned()),
        Some(_) => Err("must be a UUID string".into()),
    };
    let merchant_id = named
        .and_then(|named| check_merchant(sender, named))
        .map_err(|m| reject("merchant_id", m))
        .ok();
    match (timestamp, merchant_id, user_id, event_type, value) {
        (Some(timestamp), Some(merchant_id), Some(user_id), Some(event_type), Some(value))
            if problems.is_empty() =>
        {
            Ok(MetricEvent {
                timestamp,
                merchant_id,
                user_id,
                event_type,
                value,
            })
        }
        _ => Err(problems),
    }
}

fn required_text(fields: &Map<String, Value>, name: &str, max: usize) -> Result<String, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Err("is required".into()),
        Some(Value::String(text)) => bounded_text(text, max),
        Some(_) => Err("must be a string".into()),
    }
}

// The rules of each field, shared by the typed fast path and the field-by-field reader.

fn bounded_text(text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    match text.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > max => Err(format!("must have at most {max} characters")),
        _ => Ok(text.to_owned()),
    }
}

fn check_timestamp(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match DateTime::parse_from_rfc3339(text) {
        Err(_) => Err("must be an RFC 3339 date-time, e.g. 2026-12-02T10:00:00Z".into()),
        Ok(t) if t.with_timezone(&Utc) > now + MAX_FUTURE => Err(format!(
            "is more than {} minutes in the future",
            MAX_FUTURE.num_minutes()
        )),
        Ok(t) if t.with_timezone(&Utc) < now - MAX_PAST => Err(format!(
            "is more than {} days in the past",
            MAX_PAST.num_days()
        )),
        Ok(t) => Ok(t.with_timezone(&Utc)),
    }
}

fn check_event_type(text: String) -> Result<String, String> {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
    {
        Ok(text)
    } else {
        Err("may hold only letters, digits and _ . : -".into())
    }
}

fn check_value(value: f64) -> Result<f64, String> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err("must be a finite number".into())
    }
}

fn check_user(sender: Sender, given: Option<&str>) -> Result<String, String> {
    match (sender, given) {
        (Sender::User(me), None) => Ok(me.to_string()),
        (Sender::User(me), Some(id)) if id.trim() == me.to_string() => Ok(me.to_string()),
        (Sender::User(_), Some(_)) => Err("must be your own user id (or left out)".into()),
        (_, None) => Err("is required".into()),
        (_, Some(id)) => bounded_text(id, MAX_USER_ID_CHARS),
    }
}

fn check_merchant(sender: Sender, named: Option<Uuid>) -> Result<Uuid, String> {
    match (sender, named) {
        (Sender::MerchantKey(mine), None) => Ok(mine),
        (Sender::MerchantKey(mine), Some(id)) if id == mine => Ok(mine),
        (Sender::MerchantKey(_), Some(_)) => {
            Err("this API key sends events for its own merchant only".into())
        }
        (_, Some(id)) => Ok(id),
        (_, None) => Err("is required (which merchant's shop this happened in)".into()),
    }
}

/// An event as a well-formed request sends it, read straight from the body without building a JSON tree
/// (the whole array in one pass). Any event that does not fit this shape sends the request down
/// `read_event`, which says exactly what is wrong.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TypedEvent<'a> {
    #[serde(borrow)]
    timestamp: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    user_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    event_type: std::borrow::Cow<'a, str>,
    value: f64,
    #[serde(default)]
    merchant_id: Option<Uuid>,
}

/// The typed event, checked by the same rules as `read_event`; `None` when any rule fails (then
/// `read_event` reports it).
pub fn read_typed(
    event: &TypedEvent<'_>,
    sender: Sender,
    now: DateTime<Utc>,
) -> Option<MetricEvent> {
    Some(MetricEvent {
        timestamp: check_timestamp(&event.timestamp, now).ok()?,
        merchant_id: check_merchant(sender, event.merchant_id).ok()?,
        user_id: check_user(sender, event.user_id.as_deref()).ok()?,
        event_type: bounded_text(&event.event_type, MAX_EVENT_TYPE_CHARS)
            .and_then(check_event_type)
            .ok()?,
        value: check_value(event.value).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fields_of(result: Result<MetricEvent, Vec<Rejection>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|r| r.field).collect()
    }

    #[test]
    fn a_good_event_of_a_merchant_key_takes_the_keys_merchant() {
        let shop = Uuid::now_v7();
        let event = read_event(
            0,
            &json!({"timestamp": "2026-12-02T11:59:00+01:00", "user_id": " u-7 ", "event_type": "page_view", "value": 12.5}),
            Sender::MerchantKey(shop),
            now(),
        )
        .unwrap();
        assert_eq!(event.merchant_id, shop);
        assert_eq!(event.user_id, "u-7");
        assert_eq!(event.timestamp.to_rfc3339(), "2026-12-02T10:59:00+00:00");
        assert_eq!(event.value, 12.5);
    }

    #[test]
    fn every_problem_of_an_event_is_reported_with_its_index() {
        let rejected = read_event(
            7,
            &json!({"timestamp": "yesterday", "user_id": 5, "event_type": "page view", "value": "1", "colour": "red"}),
            Sender::PlatformKey,
            now(),
        )
        .unwrap_err();
        assert!(rejected.iter().all(|r| r.index == 7));
        let mut fields: Vec<&str> = rejected.iter().map(|r| r.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "colour",
                "event_type",
                "merchant_id",
                "timestamp",
                "user_id",
                "value"
            ]
        );
    }

    #[test]
    fn timestamps_too_far_ahead_or_behind_are_refused() {
        let shop = Sender::MerchantKey(Uuid::now_v7());
        let at = |t: &str| json!({"timestamp": t, "user_id": "u", "event_type": "x", "value": 1});
        assert_eq!(
            fields_of(read_event(0, &at("2026-12-02T12:06:00Z"), shop, now())),
            ["timestamp"]
        );
        assert_eq!(
            fields_of(read_event(0, &at("2026-11-25T11:59:00Z"), shop, now())),
            ["timestamp"]
        );
        assert!(read_event(0, &at("2026-12-02T12:04:00Z"), shop, now()).is_ok());
        assert!(read_event(0, &at("2026-11-25T12:01:00Z"), shop, now()).is_ok());
    }

    #[test]
    fn a_merchant_key_cannot_send_for_another_merchant() {
        let event = json!({"timestamp": "2026-12-02T12:00:00Z", "user_id": "u", "event_type": "x", "value": 1,
                           "merchant_id": Uuid::now_v7().to_string()});
        assert_eq!(
            fields_of(read_event(
                0,
                &event,
                Sender::MerchantKey(Uuid::now_v7()),
                now()
            )),
            ["merchant_id"]
        );
        assert!(read_event(0, &event, Sender::PlatformKey, now()).is_ok());
    }

    #[test]
    fn a_user_sends_their_own_events_for_a_named_merchant() {
        let me = Uuid::now_v7();
        let shop = Uuid::now_v7().to_string();
        let mine = read_event(
            0,
            &json!({"timestamp": "2026-12-02T12:00:00Z", "event_type": "x", "value": 1, "merchant_id": shop}),
            Sender::User(me),
            now(),
        )
        .unwrap();
        assert_eq!(mine.user_id, me.to_string());
        let someone_elses = json!({"timestamp": "2026-12-02T12:00:00Z", "user_id": "u-2", "event_type": "x", "value": 1, "merchant_id": shop});
        assert_eq!(
            fields_of(read_event(0, &someone_elses, Sender::User(me), now())),
            ["user_id"]
        );
        let no_shop = json!({"timestamp": "2026-12-02T12:00:00Z", "event_type": "x", "value": 1});
        assert_eq!(
            fields_of(read_event(0, &no_shop, Sender::User(me), now())),
            ["merchant_id"]
        );
    }

    #[test]
    fn the_typed_path_takes_what_the_field_reader_takes_and_nothing_else() {
        let shop = Uuid::now_v7();
        let cases = [
            json!({"timestamp": "2026-12-02T11:59:00+01:00", "user_id": " u-7 ", "event_type": "page_view", "value": 12}),
            json!({"timestamp": "2026-12-02T12:06:00Z", "user_id": "u", "event_type": "x", "value": 1}),
            json!({"timestamp": "2026-12-02T12:00:00Z", "user_id": "", "event_type": "x", "value": 1}),
            json!({"timestamp": "2026-12-02T12:00:00Z", "user_id": "u", "event_type": "a b", "value": 1}),
            json!({"timestamp": "2026-12-02T12:00:00Z", "user_id": "u", "event_type": "x", "value": 1, "merchant_id": Uuid::now_v7()}),
            json!({"timestamp": "2026-12-02T12:00:00Z", "event_type": "x", "value": 1}),
        ];
        for case in cases {
            let text = case.to_string();
            let typed: TypedEvent<'_> = serde_json::from_str(&text).unwrap();
            let fast = read_typed(&typed, Sender::MerchantKey(shop), now());
            let slow = read_event(0, &case, Sender::MerchantKey(shop), now()).ok();
            assert_eq!(fast, slow, "{case}");
        }
    }

    #[test]
    fn a_non_object_is_one_rejection() {
        assert_eq!(
            fields_of(read_event(3, &json!([1, 2]), Sender::PlatformKey, now())),
            ["event"]
        );
    }
}

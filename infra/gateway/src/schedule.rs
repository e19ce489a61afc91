//! `Schedule` events: fires each function at its `rate(…)`; the control API fires any schedule on demand.
//! `cron(…)` expressions are only fired on demand locally. Locally a rate schedule also fires once as the
//! gateway starts (EventBridge's first run comes within one period of the deployment), so a fresh stack
//! has its outbox relay running from the first request rather than a minute later.

use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::Gateway;
use crate::invoke::{InvokeError, new_request_id, outcome_name};
use crate::resolve::ACCOUNT_ID;
use crate::template::ScheduleDef;

/// `rate(5 minutes)` → 5 minutes. `None` for cron expressions and anything malformed.
pub fn parse_rate(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (value, unit) = inner.trim().split_once(' ')?;
    let value: u64 = value.parse().ok().filter(|v| *v > 0)?;
    let seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(value * seconds))
}

/// The EventBridge "Scheduled Event" a scheduled function receives.
pub fn scheduled_event(schedule: &ScheduleDef, region: &str) -> Value {
    json!({
        "version": "0",
        "id": new_request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT_ID}:rule/{}-{}", schedule.function, schedule.name)],
        "detail": {},
    })
}

pub async fn fire(gateway: &Gateway, schedule: &ScheduleDef) -> Result<Value, InvokeError> {
    let request_id = new_request_id();
    let result = gateway
        .invoker
        .invoke_as_service(
            &schedule.function,
            scheduled_event(schedule, &gateway.region),
            &request_id,
        )
        .await;
    gateway
        .invoker
        .record(&schedule.function, &request_id, outcome_name(&result), None);
    result
}

pub async fn run(gateway: Arc<Gateway>, schedule: ScheduleDef, cancel: CancellationToken) {
    let Some(period) = parse_rate(&schedule.expression) else {
        tracing::warn!(function = %schedule.function, expression = %schedule.expression, "only rate(…) schedules fire on their own locally; use the control API");
        return;
    };
    // One run at a time; a run that outlasts its period (the relay's lasts about one) is followed at once
    // by the next. Stopping the gateway ends a run in progress.
    let mut ticks = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = async { ticks.tick().await; fire(&gateway, &schedule).await } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_and_refuses_the_rest() {
        assert_eq!(
            parse_rate("rate(10 minutes)"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_rate("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_rate("rate(2 days)"),
            Some(Duration::from_secs(172_800))
        );
        assert_eq!(parse_rate("rate(0 minutes)"), None);
        assert_eq!(parse_rate("rate(5 fortnights)"), None);
        assert_eq!(parse_rate("cron(0 12 * * ? *)"), None);
    }

    #[test]
    fn the_event_deserialises_as_an_eventbridge_event() {
        let schedule = ScheduleDef {
            function: "F".into(),
            name: "Tick".into(),
            expression: "rate(1 minute)".into(),
        };
        let event: aws_lambda_events::eventbridge::EventBridgeEvent =
            serde_json::from_value(scheduled_event(&schedule, "us-east-1")).unwrap();
        assert_eq!(event.detail_type, "Scheduled Event");
        assert_eq!(event.source, "aws.events");
    }
}

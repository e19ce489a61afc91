//! The faults, driven by the load's progress so that a short run and a long one see the same story:
//! execution environments killed at random moments (one function's now and then, every function's in
//! waves), one Postgres crash (immediate shutdown, restart) at 40 %, the payment provider slow, down and
//! declining in turns, and handled queue messages left to be delivered again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::{Value, json};

use crate::Stack;

#[derive(Default, Debug)]
pub struct Log {
    pub single_kills: usize,
    pub kill_waves: usize,
    /// Invocations ended by the kills.
    pub invocations_killed: u64,
    pub postgres_restarts: usize,
    pub postgres_down_seconds: f64,
    pub provider_phases: Vec<&'static str>,
    pub redelivery_rate: f64,
}

pub struct Plan {
    pub orders: usize,
    pub kill_waves: usize,
    pub postgres_restarts: usize,
    pub redelivery_rate: f64,
}

/// Provider behaviours in turn, each for a few seconds.
const PROVIDER_PHASES: [(&str, Duration); 4] = [
    ("normal", Duration::from_secs(4)),
    ("slow 1.5 s", Duration::from_secs(4)),
    ("down (503)", Duration::from_secs(3)),
    ("declining 30 %", Duration::from_secs(4)),
];

async fn provider(stack: &Stack, phase: &str) {
    let settings = match phase {
        "slow 1.5 s" => json!({"latency_ms": 1500, "decline_rate": 0.0, "outage": false}),
        "down (503)" => json!({"latency_ms": 0, "decline_rate": 0.0, "outage": true}),
        "declining 30 %" => json!({"latency_ms": 0, "decline_rate": 0.3, "outage": false}),
        _ => json!({"latency_ms": 0, "decline_rate": 0.0, "outage": false}),
    };
    let answer = stack
        .http
        .put(format!("{}/_control", stack.provider))
        .json(&settings)
        .send()
        .await
        .expect("the provider's control API");
    assert!(
        answer.status().is_success(),
        "provider settings: {}",
        answer.status()
    );
}

async fn kill(stack: &Stack, function: Option<&str>) -> u64 {
    let body = match function {
        Some(f) => json!({ "function": f }),
        None => json!({}),
    };
    let answer: Value = stack
        .http
        .post(format!("{}/faults/environments/kill", stack.control))
        .json(&body)
        .send()
        .await
        .expect("the control API")
        .json()
        .await
        .unwrap_or(Value::Null);
    answer["invocations_ended"].as_u64().unwrap_or(0)
}

/// A function with environments alive now, at random.
async fn some_live_function(stack: &Stack) -> Option<String> {
    let environments: Value = stack
        .http
        .get(format!("{}/environments", stack.control))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let alive: Vec<String> = environments["alive"].as_object()?.keys().cloned().collect();
    (!alive.is_empty()).then(|| alive[rand::rng().random_range(0..alive.len())].clone())
}

async fn crash_postgres(stack: &Stack) -> f64 {
    let started = Instant::now();
    let status = tokio::process::Command::new(&stack.postgres_script)
        .arg("crash")
        .status()
        .await
        .expect("postgres.sh");
    assert!(status.success(), "postgres.sh crash failed");
    started.elapsed().as_secs_f64()
}

/// Runs the faults until `done`, then puts the provider and the queues back to normal.
pub async fn run(
    stack: Arc<Stack>,
    plan: Plan,
    progress: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
) -> Log {
    let mut log = Log {
        redelivery_rate: plan.redelivery_rate,
        ..Log::default()
    };
    let _ = stack
        .http
        .post(format!("{}/faults/sqs/redelivery", stack.control))
        .json(&json!({"rate": plan.redelivery_rate, "for_ms": 3_600_000}))
        .send()
        .await
        .expect("the control API");
    let fraction = || progress.load(Ordering::Relaxed) as f64 / plan.orders.max(1) as f64;
    let mut phase = 0;
    let mut phase_started = Instant::now();
    provider(&stack, PROVIDER_PHASES[0].0).await;
    log.provider_phases.push(PROVIDER_PHASES[0].0);
    let mut next_single_kill = Instant::now() + Duration::from_millis(1500);
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let at = fraction();
        if log.kill_waves < plan.kill_waves
            && at >= (log.kill_waves + 1) as f64 / (plan.kill_waves + 1) as f64
        {
            log.invocations_killed += kill(&stack, None).await;
            log.kill_waves += 1;
        }
        if log.postgres_restarts < plan.postgres_restarts && at >= 0.4 {
            log.postgres_down_seconds += crash_postgres(&stack).await;
            log.postgres_restarts += 1;
        }
        if Instant::now() >= next_single_kill {
            if let Some(function) = some_live_function(&stack).await {
                log.invocations_killed += kill(&stack, Some(&function)).await;
                log.single_kills += 1;
            }
            next_single_kill =
                Instant::now() + Duration::from_millis(rand::rng().random_range(1000..4000));
        }
        if phase_started.elapsed() >= PROVIDER_PHASES[phase].1 {
            phase = (phase + 1) % PROVIDER_PHASES.len();
            phase_started = Instant::now();
            provider(&stack, PROVIDER_PHASES[phase].0).await;
            log.provider_phases.push(PROVIDER_PHASES[phase].0);
        }
    }
    provider(&stack, "normal").await;
    let _ = stack
        .http
        .delete(format!("{}/faults/sqs/redelivery", stack.control))
        .send()
        .await;
    log
}

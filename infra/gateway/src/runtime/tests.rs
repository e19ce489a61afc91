//! Process mode against two runtimes: a custom runtime in bash (as in AWS's own tutorial) whose events
//! say what to do (answer, fail, crash, hang), so each Lambda behaviour can be forced; and the real
//! `bootstrap`, for what a function sees when its template entry lacks a variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Environments, memory, variables};
use crate::invoke::{InvokeError, Invoker, Runtime};
use crate::template::FunctionDef;

const BASH_RUNTIME: &str = r#"#!/bin/bash
set -u
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
if [ -n "${FAIL_INIT:-}" ]; then
  curl -sS -X POST "$api/init/error" -H 'Lambda-Runtime-Function-Error-Type: Runtime.InitError' \
    -d "{\"errorType\":\"Runtime.InitError\",\"errorMessage\":\"$FAIL_INIT\"}" >/dev/null
  exit 1
fi
headers=$(mktemp)
while true; do
  event=$(curl -s -D "$headers" "$api/invocation/next") || exit 1
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\r')
  case "$event" in
    *crash*) exit 3 ;;
    # 400 MB held by the runtime itself, past the 256 MB every function here has
    *hog*) hog=$(head -c 400000000 /dev/zero | tr '\0' x); echo "${#hog}" >/dev/null ;;
    # 118 MB held, which bash's command substitution peaks at about twice: above 80% of 256 MB, below it
    *nearly*) held=$(head -c 118000000 /dev/zero | tr '\0' x); echo "${#held}" >/dev/null
       curl -sS -X POST "$api/invocation/$id/response" -d '{}' >/dev/null ;;
    *hang*) sleep 30 ;;
    *fail*) curl -sS -X POST "$api/invocation/$id/error" \
              -d '{"errorType":"Boom","errorMessage":"failed on purpose"}' >/dev/null ;;
    *) case "$event" in *slow*) sleep 0.4 ;; esac
       curl -sS -X POST "$api/invocation/$id/response" \
         -d "{\"pid\":$$,\"handler\":\"$_HANDLER\",\"memory\":\"$AWS_LAMBDA_FUNCTION_MEMORY_SIZE\"}" >/dev/null ;;
  esac
done
"#;

fn def(name: &str, timeout_s: u64, reserved: Option<u32>) -> FunctionDef {
    FunctionDef {
        logical_id: name.to_owned(),
        handler: name.to_lowercase(),
        binary: "bootstrap-api".to_owned(),
        timeout: Duration::from_secs(timeout_s),
        environment: Default::default(),
        reserved_concurrency: reserved,
        memory_mb: 256,
    }
}

fn bash_runtime() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orderly-runtime-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bootstrap");
    if !path.exists() {
        let staged = dir.join(format!("bootstrap.{}", uuid::Uuid::now_v7()));
        std::fs::write(&staged, BASH_RUNTIME).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&staged, &path).unwrap();
    }
    path
}

/// An invoker in process mode over `binary`, with each function's own variables.
fn invoker(
    binary: &Path,
    defs: Vec<FunctionDef>,
    own: BTreeMap<&str, BTreeMap<String, String>>,
) -> Arc<Invoker> {
    let functions: BTreeMap<String, FunctionDef> = defs
        .into_iter()
        .map(|d| (d.logical_id.clone(), d))
        .collect();
    let all = functions
        .values()
        .map(|d| {
            let mine = own.get(d.logical_id.as_str()).cloned().unwrap_or_default();
            let vars = variables::for_function(d, mine, "us-east-1", binary, |_| None);
            (d.logical_id.clone(), vars)
        })
        .collect();
    let environments = Environments::new(
        |_| binary.to_owned(),
        &functions,
        all,
        "us-east-1",
        2,
        memory::Limits::create(true),
    );
    Arc::new(Invoker::with_runtime(
        Runtime::Process(Arc::new(environments)),
        functions,
    ))
}

async fn call(invoker: &Invoker, function: &str, event: Value) -> Result<Value, InvokeError> {
    invoker
        .invoke(function, event, &crate::invoke::new_request_id())
        .await
}

fn pid(answer: &Result<Value, InvokeError>) -> u64 {
    answer.as_ref().expect("an answer")["pid"]
        .as_u64()
        .expect("a pid")
}

#[tokio::test]
async fn a_warm_environment_is_reused_and_sees_what_lambda_defines() {
    let invoker = invoker(&bash_runtime(), vec![def("Echo", 5, None)], BTreeMap::new());
    let first = call(&invoker, "Echo", json!({})).await;
    let second = call(&invoker, "Echo", json!({})).await;
    assert_eq!(pid(&first), pid(&second), "one environment, reused");
    assert_eq!(first.as_ref().unwrap()["handler"], "echo");
    assert_eq!(first.as_ref().unwrap()["memory"], "256");
    // A handled error leaves the environment warm, as in Lambda.
    let failed = call(&invoker, "Echo", json!("fail")).await;
    assert!(matches!(&failed, Err(InvokeError::Failed(m)) if m == "failed on purpose"));
    assert_eq!(pid(&call(&invoker, "Echo", json!({})).await), pid(&first));
}

#[tokio::test]
async fn environments_start_up_to_the_reserved_concurrency_or_the_cap() {
    let invoker = invoker(
        &bash_runtime(),
        vec![def("Single", 5, Some(1)), def("Capped", 5, None)],
        BTreeMap::new(),
    );
    for (function, most) in [("Single", 1), ("Capped", 2)] {
        // As a queue's poller invokes: beyond the limit each waits for an environment.
        let calls = (0..5).map(|_| async {
            invoker
                .invoke_as_service(function, json!("slow"), &crate::invoke::new_request_id())
                .await
        });
        let answers = futures::future::join_all(calls).await;
        let pids: std::collections::BTreeSet<u64> = answers.iter().map(pid).collect();
        assert_eq!(pids.len(), most, "{function}: environments used {pids:?}");
        assert_eq!(
            invoker.environments().unwrap().alive()[function],
            most,
            "{function}"
        );
    }
}

#[tokio::test]
async fn a_client_past_the_reserved_concurrency_is_throttled_and_past_the_local_cap_waits() {
    let invoker = invoker(
        &bash_runtime(),
        vec![def("Single", 5, Some(1)), def("Capped", 5, None)],
        BTreeMap::new(),
    );
    let (first, second) = tokio::join!(call(&invoker, "Single", json!("slow")), async {
        while invoker.in_progress("Single") == 0 {
            tokio::task::yield_now().await;
        }
        call(&invoker, "Single", json!({})).await
    });
    assert!(first.is_ok());
    assert!(
        matches!(second, Err(InvokeError::Throttled)),
        "Lambda refuses a synchronous invocation beyond the reserved concurrency: {second:?}"
    );
    // The local cap (2 here) is this machine's limit, not Lambda's: clients wait for it.
    let calls = (0..4).map(|_| call(&invoker, "Capped", json!("slow")));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(invoker.environments().unwrap().alive()["Capped"], 2);
}

#[tokio::test]
async fn idle_environments_are_reaped_and_busy_ones_are_not() {
    let invoker = invoker(&bash_runtime(), vec![def("Echo", 5, None)], BTreeMap::new());
    let environments = invoker.environments().unwrap();
    let (busy, reaped_while_busy) = tokio::join!(call(&invoker, "Echo", json!("slow")), async {
        while invoker.in_progress("Echo") == 0 {
            tokio::task::yield_now().await;
        }
        environments.reap_idle(Duration::ZERO)
    });
    assert_eq!(
        reaped_while_busy, 0,
        "an environment holding an invocation stays"
    );
    let warm = pid(&busy);
    assert_eq!(
        environments.reap_idle(Duration::from_secs(60)),
        0,
        "not idle long enough"
    );
    assert_eq!(environments.reap_idle(Duration::ZERO), 1);
    // The kill is delivered by the environment's watcher; bounded wait for the process to go.
    let gone = async {
        while Path::new(&format!("/proc/{warm}")).exists()
            || environments.alive().contains_key("Echo")
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the reaped environment's process ends");
    assert_ne!(
        pid(&call(&invoker, "Echo", json!({})).await),
        warm,
        "the next start is cold"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_environment_and_the_next_invocation_starts_a_new_one() {
    let invoker = invoker(
        &bash_runtime(),
        vec![def("Hangs", 1, None)],
        BTreeMap::new(),
    );
    let warm = pid(&call(&invoker, "Hangs", json!({})).await);
    assert!(matches!(
        call(&invoker, "Hangs", json!("hang")).await,
        Err(InvokeError::TimedOut)
    ));
    let after = pid(&call(&invoker, "Hangs", json!({})).await);
    assert_ne!(warm, after, "the timed-out environment is not reused");
    assert!(
        !Path::new(&format!("/proc/{warm}")).exists(),
        "the timed-out environment's process is gone"
    );
}

#[tokio::test]
async fn a_crash_fails_only_the_invocation_it_held() {
    let invoker = invoker(
        &bash_runtime(),
        vec![def("Crashy", 5, None)],
        BTreeMap::new(),
    );
    let (crashed, bystander) = tokio::join!(
        call(&invoker, "Crashy", json!("crash")),
        call(&invoker, "Crashy", json!("slow")),
    );
    assert!(
        matches!(&crashed, Err(InvokeError::Failed(m)) if m.starts_with("Runtime.ExitError") && m.contains('3')),
        "{crashed:?}"
    );
    assert!(bystander.is_ok(), "{bystander:?}");
    assert!(call(&invoker, "Crashy", json!({})).await.is_ok());
}

#[tokio::test]
async fn an_environment_past_its_memory_size_is_killed_and_only_its_invocation_fails() {
    let invoker = invoker(
        &bash_runtime(),
        vec![def("Hungry", 20, None)],
        BTreeMap::new(),
    );
    let before = call(&invoker, "Hungry", json!({})).await.unwrap();
    let hog = call(&invoker, "Hungry", json!("hog")).await;
    assert!(
        matches!(&hog, Err(InvokeError::Failed(m)) if m.starts_with("Runtime.OutOfMemory") && m.contains("256 MB")),
        "{hog:?}"
    );
    let after = call(&invoker, "Hungry", json!({})).await.unwrap();
    assert_ne!(
        before["pid"], after["pid"],
        "a new environment after the kill"
    );
}

#[tokio::test]
async fn each_invocation_is_reported_as_lambda_does_and_memory_near_the_limit_warns() {
    let binary = bash_runtime();
    let functions: BTreeMap<String, FunctionDef> =
        BTreeMap::from([("Heavy".to_owned(), def("Heavy", 20, None))]);
    let variables = functions
        .values()
        .map(|d| {
            let vars = variables::for_function(d, BTreeMap::new(), "us-east-1", &binary, |_| None);
            (d.logical_id.clone(), vars)
        })
        .collect();
    // Measured, not limited: the environment may pass 256 MB for a moment without being killed.
    let limits = memory::Limits::create(false).expect("a memory cgroup (make test runs as root)");
    let environments = Environments::new(
        |_| binary.clone(),
        &functions,
        variables,
        "us-east-1",
        1,
        Some(limits),
    );
    let deadline = std::time::SystemTime::now() + Duration::from_secs(20);

    let lease = environments.lease("Heavy").await.unwrap();
    let environment = lease.environment.clone();
    let first = environment.report("cold", Duration::from_micros(1_500));
    assert!(
        first.starts_with("REPORT RequestId: cold\tDuration: 1.50 ms\tBilled Duration: ")
            && first.contains("\tMemory Size: 256 MB\tMax Memory Used: ")
            && first.contains("\tInit Duration: "),
        "{first}"
    );
    lease.invoke(json!({}), "warm", deadline).await.unwrap();
    let warm = environment.report("again", Duration::from_micros(1_500));
    assert!(
        warm.starts_with("REPORT RequestId: again\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: ")
            && !warm.contains("Init Duration"),
        "{warm}"
    );
    assert!(!environment.warned_near_limit());

    let lease = environments.lease("Heavy").await.unwrap();
    assert!(
        Arc::ptr_eq(&lease.environment, &environment),
        "the warm one"
    );
    lease
        .invoke(json!("nearly"), "heavy", deadline)
        .await
        .unwrap();
    let used: u64 = environment
        .report("after", Duration::from_millis(1))
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a figure");
    assert!((205..=400).contains(&used), "{used} MB");
    assert!(environment.warned_near_limit());
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_with_the_reported_reason() {
    let own = BTreeMap::from([(
        "Broken",
        BTreeMap::from([("FAIL_INIT".to_owned(), "no configuration".to_owned())]),
    )]);
    let invoker = invoker(&bash_runtime(), vec![def("Broken", 5, None)], own);
    let answer = call(&invoker, "Broken", json!({})).await;
    assert!(
        matches!(&answer, Err(InvokeError::Failed(m)) if m == "Runtime.InitError: no configuration"),
        "{answer:?}"
    );
}

/// A real `bootstrap-*` binary, built next to this test's binary (`make test` builds them first).
fn bootstrap(artifact: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(format!("bootstrap-{artifact}")))
        .unwrap();
    assert!(
        path.is_file(),
        "{} is missing: cargo build -p orderly-functions --bins",
        path.display()
    );
    path
}

/// The health function started as `bootstrap-{artifact}` with `variables` (none of the template's unless
/// given): what its one invocation answers or fails with.
async fn health_answer_from(
    artifact: &str,
    variables: &[(&str, &str)],
) -> Result<Value, InvokeError> {
    let mut health = def("HealthFunction", 5, None);
    health.handler = "health".to_owned();
    let own = variables
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let invoker = invoker(
        &bootstrap(artifact),
        vec![health],
        BTreeMap::from([("HealthFunction", own)]),
    );
    call(&invoker, "HealthFunction", json!({})).await
}

#[tokio::test]
async fn a_retry_setting_that_is_not_valid_fails_the_init_saying_which() {
    let answer = health_answer_from(
        "api",
        &[
            (
                "ORDER_EVENTS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:000000000000:t",
            ),
            ("ARTIFACTS_BUCKET", "b"),
            ("WEBSOCKET_MANAGEMENT_ENDPOINT", "http://127.0.0.1:1/prod"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("AWS_MAX_ATTEMPTS", "0"),
        ],
    )
    .await;
    assert!(
        matches!(&answer, Err(InvokeError::Failed(m)) if m.starts_with("Runtime.InitError") && m.contains("AWS_MAX_ATTEMPTS=0")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_function_missing_a_variable_fails_at_init_as_in_aws() {
    // In-process the gateway's own environment would have hidden the missing variables; here it fails
    // exactly as the deployed function would.
    let answer = health_answer_from("api", &[]).await;
    assert!(
        matches!(&answer, Err(InvokeError::Failed(m)) if m.starts_with("Runtime.InitError") && m.contains("ORDER_EVENTS_TOPIC_ARN")),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_binary_refuses_a_handler_of_another_artifact_at_init() {
    // Each artifact links only its own handlers; a template pointing a function at the wrong binary
    // fails at init, naming the binary that has the handler.
    let answer = health_answer_from("events", &[]).await;
    assert!(
        matches!(&answer, Err(InvokeError::Failed(m)) if m.starts_with("Runtime.InitError") && m.contains("`bootstrap-api`")),
        "{answer:?}"
    );
}

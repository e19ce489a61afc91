//! Runs a function the way Lambda would: in-process (the default: its own task, so a panic cannot take
//! the gateway down) or as the real `bootstrap` in an execution environment (process mode, runtime/);
//! either way its own timeout from the template, a request id per invocation. Every outcome is logged and kept in a
//! short history that the control API shows (tests read it to see retries happen).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use orderly_functions::{Handler, Invocation, State};
use serde::Serialize;
use serde_json::Value;

use crate::runtime::{Environments, Failure};
use crate::template::FunctionDef;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("function {0} is not in the template")]
    UnknownFunction(String),
    #[error("handler `{0}` is not in the registry")]
    UnknownHandler(String),
    #[error("the function panicked")]
    Panicked,
    #[error("the function timed out")]
    TimedOut,
    /// The control API's fault: the execution environment was killed mid-invocation.
    #[error("the function's environment was killed")]
    Killed,
    /// Lambda's `TooManyRequestsException`: the function's reserved concurrency is 0, or a client's
    /// invocation found every instance it may run busy.
    #[error("the function is throttled (its reserved concurrency is used up)")]
    Throttled,
    #[error("the function failed: {0}")]
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct InvocationRecord {
    pub function: String,
    pub request_id: String,
    /// When the invocation started; `at` is when it ended. Tests read both to see invocations overlap.
    pub started_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub outcome: &'static str,
    /// For SQS batches: how many records were handed over and how many the function reported failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    pub size: usize,
    pub failed: usize,
    /// The SQS message ids handed over.
    pub message_ids: Vec<String>,
}

const HISTORY: usize = 2000;

/// Who waits on an invocation, which decides what happens when the function already runs as many
/// instances as its `ReservedConcurrentExecutions` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// API Gateway, for a client that waits on the answer: Lambda refuses at once with
    /// `TooManyRequestsException`, which API Gateway turns into its `INTEGRATION_FAILURE` response.
    Client,
    /// A Lambda service that retries a throttled invocation itself (SQS event source mappings, EventBridge
    /// schedules, CloudFormation's custom resources), and the control API's invoke (an operator's "run
    /// it now", which should not fail because the schedule happens to be running it): locally it waits
    /// for an instance.
    Service,
}

/// Where functions run.
pub enum Runtime {
    /// Handlers called in the gateway's process: each function's instance state (functions with the same
    /// environment share one) and the registry.
    InProcess {
        states: BTreeMap<String, &'static State>,
        lookup: fn(&str) -> Option<Handler>,
    },
    /// The `bootstrap-*` binaries in execution environments over the Runtime API.
    Process(Arc<Environments>),
}

pub struct Invoker {
    runtime: Runtime,
    functions: BTreeMap<String, FunctionDef>,
    history: Mutex<VecDeque<InvocationRecord>>,
    /// When each invocation not yet recorded started, by request id.
    started: Mutex<BTreeMap<String, DateTime<Utc>>>,
    /// Armed kills: the next invocation of the function dies this long after it starts.
    kills: Mutex<BTreeMap<String, std::time::Duration>>,
    /// Slow starts: until the instant, every invocation of the function waits this long before its
    /// handler runs (as behind a cold start), so invocations that arrive close together overlap.
    slow_starts: Mutex<BTreeMap<String, (std::time::Instant, std::time::Duration)>>,
    /// Functions whose reserved concurrency is set to 0: no invocation starts.
    throttled: Mutex<std::collections::BTreeSet<String>>,
    /// Invocations in progress (request id → function, and what stops it), so a throttle ends them.
    running: Mutex<BTreeMap<String, (String, tokio_util::sync::CancellationToken)>>,
}

impl Invoker {
    pub fn new(
        states: BTreeMap<String, &'static State>,
        functions: BTreeMap<String, FunctionDef>,
        lookup: fn(&str) -> Option<Handler>,
    ) -> Self {
        Self::with_runtime(Runtime::InProcess { states, lookup }, functions)
    }

    pub fn with_runtime(runtime: Runtime, functions: BTreeMap<String, FunctionDef>) -> Self {
        Self {
            runtime,
            functions,
            history: Mutex::new(VecDeque::new()),
            started: Mutex::new(BTreeMap::new()),
            kills: Mutex::new(BTreeMap::new()),
            slow_starts: Mutex::new(BTreeMap::new()),
            throttled: Mutex::new(std::collections::BTreeSet::new()),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Lambda's `PutFunctionConcurrency` with 0 (`throttle`), or `DeleteFunctionConcurrency`: a throttled
    /// function starts no invocation, and the ones in progress end as if their environments were
    /// killed (an operator stopping a long-running function does both). False for an unknown function.
    pub fn throttle(&self, function: &str, throttle: bool) -> bool {
        if !self.functions.contains_key(function) {
            return false;
        }
        let mut throttled = self.throttled.lock().expect("throttled lock");
        if !throttle {
            throttled.remove(function);
            return true;
        }
        throttled.insert(function.to_owned());
        drop(throttled);
        self.kill_environments(Some(function));
        true
    }

    /// Kills the execution environments of the function (every function's when `None`) now, as a host
    /// failure would: the invocations they hold end as killed (their messages come back, as after a crash
    /// in Lambda), and in process mode idle environments go too, so the next invocations start cold.
    /// Returns how many invocations were ended.
    pub fn kill_environments(&self, function: Option<&str>) -> usize {
        let mut ended = 0;
        for (f, stop) in self.running.lock().expect("running lock").values() {
            if function.is_none_or(|function| function == f) {
                stop.cancel();
                ended += 1;
            }
        }
        if let Some(environments) = self.environments() {
            for f in self.functions.keys() {
                if function.is_none_or(|function| function == f) {
                    environments.kill_all(f);
                }
            }
        }
        ended
    }

    /// Slows every invocation of the function that starts within `window` by `delay`. False for an
    /// unknown function.
    pub fn slow_start(
        &self,
        function: &str,
        delay: std::time::Duration,
        window: std::time::Duration,
    ) -> bool {
        if !self.functions.contains_key(function) {
            return false;
        }
        let until = std::time::Instant::now() + window;
        self.slow_starts
            .lock()
            .expect("slow starts lock")
            .insert(function.to_owned(), (until, delay));
        true
    }

    fn start_delay(&self, function: &str) -> Option<std::time::Duration> {
        let slow = self.slow_starts.lock().expect("slow starts lock");
        slow.get(function)
            .filter(|(until, _)| std::time::Instant::now() < *until)
            .map(|(_, delay)| *delay)
    }

    /// Arms a kill: the function's next invocation dies `after` it starts, as if its environment had
    /// crashed (what Lambda does when the process exits mid-invocation). False for an unknown function.
    pub fn arm_kill(&self, function: &str, after: std::time::Duration) -> bool {
        if !self.functions.contains_key(function) {
            return false;
        }
        self.kills
            .lock()
            .expect("kills lock")
            .insert(function.to_owned(), after);
        true
    }

    /// Invocations of the function in progress.
    pub fn in_progress(&self, function: &str) -> usize {
        self.running
            .lock()
            .expect("running lock")
            .values()
            .filter(|(f, _)| f == function)
            .count()
    }

    pub fn functions(&self) -> &BTreeMap<String, FunctionDef> {
        &self.functions
    }

    /// Invokes as a client does (`Caller::Client`).
    pub async fn invoke(
        &self,
        function: &str,
        event: Value,
        request_id: &str,
    ) -> Result<Value, InvokeError> {
        self.invoke_as(Caller::Client, function, event, request_id)
            .await
    }

    /// Invokes as a Lambda service does (`Caller::Service`).
    pub async fn invoke_as_service(
        &self,
        function: &str,
        event: Value,
        request_id: &str,
    ) -> Result<Value, InvokeError> {
        self.invoke_as(Caller::Service, function, event, request_id)
            .await
    }

    async fn invoke_as(
        &self,
        caller: Caller,
        function: &str,
        event: Value,
        request_id: &str,
    ) -> Result<Value, InvokeError> {
        let def = self
            .functions
            .get(function)
            .ok_or_else(|| InvokeError::UnknownFunction(function.to_owned()))?;
        if self
            .throttled
            .lock()
            .expect("throttled lock")
            .contains(function)
        {
            return Err(InvokeError::Throttled);
        }
        let stop = tokio_util::sync::CancellationToken::new();
        {
            let mut running = self.running.lock().expect("running lock");
            // Counted and admitted under one lock, so two clients cannot both take the last instance.
            if let (Caller::Client, Some(reserved)) = (caller, def.reserved_concurrency)
                && running.values().filter(|(f, _)| f == function).count() >= reserved as usize
            {
                tracing::warn!(function, request_id, reserved, "throttled");
                return Err(InvokeError::Throttled);
            }
            running.insert(request_id.to_owned(), (function.to_owned(), stop.clone()));
        }
        let kill = self.kills.lock().expect("kills lock").remove(function);
        {
            let mut started = self.started.lock().expect("started lock");
            // An invocation that is never recorded must not leave its entry forever.
            if started.len() >= HISTORY {
                started.clear();
            }
            started.insert(request_id.to_owned(), Utc::now());
        }
        let delay = self.start_delay(function);
        let work = match self.prepare(def, event, request_id, &stop).await {
            Ok(work) => work,
            Err(e) => {
                self.running
                    .lock()
                    .expect("running lock")
                    .remove(request_id);
                tracing::error!(function, request_id, error = %e, "invocation failed");
                return Err(e);
            }
        };
        let task = tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            work.await
        });
        let abort = task.abort_handle();
        let limit = kill.map_or(def.timeout, |after| after.min(def.timeout));
        let finished = tokio::select! {
            finished = tokio::time::timeout(limit, task) => Some(finished),
            _ = stop.cancelled() => None,
        };
        self.running
            .lock()
            .expect("running lock")
            .remove(request_id);
        let Some(finished) = finished else {
            abort.abort();
            tracing::error!(
                function,
                request_id,
                "invocation ended: its environment was stopped (throttle or kill)"
            );
            return Err(InvokeError::Killed);
        };
        let outcome = match finished {
            Err(_) => {
                abort.abort();
                Err(if kill.is_some_and(|after| after < def.timeout) {
                    InvokeError::Killed
                } else {
                    InvokeError::TimedOut
                })
            }
            Ok(Err(join)) if join.is_panic() => Err(InvokeError::Panicked),
            Ok(Err(join)) => Err(InvokeError::Failed(join.to_string())),
            Ok(Ok(result)) => result,
        };
        match &outcome {
            Ok(_) => tracing::debug!(function, request_id, "invocation succeeded"),
            Err(e) => tracing::error!(function, request_id, error = %e, "invocation failed"),
        }
        outcome
    }

    /// The invocation's work, ready to run under its timeout. In process mode an environment is leased
    /// first: like Lambda's init phase, starting one does not count against the function's timeout.
    async fn prepare(
        &self,
        def: &FunctionDef,
        event: Value,
        request_id: &str,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<futures::future::BoxFuture<'static, Result<Value, InvokeError>>, InvokeError> {
        match &self.runtime {
            Runtime::InProcess { states, lookup } => {
                let handler = lookup(&def.handler)
                    .ok_or_else(|| InvokeError::UnknownHandler(def.handler.clone()))?;
                let state: &'static State = states
                    .get(&def.logical_id)
                    .ok_or_else(|| InvokeError::UnknownFunction(def.logical_id.clone()))?;
                let invocation = Invocation {
                    request_id: request_id.to_owned(),
                    deadline: Some(std::time::SystemTime::now() + def.timeout),
                };
                Ok(Box::pin(async move {
                    handler(event, invocation, state)
                        .await
                        .map_err(|e| InvokeError::Failed(e.to_string()))
                }))
            }
            Runtime::Process(environments) => {
                let lease = tokio::select! {
                    lease = environments.lease(&def.logical_id) => lease.map_err(InvokeError::from)?,
                    _ = stop.cancelled() => return Err(InvokeError::Killed),
                };
                let request_id = request_id.to_owned();
                let deadline = std::time::SystemTime::now() + def.timeout;
                Ok(Box::pin(async move {
                    lease
                        .invoke(event, &request_id, deadline)
                        .await
                        .map_err(InvokeError::from)
                }))
            }
        }
    }

    /// The execution environments of process mode (`None` in-process).
    pub fn environments(&self) -> Option<&Environments> {
        match &self.runtime {
            Runtime::Process(environments) => Some(environments),
            Runtime::InProcess { .. } => None,
        }
    }

    pub fn record(
        &self,
        function: &str,
        request_id: &str,
        outcome: &'static str,
        batch: Option<BatchOutcome>,
    ) {
        let mut history = self.history.lock().expect("history lock");
        if history.len() == HISTORY {
            history.pop_front();
        }
        let started_at = self
            .started
            .lock()
            .expect("started lock")
            .remove(request_id);
        history.push_back(InvocationRecord {
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            started_at,
            at: Utc::now(),
            outcome,
            batch,
        });
    }

    pub fn history(&self, function: Option<&str>) -> Vec<InvocationRecord> {
        let history = self.history.lock().expect("history lock");
        history
            .iter()
            .filter(|r| function.is_none_or(|f| r.function == f))
            .cloned()
            .collect()
    }
}

impl From<Failure> for InvokeError {
    fn from(failure: Failure) -> Self {
        match failure {
            // API Gateway and the event sources read the message (`Unauthorized` is the authorizer's 401).
            Failure::Function { message, .. } => InvokeError::Failed(message),
            other => InvokeError::Failed(other.to_string()),
        }
    }
}

pub fn outcome_name<T>(result: &Result<T, InvokeError>) -> &'static str {
    match result {
        Ok(_) => "succeeded",
        Err(InvokeError::Panicked) => "panicked",
        Err(InvokeError::TimedOut) => "timed_out",
        Err(InvokeError::Killed) => "killed",
        Err(InvokeError::Throttled) => "throttled",
        Err(_) => "failed",
    }
}

pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

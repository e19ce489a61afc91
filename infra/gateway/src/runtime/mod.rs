//! Process mode (`ORDERLY_RUNTIME=process`): every function runs as its real `bootstrap-*` binary, in
//! execution environments managed the way Lambda manages them. An environment serves one invocation at a
//! time and is reused while warm; a function starts new ones up to its reserved concurrency (or the local
//! cap); an environment that times out, crashes or is killed is discarded, and only the invocation it held
//! fails. docs/adr/0020-process-mode.md says why and what differs from AWS.

mod api;
mod environment;
pub mod memory;
#[cfg(test)]
mod tests;
pub mod variables;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::template::FunctionDef;
use environment::{Environment, Spec};

/// Why an invocation in process mode has no result.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// The runtime answered `/error` (the handler's error, or a panic the runtime caught).
    #[error("{message}")]
    Function { error_type: String, message: String },
    /// The environment never finished its init: it reported `/init/error`, timed out, or could not start.
    #[error("{error_type}: {message}")]
    Init { error_type: String, message: String },
    /// The process ended while it held the invocation (Lambda's `Runtime.ExitError`).
    #[error("Runtime.ExitError: {0}")]
    Exited(String),
    /// The kernel killed the process at its function's `MemorySize` (memory.rs).
    #[error(
        "Runtime.OutOfMemory: Runtime exited with error: signal: killed (more than {memory_mb} MB)"
    )]
    OutOfMemory { memory_mb: u64 },
}

/// Each function's environments.
pub struct Environments {
    pools: BTreeMap<String, Arc<Pool>>,
    next_id: AtomicU64,
    /// Each environment's memory cgroup, where the host has one for us.
    memory: Option<Arc<memory::Limits>>,
}

struct Pool {
    spec: Spec,
    /// One permit per environment that may exist: the function's reserved concurrency, or the local cap.
    capacity: Arc<Semaphore>,
    /// Warm environments and since when each has waited for an invocation.
    idle: Mutex<Vec<(Arc<Environment>, Instant)>>,
    all: Mutex<Vec<Arc<Environment>>>,
}

impl Environments {
    /// `variables`: each function's complete environment (template, Lambda-defined, local overrides).
    /// `binary`: the executable each function runs (its template's `BuildProperties.Binary`, built).
    pub fn new(
        binary: impl Fn(&FunctionDef) -> PathBuf,
        functions: &BTreeMap<String, FunctionDef>,
        mut variables: BTreeMap<String, BTreeMap<String, String>>,
        region: &str,
        default_cap: u32,
        memory: Option<memory::Limits>,
    ) -> Self {
        let pools = functions
            .values()
            .map(|def| {
                let spec = Spec {
                    function: def.logical_id.clone(),
                    binary: binary(def),
                    variables: variables.remove(&def.logical_id).unwrap_or_default(),
                    function_arn: format!(
                        "arn:aws:lambda:{region}:000000000000:function:{}",
                        def.logical_id
                    ),
                    memory_mb: def.memory_mb,
                };
                let cap = def.reserved_concurrency.unwrap_or(default_cap).max(1);
                let pool = Pool {
                    spec,
                    capacity: Arc::new(Semaphore::new(cap as usize)),
                    idle: Mutex::new(Vec::new()),
                    all: Mutex::new(Vec::new()),
                };
                (def.logical_id.clone(), Arc::new(pool))
            })
            .collect();
        Self {
            pools,
            next_id: AtomicU64::new(1),
            memory: memory.map(Arc::new),
        }
    }

    /// An environment of the function, warm if one is idle, else a new one once its init is done; waits
    /// while the function runs as many as it may.
    pub async fn lease(&self, function: &str) -> Result<Lease, Failure> {
        let pool = self
            .pools
            .get(function)
            .cloned()
            .ok_or_else(|| Failure::Init {
                error_type: "ResourceNotFoundException".to_owned(),
                message: format!("no function {function}"),
            })?;
        let permit = pool
            .capacity
            .clone()
            .acquire_owned()
            .await
            .expect("the capacity semaphore is never closed");
        let warm = {
            let mut idle = pool.idle.lock().expect("idle lock");
            idle.retain(|(e, _)| !e.ended.is_cancelled());
            idle.pop().map(|(e, _)| e)
        };
        let environment = match warm {
            Some(environment) => environment,
            None => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let environment = Environment::start(&pool.spec, id, self.memory.clone()).await?;
                let mut all = pool.all.lock().expect("all lock");
                all.retain(|e| !e.ended.is_cancelled());
                all.push(environment.clone());
                environment
            }
        };
        Ok(Lease {
            environment,
            pool,
            _permit: permit,
            finished: false,
        })
    }

    /// Environments alive per function (the control API shows them; tests read them).
    pub fn alive(&self) -> BTreeMap<String, usize> {
        self.pools
            .iter()
            .map(|(name, pool)| {
                let all = pool.all.lock().expect("all lock");
                (
                    name.clone(),
                    all.iter().filter(|e| !e.ended.is_cancelled()).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Ends environments that have waited `after` without an invocation, as Lambda reclaims idle ones (it
    /// does not say when; minutes): their memory goes back to the machine, and the function's next
    /// invocation starts cold. Returns how many ended.
    pub fn reap_idle(&self, after: Duration) -> usize {
        let mut reaped = 0;
        for pool in self.pools.values() {
            pool.idle
                .lock()
                .expect("idle lock")
                .retain(|(environment, since)| {
                    let stale = since.elapsed() >= after;
                    if stale {
                        environment.kill.cancel();
                        reaped += 1;
                    }
                    !stale && !environment.ended.is_cancelled()
                });
        }
        reaped
    }

    /// Reaps idle environments in the background (`reap_idle`) for as long as these environments exist.
    pub fn keep_reaping(self: &Arc<Self>, after: Duration) {
        let environments: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval((after / 4).max(Duration::from_millis(50)));
            loop {
                tick.tick().await;
                let Some(environments) = environments.upgrade() else {
                    return;
                };
                let reaped = environments.reap_idle(after);
                if reaped > 0 {
                    tracing::debug!(reaped, "idle environments ended");
                }
            }
        });
    }

    /// Kills every environment of the function (the control API's fault, and a throttle's).
    pub fn kill_all(&self, function: &str) -> usize {
        let Some(pool) = self.pools.get(function) else {
            return 0;
        };
        let all = pool.all.lock().expect("all lock");
        for environment in all.iter() {
            environment.kill.cancel();
        }
        all.len()
    }
}

/// One environment held for one invocation. Dropped before the invocation finished (its timeout, a
/// kill, a throttle), it kills the process: Lambda never reuses an environment it gave up on.
pub struct Lease {
    environment: Arc<Environment>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    finished: bool,
}

impl Lease {
    pub async fn invoke(
        mut self,
        event: Value,
        request_id: &str,
        deadline: std::time::SystemTime,
    ) -> Result<Value, Failure> {
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        let job = api::Job {
            request_id: request_id.to_owned(),
            event,
            deadline_ms: deadline
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            reply,
        };
        let outcome = if self.environment.jobs.send(job).await.is_err() {
            Err(self.environment.failure())
        } else {
            tokio::select! {
                biased;
                answer = answer => answer.unwrap_or_else(|_| Err(self.environment.failure())),
                _ = self.environment.ended.cancelled() => Err(self.environment.failure()),
            }
        };
        self.finished = true;
        if outcome.is_ok() || matches!(outcome, Err(Failure::Function { .. })) {
            let _ = self.environment.report(request_id, started.elapsed());
        }
        outcome
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.finished {
            self.environment.kill.cancel();
        } else if !self.environment.ended.is_cancelled() {
            self.pool
                .idle
                .lock()
                .expect("idle lock")
                .push((self.environment.clone(), Instant::now()));
        }
    }
}

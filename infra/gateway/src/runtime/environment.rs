//! One execution environment: a `bootstrap` process with exactly its function's variables, its own
//! Runtime API listener, and a watcher that notices when the process ends (crash, kill, init failure).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Failure;
use super::api::{self, Job, Shared};
use super::memory::{Confined, Limits};

/// Lambda gives a function's init phase 10 s before it gives up on the environment.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// An environment whose most used memory reaches 80% of its `MemorySize` is worth a warning: it is one
/// larger request, or one more retained allocation, away from being killed (as `UsersRegisterFunction`
/// was at 229 of 256 MB before its password hashes reused their memory).
fn near_limit(used_mb: u64, memory_mb: u64) -> bool {
    used_mb * 100 >= memory_mb * 80
}

/// What starts an environment of one function.
pub struct Spec {
    pub function: String,
    pub binary: PathBuf,
    /// Every variable the process gets, but the Runtime API's address (each environment has its own).
    pub variables: BTreeMap<String, String>,
    pub function_arn: String,
    /// `MemorySize`, enforced where the host allows (memory.rs).
    pub memory_mb: u64,
}

pub struct Environment {
    pub id: u64,
    pub jobs: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    /// Cancelled once the process has ended.
    pub ended: CancellationToken,
    /// Cancel to kill the process.
    pub kill: CancellationToken,
    exit: Mutex<Option<Failure>>,
    function: String,
    memory_mb: u64,
    /// The environment's memory cgroup, where the host has one (memory.rs).
    confined: Option<Arc<Confined>>,
    /// Spawn to the first `next`; reported with the first invocation, as Lambda's `Init Duration`.
    init: Mutex<Option<Duration>>,
    warned_near_limit: AtomicBool,
}

impl Environment {
    /// Starts the process and waits for its first `next` (its init done), as Lambda does before it hands
    /// an environment its first invocation.
    pub async fn start(
        spec: &Spec,
        id: u64,
        limits: Option<Arc<Limits>>,
    ) -> Result<Arc<Self>, Failure> {
        let init_failure = |message: String| Failure::Init {
            error_type: "Runtime.Unknown".to_owned(),
            message,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| init_failure(format!("no port for the Runtime API: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| init_failure(e.to_string()))?;
        let (jobs, receiver) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(receiver, spec.function_arn.clone()));
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(&spec.binary)
            .env_clear()
            .envs(&spec.variables)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!(
                    "{}/[$LATEST]{id:016x}",
                    chrono::Utc::now().format("%Y/%m/%d")
                ),
            )
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::Init {
                error_type: "Runtime.InvalidEntrypoint".to_owned(),
                message: format!("{}: {e}", spec.binary.display()),
            })?;
        tracing::debug!(function = %spec.function, environment = id, pid = child.id(), "environment started");
        // Confined right after the spawn: what the process allocates before it joins is a few pages.
        let confined = match (&limits, child.id()) {
            (Some(limits), Some(pid)) => match limits.confine(id, pid, spec.memory_mb) {
                Ok(confined) => Some(Arc::new(confined)),
                Err(e) => {
                    tracing::warn!(function = %spec.function, error = %e, "environment not confined to its memory size");
                    None
                }
            },
            _ => None,
        };

        let environment = Arc::new(Self {
            id,
            jobs,
            shared: shared.clone(),
            ended: CancellationToken::new(),
            kill: CancellationToken::new(),
            exit: Mutex::new(None),
            function: spec.function.clone(),
            memory_mb: spec.memory_mb,
            confined: confined.clone(),
            init: Mutex::new(None),
            warned_near_limit: AtomicBool::new(false),
        });

        let server = axum::serve(listener, api::router(shared.clone()))
            .with_graceful_shutdown(environment.ended.clone().cancelled_owned());
        tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::warn!(error = %e, "a Runtime API listener failed");
            }
        });
        let watched = environment.clone();
        let function = spec.function.clone();
        let memory_mb = spec.memory_mb;
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = watched.kill.cancelled() => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            let max_used_mb = confined
                .as_ref()
                .and_then(|c| c.max_used())
                .map(|b| b / (1024 * 1024));
            tracing::debug!(%function, environment = watched.id, %status, ?max_used_mb, memory_mb, "environment ended");
            let failure = if confined.as_ref().is_some_and(|c| c.out_of_memory()) {
                tracing::warn!(%function, environment = watched.id, memory_mb, "environment ran out of memory");
                Failure::OutOfMemory { memory_mb }
            } else {
                Failure::Exited(status)
            };
            drop(confined);
            *watched.exit.lock().expect("exit lock") = Some(failure);
            watched.ended.cancel();
        });

        tokio::select! {
            _ = shared.ready.notified() => {
                *environment.init.lock().expect("init lock") = Some(spawned.elapsed());
                Ok(environment)
            }
            _ = environment.ended.cancelled() => Err(environment.failure()),
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                environment.kill.cancel();
                Err(Failure::Init {
                    error_type: "Runtime.InitTimeout".to_owned(),
                    message: format!("init did not finish within {} s", INIT_TIMEOUT.as_secs()),
                })
            }
        }
    }

    /// Logs Lambda's `REPORT` line for an invocation it finished (debug level: one per invocation), and
    /// warns, once per environment, when its most used memory nears its `MemorySize`. Returns the line.
    pub fn report(&self, request_id: &str, duration: Duration) -> String {
        let init = self.init.lock().expect("init lock").take();
        let max_used_mb = self
            .confined
            .as_ref()
            .and_then(|c| c.max_used())
            .map(|bytes| bytes.div_ceil(1024 * 1024));
        // Since August 2025 Lambda bills the init phase too.
        let billed_ms = (duration + init.unwrap_or_default())
            .as_micros()
            .div_ceil(1000);
        let mut line = format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed_ms} ms\tMemory Size: {} MB",
            duration.as_secs_f64() * 1000.0,
            self.memory_mb
        );
        if let Some(used) = max_used_mb {
            line.push_str(&format!("\tMax Memory Used: {used} MB"));
        }
        if let Some(init) = init {
            line.push_str(&format!(
                "\tInit Duration: {:.2} ms",
                init.as_secs_f64() * 1000.0
            ));
        }
        tracing::debug!(target: "orderly_local::report", function = %self.function, "{line}");
        if let Some(used) = max_used_mb
            && near_limit(used, self.memory_mb)
            && !self.warned_near_limit.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(function = %self.function, environment = self.id, max_used_mb = used,
                memory_mb = self.memory_mb, "an environment has used {used} of its {} MB: near its MemorySize", self.memory_mb);
        }
        line
    }

    /// Whether this environment was found near its `MemorySize` (and warned of).
    #[cfg(test)]
    pub fn warned_near_limit(&self) -> bool {
        self.warned_near_limit.load(Ordering::Relaxed)
    }

    /// Why an invocation the environment held has no answer: what the runtime reported at init, else how
    /// the process ended (Lambda's `Runtime.ExitError`).
    pub fn failure(&self) -> Failure {
        self.shared.init_error().unwrap_or_else(|| {
            self.exit
                .lock()
                .expect("exit lock")
                .clone()
                .unwrap_or_else(|| Failure::Exited("the process ended".to_owned()))
        })
    }
}

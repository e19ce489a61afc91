//! `orderly-local`: the whole serverless topology of template.yaml on one machine, without Docker.
//! Creates the queues, topic, subscriptions and bucket in the AWS emulator, then serves the REST API, the
//! WebSocket API with its management API, polls every SQS event source mapping and fires schedules,
//! invoking the functions in-process through the same registry the Lambda binaries use.

// mimalloc, as in the functions' binaries (docs/adr/0025-mimalloc.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod authorize;
mod control;
mod invoke;
mod paths;
mod provider;
mod provision;
mod resolve;
mod rest;
mod runtime;
mod schedule;
mod secrets;
mod sqs;
mod template;
mod websocket;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderly_functions::{Config, State};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::invoke::Invoker;
use crate::resolve::Resolver;
use crate::template::{FunctionDef, Template};
use crate::websocket::{Limits, PushFault, Sockets};

pub struct Gateway {
    pub template: Template,
    pub resolver: Resolver,
    pub invoker: Invoker,
    pub stage: String,
    pub region: String,
    pub ws_port: u16,
    pub sockets: Sockets,
    pub push_fault: Mutex<Option<PushFault>>,
    /// Until the instant, each message a function handled is left undeleted at this rate, so SQS hands it
    /// out again (its at-least-once delivery, on demand).
    pub redelivery_fault: Mutex<Option<(f64, std::time::Instant)>>,
    /// Functions whose SQS event source is switched off (Lambda's `UpdateEventSourceMapping` with
    /// `Enabled: false`): their pollers receive nothing until it is switched on again, and the messages
    /// wait in the queue.
    pub event_sources_off: tokio::sync::watch::Sender<BTreeSet<String>>,
    pub policy_cache: authorize::PolicyCache,
    /// Take the client address from `X-Forwarded-For` (local testing of per-IP limits only).
    pub trust_forwarded_for: bool,
    /// Each function's complete environment as an execution environment gets it (the control API shows
    /// it: the cold-start benchmark starts `bootstrap` with it).
    pub function_variables: BTreeMap<String, BTreeMap<String, String>>,
}

impl Gateway {
    /// A refusal by the gateway itself, shaped by the template's `GatewayResponses` when it has one.
    pub fn gateway_error(
        &self,
        kind: &str,
        status: http::StatusCode,
        default: serde_json::Value,
        request_id: &str,
    ) -> axum::response::Response {
        let configured = self.template.gateway_responses.get(kind);
        let (status, body) = authorize::render(
            configured.map_or(status.as_u16(), |c| c.status),
            configured.and_then(|c| c.json_template.as_deref()),
            default,
            request_id,
        );
        let error_type = match kind {
            "UNAUTHORIZED" => "UnauthorizedException",
            "ACCESS_DENIED" => "AccessDeniedException",
            "MISSING_AUTHENTICATION_TOKEN" => "MissingAuthenticationTokenException",
            "INTEGRATION_FAILURE" => "InternalServerErrorException",
            _ => "AuthorizerConfigurationException",
        };
        let mut response = authorize::response(status, body, error_type, request_id);
        for (name, value) in configured.iter().flat_map(|c| &c.headers) {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// Consumes one injected management-API fault for this connection, if one is armed.
    /// Whether to leave one handled message undeleted (the redelivery fault is on and the dice say so).
    pub fn redeliver(&self) -> bool {
        let fault = *self.redelivery_fault.lock().expect("fault lock");
        fault.is_some_and(|(rate, until)| {
            std::time::Instant::now() < until && rand::random::<f64>() < rate
        })
    }

    pub fn take_push_fault(&self, connection_id: &str) -> Option<PushFault> {
        let mut armed = self.push_fault.lock().expect("fault lock");
        let fault = armed.as_mut().filter(|f| {
            f.count > 0
                && f.connection_id
                    .as_deref()
                    .is_none_or(|target| target == connection_id)
        })?;
        fault.count -= 1;
        Some(fault.clone())
    }
}

struct Settings {
    template: PathBuf,
    api_port: u16,
    ws_port: u16,
    control_port: u16,
    provider_port: u16,
    visibility_timeout: Option<u32>,
    sqs_wait_seconds: i32,
    /// The local cap on each SQS mapping's concurrent pollers (invocations).
    sqs_max_pollers: usize,
    ws_limits: Limits,
    runtime: RuntimeMode,
}

/// Where the gateway's own binary is: the `bootstrap-*` binaries are built beside it.
fn own_directory() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    exe.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "the gateway's own path has no directory".to_owned())
}

/// `ORDERLY_RUNTIME`: where functions run.
enum RuntimeMode {
    /// In the gateway's process (the default: one build, fastest start).
    InProcess,
    /// As the real `bootstrap-*` binaries (the one each function's template entry names, found in
    /// `dir`) over the Runtime API, at most `cap` environments per function without reserved concurrency.
    /// Environments idle for `idle` end.
    Process {
        dir: PathBuf,
        cap: u32,
        idle: std::time::Duration,
        /// `ORDERLY_PROCESS_MEMORY`: `enforce` (each environment limited to its `MemorySize`), `measure`
        /// (cgroups that only count, to see what a function uses) or `off`.
        memory: Option<bool>,
    },
}

impl RuntimeMode {
    fn from_env() -> Result<Self, String> {
        match std::env::var("ORDERLY_RUNTIME").as_deref() {
            Err(_) | Ok("in-process") => Ok(Self::InProcess),
            Ok("process") => {
                let dir = match std::env::var("ORDERLY_BINARIES") {
                    Ok(path) => PathBuf::from(path),
                    Err(_) => own_directory()?,
                };
                Ok(Self::Process {
                    dir,
                    cap: env_or("ORDERLY_PROCESS_MAX_ENVIRONMENTS", 4)?,
                    idle: std::time::Duration::from_secs(env_or(
                        "ORDERLY_PROCESS_IDLE_SECONDS",
                        300,
                    )?),
                    memory: match std::env::var("ORDERLY_PROCESS_MEMORY").as_deref() {
                        Err(_) | Ok("enforce") => Some(true),
                        Ok("measure") => Some(false),
                        Ok("off") => None,
                        Ok(other) => {
                            return Err(format!(
                                "ORDERLY_PROCESS_MEMORY={other}: expected `enforce`, `measure` or `off`"
                            ));
                        }
                    },
                })
            }
            Ok(other) => Err(format!(
                "ORDERLY_RUNTIME={other}: expected `in-process` or `process`"
            )),
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| format!("{name}={v} is not valid")),
        Err(_) => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        Ok(Self {
            template: env_or("ORDERLY_TEMPLATE", PathBuf::from("template.yaml"))?,
            api_port: env_or("ORDERLY_API_PORT", 3000)?,
            ws_port: env_or("ORDERLY_WS_PORT", 3001)?,
            control_port: env_or("ORDERLY_CONTROL_PORT", 3002)?,
            provider_port: env_or("ORDERLY_PROVIDER_PORT", 3003)?,
            visibility_timeout: std::env::var("ORDERLY_QUEUE_VISIBILITY_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok()),
            sqs_wait_seconds: env_or("ORDERLY_SQS_WAIT_SECONDS", 1)?,
            sqs_max_pollers: env_or("ORDERLY_SQS_MAX_POLLERS", 5)?,
            ws_limits: Limits {
                idle_timeout_seconds: env_or(
                    "ORDERLY_WS_IDLE_TIMEOUT_SECONDS",
                    Limits::default().idle_timeout_seconds,
                )?,
                max_duration_seconds: env_or(
                    "ORDERLY_WS_MAX_CONNECTION_SECONDS",
                    Limits::default().max_duration_seconds,
                )?,
            },
            runtime: RuntimeMode::from_env()?,
        })
    }
}

/// Parameter values: the process environment's `ORDERLY_PARAM_<Name>` first, then the template's defaults.
fn parameters(template: &Template) -> HashMap<String, String> {
    template
        .parameters
        .iter()
        .filter_map(|(name, spec)| {
            let value = std::env::var(format!("ORDERLY_PARAM_{name}"))
                .ok()
                .or_else(|| match spec.get("Default") {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(other) if !other.is_null() => Some(other.to_string()),
                    _ => None,
                })?;
            Some((name.clone(), value))
        })
        .collect()
}

/// Each function's environment: exactly the variables the template gives it (Globals and its own),
/// resolved locally. A variable in `overrides`, or set in this process's environment, replaces the
/// template's value of a variable the function has (that is how tests switch OUTBOX_PUBLISH); nothing the
/// template does not give a function reaches it, so a function missing a variable fails here as in AWS.
fn environments(
    template: &Template,
    resolver: &Resolver,
    overrides: &HashMap<String, String>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut all = BTreeMap::new();
    for function in template.functions.values() {
        let mut env = BTreeMap::new();
        for (name, value) in &function.environment {
            let resolved = match overrides
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
            {
                Some(local) => local,
                None => resolver.resolve(value).map_err(|e| {
                    format!("{}: environment variable {name}: {e}", function.logical_id)
                })?,
            };
            env.insert(name.clone(), resolved);
        }
        all.insert(function.logical_id.clone(), env);
    }
    Ok(all)
}

/// One function state per distinct environment (most functions share one), built as each Lambda
/// instance builds its own at cold start: secrets fetched from Secrets Manager, a pool of its own.
async fn function_states(
    environments: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, &'static State>, String> {
    let mut built: HashMap<&BTreeMap<String, String>, &'static State> = HashMap::new();
    let mut states = BTreeMap::new();
    for (function, env) in environments {
        let state = match built.get(env) {
            Some(state) => *state,
            None => {
                let mut config = Config::from_lookup(|key| env.get(key).cloned())
                    .map_err(|e| format!("{function}: {e}"))?;
                // One process serves every function here, concurrently, where Lambda gives each request
                // an instance (and a pool) of its own: a bigger pool, and waiting for a connection is
                // queueing, not an outage. Not much bigger: the pool is what bounds the placements inside
                // Postgres at once, and with 64 a moment's queue of buyers of one hot product all waited
                // on its row lock inside Postgres, each order costing twice the CPU, and the stack
                // stayed slow at half its capacity; with 16 the queue waits here and is worked off
                // (ADR 0031).
                config.pool.max_size = env_or("DATABASE_POOL_SIZE", 16)?;
                config.pool.wait = Duration::from_secs(env_or("DATABASE_POOL_WAIT_SECONDS", 60)?);
                let state = State::new(config)
                    .await
                    .map_err(|e| format!("{function}: {e}"))?
                    .leak();
                built.insert(env, state);
                state
            }
        };
        states.insert(function.clone(), state);
    }
    Ok(states)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! { _ = interrupt => {}, _ = terminate.recv() => {} }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let template = Template::load(&settings.template).map_err(|e| e.to_string())?;
    let sdk = orderly_cloud::load_sdk_config().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let mut resolver = Resolver {
        region: region.clone(),
        parameters: parameters(&template),
        ..Default::default()
    };
    let stage = resolver
        .parameters
        .get("StageName")
        .cloned()
        .unwrap_or_else(|| "prod".to_owned());
    let options = provision::Options {
        visibility_timeout: settings.visibility_timeout,
        stage: stage.clone(),
    };
    provision::provision(&sdk, &template, &mut resolver, &options)
        .await
        .map_err(|e| e.to_string())?;
    let required = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let database_url = required("DATABASE_URL")?;
    let local = secrets::LocalSecrets {
        owner_url: database_url.clone(),
        jwt_signing_key: required("JWT_SIGNING_KEY")?,
        admin_email: required("ORDERLY_ADMIN_EMAIL")?,
        admin_password: required("ORDERLY_ADMIN_PASSWORD")?,
    };
    for (parameter, arn) in secrets::provision(&sdk, &local).await? {
        resolver.parameters.entry(parameter).or_insert(arn);
    }

    let ws_endpoint = format!("http://127.0.0.1:{}", settings.ws_port);
    // The gateway is the WebSocket API's management endpoint, and it runs the simulated payment provider
    // unless PAYMENT_PROVIDER_URL names another one.
    let provider_url = std::env::var("PAYMENT_PROVIDER_URL")
        .unwrap_or_else(|_| format!("http://127.0.0.1:{}", settings.provider_port));
    let overrides = HashMap::from([
        (
            "WEBSOCKET_MANAGEMENT_ENDPOINT".to_owned(),
            ws_endpoint.clone(),
        ),
        ("PAYMENT_PROVIDER_URL".to_owned(), provider_url.clone()),
    ]);
    let own_variables = environments(&template, &resolver, &overrides)?;
    let functions: BTreeMap<_, _> = template.functions.clone();
    let binaries_dir = match &settings.runtime {
        RuntimeMode::Process { dir, .. } => dir.clone(),
        RuntimeMode::InProcess => own_directory()?,
    };
    let binary_of = |def: &FunctionDef| binaries_dir.join(&def.binary);
    if matches!(settings.runtime, RuntimeMode::Process { .. }) {
        let missing: BTreeSet<String> = functions
            .values()
            .map(binary_of)
            .filter(|path| !path.is_file())
            .map(|path| path.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "ORDERLY_RUNTIME=process runs the functions' binaries, and these are not there: {}; \
                 cargo build -p orderly-functions --bins",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let function_variables: BTreeMap<String, BTreeMap<String, String>> = own_variables
        .iter()
        .map(|(name, own)| {
            let all = runtime::variables::for_function(
                &functions[name],
                own.clone(),
                &region,
                &binary_of(&functions[name]),
                |n| std::env::var(n).ok(),
            );
            (name.clone(), all)
        })
        .collect();
    let invoker = match &settings.runtime {
        RuntimeMode::InProcess => Invoker::new(
            function_states(&own_variables).await?,
            functions,
            orderly_functions::lookup,
        ),
        RuntimeMode::Process {
            dir,
            cap,
            idle,
            memory,
        } => {
            tracing::info!(binaries = %dir.display(), cap, idle_s = idle.as_secs(), enforce_memory = ?memory, "functions run as processes over the Runtime API");
            let environments = Arc::new(runtime::Environments::new(
                binary_of,
                &functions,
                function_variables.clone(),
                &region,
                *cap,
                memory.and_then(runtime::memory::Limits::create),
            ));
            environments.keep_reaping(*idle);
            Invoker::with_runtime(invoke::Runtime::Process(environments), functions)
        }
    };

    // Migrate before serving, through the migrate function itself.
    if let Some(migrate) = template.functions.values().find(|f| f.handler == "migrate") {
        let outcome = invoker
            .invoke_as_service(&migrate.logical_id, json!({}), &invoke::new_request_id())
            .await
            .map_err(|e| format!("migrations: {e}"))?;
        tracing::info!(applied = %outcome["applied"], "database migrated");
    }

    let gateway = Arc::new(Gateway {
        template,
        resolver,
        invoker,
        stage,
        region,
        ws_port: settings.ws_port,
        sockets: Sockets::new(settings.ws_limits),
        push_fault: Mutex::new(None),
        redelivery_fault: Mutex::new(None),
        event_sources_off: tokio::sync::watch::Sender::new(Default::default()),
        policy_cache: Default::default(),
        trust_forwarded_for: std::env::var("ORDERLY_TRUST_FORWARDED_FOR").is_ok_and(|v| v == "1"),
        function_variables,
    });
    let cancel = CancellationToken::new();
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))
    };
    let (api, ws, control) = (
        bind(settings.api_port).await?,
        bind(settings.ws_port).await?,
        bind(settings.control_port).await?,
    );
    let provider = bind(settings.provider_port).await?;

    let mut tasks = tokio::task::JoinSet::new();
    let rest_app = axum::Router::new()
        .fallback(rest::handle)
        .with_state(gateway.clone());
    for (listener, app) in [
        (api, rest_app),
        (ws, websocket::router(gateway.clone())),
        (control, control::router(gateway.clone())),
        (
            provider,
            provider::router(Arc::new(provider::Simulator::default())),
        ),
    ] {
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(cancel.cancelled_owned())
                .await;
        });
    }
    let sqs_client = aws_sdk_sqs::Client::new(&sdk);
    // Each mapping's pollers, bounded by its MaximumConcurrency, its function's reserved concurrency
    // and the local cap.
    let scalings: Vec<sqs::Scaling> = gateway
        .template
        .sqs_mappings
        .iter()
        .map(|m| {
            let reserved = gateway
                .template
                .functions
                .get(&m.function)
                .and_then(|f| f.reserved_concurrency);
            sqs::Scaling::of(m, reserved, settings.sqs_max_pollers)
        })
        .collect();
    for (mapping, scaling) in gateway.template.sqs_mappings.iter().zip(&scalings) {
        tasks.spawn(sqs::poll(
            gateway.clone(),
            mapping.clone(),
            sqs_client.clone(),
            settings.sqs_wait_seconds,
            *scaling,
            cancel.clone(),
        ));
    }
    tasks.spawn(websocket::enforce_limits(gateway.clone(), cancel.clone()));
    for schedule in gateway.template.schedules.clone() {
        tasks.spawn(schedule::run(gateway.clone(), schedule, cancel.clone()));
    }

    let t = &gateway.template;
    println!("Orderly local stack is up");
    println!(
        "  REST API        http://127.0.0.1:{}  ({} routes)",
        settings.api_port,
        t.rest_routes.len()
    );
    println!(
        "  WebSocket API   ws://127.0.0.1:{}  (management: {ws_endpoint}/@connections/{{id}})",
        settings.ws_port
    );
    println!(
        "                  idle timeout {} s, connection limit {} s (ORDERLY_WS_IDLE_TIMEOUT_SECONDS, ORDERLY_WS_MAX_CONNECTION_SECONDS)",
        settings.ws_limits.idle_timeout_seconds, settings.ws_limits.max_duration_seconds
    );
    println!(
        "  Control API     http://127.0.0.1:{}",
        settings.control_port
    );
    println!(
        "  Payment provider {provider_url} (simulated on :{}; PUT /_control switches latency, declines, outage)",
        settings.provider_port
    );
    println!("  Postgres        {}", redact(&database_url));
    println!(
        "  AWS emulator    {}",
        sdk.endpoint_url().unwrap_or("AWS (no endpoint override)")
    );
    println!("  Functions       {}", t.functions.len());
    for (m, scaling) in t.sqs_mappings.iter().zip(&scalings) {
        println!(
            "  SQS mapping     {} → {} (batch {}, window {} s, {}–{} pollers)",
            m.queue,
            m.function,
            m.batch_size,
            m.batching_window_seconds,
            scaling.start,
            scaling.max
        );
    }
    for s in &t.schedules {
        println!("  Schedule        {} {}", s.function, s.expression);
    }

    shutdown_signal().await;
    println!("Shutting down");
    cancel.cancel();
    gateway.sockets.close_all();
    // Open WebSockets and in-flight invocations get a moment; then the process ends regardless.
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some connections did not close within 5 s");
    }
    Ok(())
}

/// WebSocket connections the gateway is built to hold at once, as API Gateway would: each holds a file
/// descriptor, and many systems start processes with 1,024.
const WEBSOCKETS: u64 = 10_000;
/// Descriptors besides the sockets: the REST API's, the database pool's, the emulator's, logs.
const OTHER_DESCRIPTORS: u64 = 1_000;

/// Raises this process's open-file limit as far as the hard limit allows, and says so when that is not
/// enough for `WEBSOCKETS` connections.
fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(WEBSOCKETS + OTHER_DESCRIPTORS) {
        Ok(limit) if limit >= WEBSOCKETS + OTHER_DESCRIPTORS => {
            tracing::debug!(limit, "open-file limit");
        }
        Ok(limit) => tracing::warn!(
            limit,
            "the open-file limit holds only about {} WebSocket connections, not {WEBSOCKETS}: raise the hard limit (ulimit -Hn)",
            limit.saturating_sub(OTHER_DESCRIPTORS)
        ),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn".into()),
        )
        .init();
    raise_descriptor_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orderly-local: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}

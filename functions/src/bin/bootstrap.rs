//! The one Lambda artifact: runs the handler that `_HANDLER` (the function's `Handler` in template.yaml)
//! names. See docs/adr/0001-one-bootstrap-binary.md for why one binary serves every function.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use orderly_functions::{Config, Invocation, State, logs, lookup};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    orderly_cloud::use_ring_for_tls();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(logs::filter(
            std::env::var("LOG_LEVEL").ok().as_deref(),
        )))
        .with_current_span(false)
        .without_time() // CloudWatch stamps every line
        .init();

    let (handler, state) = match init().await {
        Ok(ready) => ready,
        Err(e) => {
            report_init_error(&e).await;
            return Err(e);
        }
    };

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let invocation = Invocation {
            request_id: event.context.request_id.clone(),
            deadline: Some(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline),
            ),
        };
        // A failure reaches Lambda as a Diagnostic with a real errorType (NotFound, DatabaseUnavailable,
        // PaymentProviderUnavailable, …), which CloudWatch can count and alarm on.
        async move {
            handler(event.payload, invocation, state)
                .await
                .map_err(Diagnostic::from)
        }
    }))
    .await
}

/// What an instance builds once: its handler and its state (pools, clients, configuration).
async fn init() -> Result<(orderly_functions::Handler, &'static State), Error> {
    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER is not set")?;
    let handler =
        lookup(&name).ok_or_else(|| format!("no handler named `{name}` in the registry"))?;
    let state = State::new(Config::from_env()?).await?.leak();
    Ok((handler, state))
}

/// Tells Lambda why this environment cannot start (`/init/error`), so the invocation that waited for it
/// fails with the reason (a missing variable, an unreadable secret) instead of a bare exit status.
async fn report_init_error(error: &Error) {
    tracing::error!(error = %error, "init failed");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let report = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .json(&serde_json::json!({"errorType": "Runtime.InitError", "errorMessage": error.to_string()}))
        .send()
        .await;
    if let Err(e) = report {
        tracing::error!(error = %e, "could not report the init error to the Runtime API");
    }
}

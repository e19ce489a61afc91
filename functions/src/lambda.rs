//! What every Lambda binary of Orderly runs: the handler that `_HANDLER` (the function's `Handler` in
//! template.yaml) names, from the lookup of the binary's artifact
//! (docs/adr/0023-four-artifacts-by-kind-of-work.md).

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::{Config, Handler, Invocation, State, logs};

/// Serves invocations until Lambda stops the environment. `lookup` is the artifact's own, so its binary
/// links only the handlers it may run.
///
/// On tokio's current-thread runtime: an environment runs one invocation at a time, on a fraction of a
/// vCPU below 1,769 MB, so worker threads would only add to the cold start. Blocking work (password
/// hashing) still goes to tokio's blocking pool.
pub fn run(lookup: fn(&str) -> Option<Handler>) -> Result<(), Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(lookup))
}

async fn serve(lookup: fn(&str) -> Option<Handler>) -> Result<(), Error> {
    orderly_cloud::use_ring_for_tls();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .without_time(), // CloudWatch stamps every line
        )
        .with(logs::filter(std::env::var("LOG_LEVEL").ok().as_deref()))
        .init();

    let (handler, state) = match init(lookup).await {
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
async fn init(lookup: fn(&str) -> Option<Handler>) -> Result<(Handler, &'static State), Error> {
    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER is not set")?;
    let handler = lookup(&name).ok_or_else(|| match crate::registry::binary(&name) {
        Some(binary) => format!("the handler `{name}` is in the binary `{binary}`, not this one"),
        None => format!("no handler named `{name}` in the registry"),
    })?;
    let state = State::new(Config::from_env()?).await?.leak();
    Ok((handler, state))
}

/// Tells Lambda why this environment cannot start (`/init/error`), so the invocation that waited for it
/// fails with the reason (a missing variable, an unreadable secret) instead of a bare exit status.
/// Through the runtime's own Runtime API client, so no artifact links a second HTTP client for it.
async fn report_init_error(error: &Error) {
    tracing::error!(error = %error, "init failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let body =
        serde_json::json!({"errorType": "Runtime.InitError", "errorMessage": error.to_string()});
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(
            body.to_string(),
        ));
    let outcome = match request {
        Ok(request) => lambda_runtime_api_client::PooledClient::builder()
            .build()
            .call(request)
            .await
            .map(|response| response.status()),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(status) if status.is_success() => {}
        Ok(status) => tracing::error!(%status, "the Runtime API refused the init error"),
        Err(e) => tracing::error!(error = %e, "could not report the init error to the Runtime API"),
    }
}

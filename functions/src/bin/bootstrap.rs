//! The one Lambda artifact: runs the handler that `_HANDLER` (the function's `Handler` in template.yaml)
//! names. See docs/adr/0001-one-bootstrap-binary.md for why one binary serves every function.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use orderly_functions::{Config, Invocation, State, logs, lookup};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(logs::filter(
            std::env::var("LOG_LEVEL").ok().as_deref(),
        )))
        .with_current_span(false)
        .without_time() // CloudWatch stamps every line
        .init();

    let name = std::env::var("_HANDLER").map_err(|_| "_HANDLER is not set")?;
    let handler =
        lookup(&name).ok_or_else(|| format!("no handler named `{name}` in the registry"))?;
    let state = State::new(Config::from_env()?).await?.leak();

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

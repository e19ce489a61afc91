//! The cold-start benchmark's baseline: the smallest function `lambda_runtime` can run, built with the
//! release profile the artifacts are built with (its own package, so that build compiles only this).
//! Its spawn-to-first-response is what any Rust Lambda pays; the benchmark prints ours next to it.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

// The same runtime as ours (`orderly_functions::lambda::run`): the current-thread one, so the comparison is of
// what our binary does, not of which tokio runtime starts.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "hello"}))
    }))
    .await
}

//! The Lambda artifact of what API Gateway invokes while a client waits: REST routes, the REST
//! authorizer and the WebSocket routes (`Handler` names in template.yaml).

fn main() -> Result<(), lambda_runtime::Error> {
    orderly_functions::lambda::run(orderly_functions::registry::api::lookup)
}

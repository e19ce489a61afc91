//! The Lambda artifact of the queue consumers and the schedules (`Handler` names in template.yaml).

fn main() -> Result<(), lambda_runtime::Error> {
    orderly_functions::lambda::run(orderly_functions::registry::events::lookup)
}

//! The Lambda artifact of Swagger UI (`Handler` names in template.yaml).

fn main() -> Result<(), lambda_runtime::Error> {
    orderly_functions::lambda::run(orderly_functions::registry::docs::lookup)
}

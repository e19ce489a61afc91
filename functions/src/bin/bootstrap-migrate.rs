//! The Lambda artifact of the migrations and the first admin (`Handler` names in template.yaml).

fn main() -> Result<(), lambda_runtime::Error> {
    orderly_functions::lambda::run(orderly_functions::registry::migrate::lookup)
}

//! The Lambda artifact of the queue consumers and the schedules (`Handler` names in template.yaml).

// mimalloc: the SDK and the handlers allocate and free at a rate glibc's allocator spends a fifth of
// the CPU on (docs/adr/0025-mimalloc.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), lambda_runtime::Error> {
    orderly_functions::lambda::run(orderly_functions::registry::events::lookup)
}

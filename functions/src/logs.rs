//! What a function logs. `LOG_LEVEL` (the template's `LogLevel`) applies to Orderly's own crates only:
//! everything else stays at `warn`. At `debug` or `trace`, the Lambda runtime and the HTTP and AWS client
//! crates log whole events, headers and bodies, which carry tokens, passwords and personal data, and no
//! setting of ours may turn that on. Release builds leave debug and trace events out at compile time
//! (the workspace manifest's `release_max_level_info`), so there `debug` and `trace` log what `info`
//! does; a debug or trace event added to our crates shows in local (debug) builds only.

use tracing::Level;
use tracing_subscriber::filter::Targets;

/// Orderly's crates, as tracing names their targets.
const OURS: [&str; 5] = [
    "orderly_functions",
    "orderly_store",
    "orderly_cloud",
    "orderly_http",
    "orderly_domain",
];

/// The filter for `level` (an unknown level counts as `info`): a plain target filter, not an
/// `EnvFilter`, whose span and field matching would link a regex engine into every artifact.
pub fn filter(level: Option<&str>) -> Targets {
    let level = match level.map(str::to_ascii_lowercase).as_deref() {
        Some("error") => Level::ERROR,
        Some("warn") => Level::WARN,
        Some("debug") => Level::DEBUG,
        Some("trace") => Level::TRACE,
        _ => Level::INFO,
    };
    Targets::new()
        .with_default(Level::WARN)
        .with_targets(OURS.map(|target| (target, level)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::enabled;
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `check` with a subscriber filtering by `filter(level)`, as `lambda::run` installs it.
    fn with_filter(level: &str, check: impl FnOnce() -> bool) -> bool {
        let subscriber = tracing_subscriber::registry().with(filter(Some(level)));
        tracing::subscriber::with_default(subscriber, check)
    }

    #[test]
    fn the_level_reaches_our_crates_and_never_the_runtime_or_the_clients() {
        assert!(with_filter(
            "trace",
            || enabled!(target: "orderly_functions::http", Level::TRACE)
        ));
        assert!(with_filter(
            "debug",
            || enabled!(target: "orderly_store::orders", Level::DEBUG)
        ));
        assert!(!with_filter(
            "info",
            || enabled!(target: "orderly_store::orders", Level::DEBUG)
        ));
        assert!(!with_filter(
            "trace",
            || enabled!(target: "lambda_runtime", Level::DEBUG)
        ));
        assert!(!with_filter(
            "trace",
            || enabled!(target: "lambda_runtime::layers", Level::INFO)
        ));
        assert!(!with_filter(
            "trace",
            || enabled!(target: "aws_smithy_runtime", Level::DEBUG)
        ));
        assert!(!with_filter(
            "trace",
            || enabled!(target: "hyper_util::client", Level::DEBUG)
        ));
        assert!(with_filter(
            "trace",
            || enabled!(target: "lambda_runtime", Level::WARN)
        ));
        assert!(with_filter(
            "nonsense",
            || enabled!(target: "orderly_functions::http", Level::INFO)
                && !enabled!(target: "orderly_functions::http", Level::DEBUG)
        ));
    }
}

//! What a function logs. `LOG_LEVEL` (the template's `LogLevel`) applies to Orderly's own crates only:
//! everything else stays at `warn`. At `debug` or `trace`, the Lambda runtime and the HTTP and AWS client
//! crates log whole events, headers and bodies, which carry tokens, passwords and personal data, and no
//! setting of ours may turn that on.

/// Orderly's crates, as tracing names their targets.
const OURS: [&str; 6] = [
    "bootstrap",
    "orderly_functions",
    "orderly_store",
    "orderly_cloud",
    "orderly_http",
    "orderly_domain",
];

/// The `tracing_subscriber::EnvFilter` directives for `level` (an unknown level counts as `info`).
pub fn filter(level: Option<&str>) -> String {
    let level = match level.map(str::to_ascii_lowercase).as_deref() {
        Some(l @ ("error" | "warn" | "info" | "debug" | "trace")) => l.to_owned(),
        _ => "info".to_owned(),
    };
    std::iter::once("warn".to_owned())
        .chain(OURS.iter().map(|target| format!("{target}={level}")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::{Level, enabled};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `check` with a subscriber filtering by `filter(level)`, as bootstrap installs it.
    fn with_filter(level: &str, check: impl FnOnce() -> bool) -> bool {
        let subscriber = tracing_subscriber::registry().with(EnvFilter::new(filter(Some(level))));
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
        assert_eq!(filter(Some("nonsense")), filter(None));
        assert!(filter(None).contains("orderly_functions=info"));
    }
}

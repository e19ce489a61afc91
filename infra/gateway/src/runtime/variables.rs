//! What a process-mode environment sees: the function's own variables from the template (resolved
//! locally), the variables Lambda defines, and the few local stand-ins for what AWS provides by other
//! means. Nothing else from the gateway's environment reaches it, so a function whose template entry lacks
//! a variable fails locally as it would in AWS.

use std::collections::BTreeMap;
use std::path::Path;

use crate::template::FunctionDef;

/// Taken from the gateway's environment when set: the emulator's endpoint (in AWS the SDK's default
/// endpoints), and the credentials that stand in for the function's execution role.
pub const LOCAL_STAND_INS: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The complete environment of one function's processes, but the per-environment ones (the Runtime API's
/// address, the log stream).
pub fn for_function(
    def: &FunctionDef,
    own: BTreeMap<String, String>,
    region: &str,
    binary: &Path,
    gateway_env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let task_root = binary
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut variables: BTreeMap<String, String> = LOCAL_STAND_INS
        .iter()
        .filter_map(|name| gateway_env(name).map(|v| (name.to_string(), v)))
        .collect();
    variables.extend(own);
    let name = &def.logical_id;
    // Lambda's reserved variables win over the function's: Lambda refuses a template that sets them.
    variables.extend(
        [
            ("_HANDLER", def.handler.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", def.memory_mb.to_string()),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT",
                def.timeout.as_secs().to_string(),
            ),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_rapid".to_owned()),
            ("AWS_REGION", region.to_owned()),
            ("AWS_DEFAULT_REGION", region.to_owned()),
            ("LAMBDA_TASK_ROOT", task_root.clone()),
            ("LAMBDA_RUNTIME_DIR", task_root),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("TZ", ":UTC".to_owned()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> FunctionDef {
        FunctionDef {
            logical_id: "PlaceOrderFunction".to_owned(),
            handler: "place_order".to_owned(),
            binary: "bootstrap-api".to_owned(),
            timeout: std::time::Duration::from_secs(10),
            environment: Default::default(),
            reserved_concurrency: None,
            memory_mb: 256,
        }
    }

    #[test]
    fn only_the_template_lambda_and_stand_ins_reach_a_function() {
        let gateway = BTreeMap::from([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("DATABASE_URL", "postgres://owner@127.0.0.1/orderly"),
            ("JWT_SIGNING_KEY", "gateway-only"),
            ("HOME", "/root"),
        ]);
        let own = BTreeMap::from([("OUTBOX_PUBLISH".to_owned(), "relay".to_owned())]);
        let variables = for_function(
            &def(),
            own,
            "eu-west-1",
            Path::new("/repo/target/debug/bootstrap"),
            |name| gateway.get(name).map(|v| v.to_string()),
        );
        assert_eq!(variables["OUTBOX_PUBLISH"], "relay");
        assert_eq!(variables["_HANDLER"], "place_order");
        assert_eq!(variables["AWS_LAMBDA_FUNCTION_NAME"], "PlaceOrderFunction");
        assert_eq!(variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
        assert_eq!(variables["AWS_REGION"], "eu-west-1");
        assert_eq!(variables["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(variables["LAMBDA_TASK_ROOT"], "/repo/target/debug");
        for leaked in ["DATABASE_URL", "JWT_SIGNING_KEY", "HOME"] {
            assert!(!variables.contains_key(leaked), "{leaked} leaked");
        }
    }

    #[test]
    fn a_function_cannot_override_what_lambda_defines() {
        let own = BTreeMap::from([("AWS_REGION".to_owned(), "mars-1".to_owned())]);
        let variables = for_function(&def(), own, "us-east-1", Path::new("/b"), |_| None);
        assert_eq!(variables["AWS_REGION"], "us-east-1");
    }
}

//! A REST API Lambda authorizer (REQUEST type) run the way API Gateway runs it: a missing identity source
//! is 401 without a call; the function's "Unauthorized" failure is 401, any other failure 500; its policy
//! is cached per identity for `ReauthorizeEvery` seconds and evaluated against each request's method ARN
//! (an explicit Deny wins, no Allow is a Deny: 403); its context reaches the function's request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use orderly_domain::access::glob_match;
use serde_json::{Value, json};

use crate::Gateway;
use crate::invoke::{InvokeError, outcome_name};
use crate::paths::CanonicalPath;
use crate::resolve::ACCOUNT_ID;
use crate::rest::gateway_response;

#[derive(Default)]
pub struct PolicyCache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
}

pub enum Verdict {
    /// The value for `requestContext.authorizer`.
    Allowed(Value),
    Refused(Response),
}

fn as_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether an IAM policy document allows `execute-api:Invoke` on `method_arn`.
pub fn policy_allows(document: &Value, method_arn: &str) -> bool {
    let statements: Vec<&Value> = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return false,
    };
    let matches = |statement: &Value| {
        let action = as_list(statement.get("Action"))
            .iter()
            .any(|a| glob_match(a, "execute-api:Invoke"));
        let resource = as_list(statement.get("Resource"))
            .iter()
            .any(|r| glob_match(r, method_arn));
        action && resource
    };
    let effect = |s: &Value| {
        s.get("Effect")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let denied = statements.iter().any(|s| effect(s) == "Deny" && matches(s));
    let allowed = statements
        .iter()
        .any(|s| effect(s) == "Allow" && matches(s));
    allowed && !denied
}

/// What the request asks for: its method and its canonical path (the one the route was matched on).
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub method: &'a str,
    pub path: &'a CanonicalPath,
}

pub async fn authorize(
    gateway: &Gateway,
    name: &str,
    proxy_event: &Value,
    target: Target<'_>,
    headers: &HeaderMap,
    request_id: &str,
) -> Verdict {
    let unauthorized = || {
        Verdict::Refused(gateway.gateway_error(
            "UNAUTHORIZED",
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized"}),
            request_id,
        ))
    };
    let def = &gateway.template.authorizers[name];
    let mut identity = Vec::with_capacity(def.identity_headers.len());
    for header in &def.identity_headers {
        match headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
        {
            Some(value) => identity.push(value.to_owned()),
            None => return unauthorized(),
        }
    }
    let cache_key = format!("{name}\u{0}{}", identity.join("\u{0}"));
    let cached = gateway
        .policy_cache
        .entries
        .lock()
        .expect("cache lock")
        .get(&cache_key)
        .filter(|(expires, _)| *expires > Instant::now())
        .map(|(_, response)| response.clone());

    let method_arn = format!(
        "arn:aws:execute-api:{}:{ACCOUNT_ID}:local/{}/{}{}",
        gateway.region,
        gateway.stage,
        target.method,
        target.path.as_path()
    );
    let response = match cached {
        Some(response) => response,
        None => {
            let mut event = proxy_event.clone();
            if let Some(fields) = event.as_object_mut() {
                fields.remove("body");
                fields.remove("isBase64Encoded");
                fields.insert("type".into(), json!("REQUEST"));
                fields.insert("methodArn".into(), json!(method_arn));
            }
            let result = gateway
                .invoker
                .invoke(&def.function, event, request_id)
                .await;
            gateway
                .invoker
                .record(&def.function, request_id, outcome_name(&result), None);
            match result {
                Ok(response) => {
                    if !def.ttl.is_zero() {
                        let expires = Instant::now() + def.ttl;
                        gateway
                            .policy_cache
                            .entries
                            .lock()
                            .expect("cache lock")
                            .insert(cache_key, (expires, response.clone()));
                    }
                    response
                }
                Err(InvokeError::Failed(message)) if message == "Unauthorized" => {
                    return unauthorized();
                }
                Err(_) => {
                    return Verdict::Refused(gateway.gateway_error(
                        "AUTHORIZER_FAILURE",
                        StatusCode::INTERNAL_SERVER_ERROR,
                        json!({"message": null}),
                        request_id,
                    ));
                }
            }
        }
    };
    if !policy_allows(&response["policyDocument"], &method_arn) {
        let body = json!({"Message": "User is not authorized to access this resource with an explicit deny"});
        return Verdict::Refused(gateway.gateway_error(
            "ACCESS_DENIED",
            StatusCode::FORBIDDEN,
            body,
            request_id,
        ));
    }
    let mut context = response
        .get("context")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    context["principalId"] = response.get("principalId").cloned().unwrap_or(Value::Null);
    context["integrationLatency"] = json!(0);
    Verdict::Allowed(context)
}

/// A gateway response: the template's `GatewayResponses` entry for `kind` when there is one, else API
/// Gateway's default body.
pub fn render(
    status: u16,
    template: Option<&str>,
    default: Value,
    request_id: &str,
) -> (StatusCode, String) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match template {
        Some(template) => template.replace("$context.requestId", request_id),
        None => default.to_string(),
    };
    (status, body)
}

pub fn response(status: StatusCode, body: String, error_type: &str, request_id: &str) -> Response {
    let mut response = gateway_response(status, "", error_type, request_id);
    *response.body_mut() = axum::body::Body::from(body);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:execute-api:us-east-1:123456789012:local/prod/GET/api/v1/admin/audit-logs";

    fn statement(effect: &str, resource: &str) -> Value {
        json!({"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]})
    }

    #[test]
    fn an_explicit_deny_wins_and_no_allow_is_a_deny() {
        let allow_all = statement(
            "Allow",
            "arn:aws:execute-api:us-east-1:123456789012:local/prod/*/*",
        );
        let deny_admin = statement(
            "Deny",
            "arn:aws:execute-api:us-east-1:123456789012:local/prod/*/api/v1/admin/*",
        );
        assert!(policy_allows(
            &json!({"Statement": [allow_all.clone()]}),
            ARN
        ));
        assert!(!policy_allows(
            &json!({"Statement": [allow_all, deny_admin]}),
            ARN
        ));
        assert!(!policy_allows(&json!({"Statement": []}), ARN));
        assert!(!policy_allows(&json!({}), ARN));
    }

    #[test]
    fn templates_get_the_request_id() {
        let (status, body) = render(
            401,
            Some(r#"{"id":"$context.requestId"}"#),
            json!({}),
            "r-1",
        );
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::UNAUTHORIZED, r#"{"id":"r-1"}"#)
        );
        let (_, body) = render(403, None, json!({"Message": "x"}), "r-1");
        assert_eq!(body, r#"{"Message":"x"}"#);
    }
}

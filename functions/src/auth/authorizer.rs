//! The REST API's Lambda authorizer (REQUEST type). `Authorization: Bearer <access token>` for users,
//! `Authorization: ApiKey <key>` for service clients. Returns the principal, an IAM policy over the
//! whole API (API Gateway caches it per credential, so it must hold for every route), and the context
//! handlers read. Anything else is "Unauthorized", which API Gateway turns into 401.

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use orderly_domain::access::{Principal, policy};
use serde_json::json;

use crate::State;
use crate::services::{api_keys, tokens};

/// API Gateway answers 401 only when the authorizer fails with exactly this message.
pub const UNAUTHORIZED: &str = "Unauthorized";
/// Any other failure is API Gateway's 500 (`AUTHORIZER_FAILURE`): the credential could not be checked,
/// which is not the client's fault and must not read as "your key is wrong".
pub const CANNOT_CHECK: &str = "the credential store is unavailable";

/// The principal, and when its access token expires (users only).
async fn principal(
    state: &State,
    authorization: &str,
) -> Result<(Principal, Option<i64>), &'static str> {
    let (scheme, credential) = authorization.trim().split_once(' ').ok_or(UNAUTHORIZED)?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => {
            let key = state.signing_key().ok_or(CANNOT_CHECK)?;
            let claims = tokens::verify_access(key, credential.trim()).ok_or(UNAUTHORIZED)?;
            let user = Principal::User {
                id: claims.sub,
                role: claims.role,
                session: claims.sid,
            };
            Ok((user, Some(claims.exp)))
        }
        "apikey" => match api_keys::authenticate(state, credential.trim()).await {
            Ok(Some(id)) => Ok((Principal::ApiKey { id }, None)),
            Ok(None) => Err(UNAUTHORIZED),
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                Err(CANNOT_CHECK)
            }
        },
        _ => Err(UNAUTHORIZED),
    }
}

/// `arn:{partition}:execute-api:{region}:{account}:{api}/{stage}/` of a method ARN, the base of every
/// resource in the policy. A method ARN has exactly six `:`-separated fields, and only the last (the
/// resource: `{api}/{stage}/{method}/{path}`) may hold more `:`, because a request path may.
fn api_base(method_arn: &str) -> Option<String> {
    let fields: Vec<&str> = method_arn.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = fields[..] else {
        return None;
    };
    if arn != "arn" || service != "execute-api" {
        return None;
    }
    let mut parts = resource.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    if api.is_empty() || stage.is_empty() || parts.next().is_none() {
        return None;
    }
    Some(format!(
        "{arn}:{partition}:{service}:{region}:{account}:{api}/{stage}/"
    ))
}

pub async fn handle(
    request: ApiGatewayCustomAuthorizerRequestTypeRequest,
    state: &'static State,
) -> Result<ApiGatewayCustomAuthorizerResponse, &'static str> {
    let authorization = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (principal, access_expires_at) = principal(state, authorization).await?;
    let base = request
        .method_arn
        .as_deref()
        .and_then(api_base)
        .ok_or(UNAUTHORIZED)?;

    let statement = policy(&principal)
        .into_iter()
        .map(|(effect, method, path)| {
            let mut s = IamPolicyStatement::default();
            s.action = vec!["execute-api:Invoke".to_owned()];
            s.effect = if effect == "Allow" {
                IamPolicyEffect::Allow
            } else {
                IamPolicyEffect::Deny
            };
            s.resource = vec![format!("{base}{method}{path}")];
            s
        })
        .collect();
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = statement;

    let (principal_id, context) = match principal {
        Principal::User { id, role, session } => (
            format!("user:{id}"),
            json!({"user_id": id.to_string(), "role": role.as_str(), "session_id": session.to_string(), "api_key_id": "",
                   "access_expires_at": access_expires_at.map(|t| t.to_string()).unwrap_or_default()}),
        ),
        Principal::ApiKey { id } => (
            format!("api-key:{id}"),
            json!({"user_id": "", "role": "", "session_id": "", "api_key_id": id.to_string(), "access_expires_at": ""}),
        ),
    };
    let mut response = ApiGatewayCustomAuthorizerResponse::default();
    response.principal_id = Some(principal_id);
    response.policy_document = document;
    response.context = context;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn the_policy_base_is_the_api_and_stage_of_the_method_arn() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/v1/me";
        assert_eq!(
            api_base(arn).as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/")
        );
        for wrong in [
            "nonsense",
            "arn:aws:s3:us-east-1:123456789012:abc123/prod/GET/x",
            "arn:aws:execute-api:us-east-1:123456789012:abc123",
            "arn:aws:execute-api:us-east-1:123456789012:/prod/GET/x",
        ] {
            assert_eq!(api_base(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn a_colon_in_the_path_does_not_move_the_policy_base() {
        // Parsing from the right once took everything before the path's last `:` as the base, so the
        // cached policy named resources under the requested path instead of the API.
        let arn = "arn:aws:execute-api:eu-central-1:123456789012:abc123/prod/GET/api/v1/orders/2026-01-01T00:00:00Z";
        assert_eq!(
            api_base(arn).as_deref(),
            Some("arn:aws:execute-api:eu-central-1:123456789012:abc123/prod/")
        );
    }

    async fn state_without_a_database() -> &'static State {
        let config = Config::from_lookup(|key| {
            Some(match key {
                // Nothing listens on port 1: every query fails at once.
                "DATABASE_URL" => "postgres://nobody@127.0.0.1:1/none".to_owned(),
                "JWT_SIGNING_KEY" => "k".repeat(32),
                "DATABASE_POOL_WAIT_SECONDS" => "1".to_owned(),
                "ORDER_EVENTS_TOPIC_ARN" | "ARTIFACTS_BUCKET" | "WEBSOCKET_MANAGEMENT_ENDPOINT" => {
                    "unused".to_owned()
                }
                _ => return None,
            })
        })
        .unwrap();
        State::new(config).await.unwrap().leak()
    }

    fn event(authorization: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        serde_json::from_value(json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/v1/me",
            "headers": {"authorization": authorization},
            "requestContext": {"requestId": "r-1", "httpMethod": "GET"},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_api_key_that_cannot_be_looked_up_is_a_failure_not_a_401() {
        let state = state_without_a_database().await;
        let key = format!("ok_0123456789ab_{}", "s".repeat(43));
        let outcome = handle(event(&format!("ApiKey {key}")), state).await;
        assert_eq!(outcome.unwrap_err(), CANNOT_CHECK);
        // A malformed key never reaches the store, and is a plain 401.
        let outcome = handle(event("ApiKey not-a-key"), state).await;
        assert_eq!(outcome.unwrap_err(), UNAUTHORIZED);
    }
}

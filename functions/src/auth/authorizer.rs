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

async fn principal(state: &State, authorization: &str) -> Option<Principal> {
    let (scheme, credential) = authorization.trim().split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => {
            let key = state.config.jwt_signing_key.as_deref()?;
            let claims = tokens::verify_access(key, credential.trim())?;
            Some(Principal::User {
                id: claims.sub,
                role: claims.role,
            })
        }
        "apikey" => {
            let id = api_keys::authenticate(state, credential.trim())
                .await
                .ok()??;
            Some(Principal::ApiKey { id })
        }
        _ => None,
    }
}

/// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/` of the method ARN, the base of every resource
/// in the policy.
fn api_base(method_arn: &str) -> Option<String> {
    let (prefix, path) = method_arn
        .split_once(':')
        .map(|_| method_arn.rsplit_once(':'))??;
    let mut parts = path.splitn(3, '/');
    let (api, stage) = (parts.next()?, parts.next()?);
    Some(format!("{prefix}:{api}/{stage}/"))
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
    let principal = principal(state, authorization).await.ok_or(UNAUTHORIZED)?;
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
        Principal::User { id, role } => (
            format!("user:{id}"),
            json!({"user_id": id.to_string(), "role": role.as_str(), "api_key_id": ""}),
        ),
        Principal::ApiKey { id } => (
            format!("api-key:{id}"),
            json!({"user_id": "", "role": "", "api_key_id": id.to_string()}),
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

    #[test]
    fn the_policy_base_is_the_api_and_stage_of_the_method_arn() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/api/v1/me";
        assert_eq!(
            api_base(arn).as_deref(),
            Some("arn:aws:execute-api:us-east-1:123456789012:abc123/prod/")
        );
        assert_eq!(api_base("nonsense"), None);
    }
}

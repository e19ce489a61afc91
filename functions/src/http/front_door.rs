//! What every REST function does around its own work: body size limit, per-principal rate limit, CORS,
//! security headers, the request id, one structured log line, and turning errors into responses.

use std::future::Future;
use std::time::Instant;

use http::{HeaderMap, HeaderValue};
use orderly_domain::access::{Access, Principal, Refusal};
use orderly_domain::rate_limit::Decision;
use orderly_http::{ApiError, FieldError, HttpRequest, MAX_BODY_BYTES, Response};

use super::{cors, docs};
use crate::services::rate_limits;
use crate::{Invocation, State};
use orderly_store::rate_limits::Standing;

const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cross-origin-resource-policy", "same-site"),
];

fn set(headers: &mut HeaderMap, name: &'static str, value: impl ToString) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(name, value);
    }
}

fn rate_limit_headers(headers: &mut HeaderMap, decision: &Decision) {
    set(headers, "ratelimit-limit", decision.limit);
    set(headers, "ratelimit-remaining", decision.remaining);
    set(headers, "ratelimit-reset", decision.reset_seconds);
}

/// Everything a request passes before its handler: the body limit, a fresh look at its credential and the
/// principal's quota (one statement), and the route's access level. A role changed since the token was
/// issued counts as it is now.
async fn admit(
    request: &mut HttpRequest,
    access: Access,
    state: &State,
) -> Result<Option<Decision>, (ApiError, Option<Decision>)> {
    if request.body_len() > MAX_BODY_BYTES {
        return Err((ApiError::PayloadTooLarge(MAX_BODY_BYTES), None));
    }
    let mut decision = None;
    if let Some(principal) = &mut request.caller {
        let (quota, standing) = rate_limits::for_principal(state, principal)
            .await
            .map_err(|e| (ApiError::from(e), None))?;
        decision = Some(quota);
        match (standing, principal) {
            (Standing::Ended, _) => {
                return Err((
                    ApiError::Unauthorized(
                        "these credentials were revoked or have ended; sign in again",
                    ),
                    decision,
                ));
            }
            (
                Standing::Live {
                    role: Some(current),
                },
                Principal::User { role, .. },
            ) => *role = current,
            (Standing::Live { .. }, _) => {}
        }
        if !quota.allowed {
            let retry_after_seconds = quota.retry_after_seconds;
            return Err((
                ApiError::RateLimited {
                    retry_after_seconds,
                },
                decision,
            ));
        }
    }
    match access.admits(request.caller.as_ref()) {
        Ok(()) => {}
        Err(Refusal::Unauthenticated) => {
            return Err((ApiError::Unauthorized("sign in first"), decision));
        }
        Err(Refusal::Forbidden) => {
            return Err((
                ApiError::Forbidden("your role may not call this endpoint"),
                decision,
            ));
        }
    }
    unknown_query_parameters(request).map_err(|e| (e, decision))?;
    Ok(decision)
}

/// A parameter the endpoint does not take is refused, never ignored: a client sending `offset` to a
/// cursor-paged list would otherwise get page one again and never know. What each endpoint takes is
/// what its OpenAPI document says.
fn unknown_query_parameters(request: &HttpRequest) -> Result<(), ApiError> {
    let declared = docs::query_parameters(request.method(), &request.resource).unwrap_or(&[]);
    let unknown: Vec<FieldError> = request
        .query_names()
        .into_iter()
        .filter(|name| !declared.iter().any(|d| d == name))
        .map(|name| {
            let known = if declared.is_empty() {
                "this endpoint takes no query parameters".to_owned()
            } else {
                format!(
                    "not a parameter of this endpoint (it takes {})",
                    declared.join(", ")
                )
            };
            FieldError::new(name, known)
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(unknown))
    }
}

pub async fn serve<F, Fut>(
    raw: lambda_http::Request,
    invocation: Invocation,
    state: &'static State,
    access: Access,
    handler: F,
) -> Response
where
    F: FnOnce(HttpRequest, &'static State) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let started = Instant::now();
    let mut request = HttpRequest::new(raw, invocation.request_id);
    let request_id = request.request_id.clone();
    let route = request.route();
    let caller = match request.caller {
        Some(Principal::User { id, .. }) => format!("user:{id}"),
        Some(Principal::ApiKey { id }) => format!("api-key:{id}"),
        None => "anonymous".to_owned(),
    };
    let origin = cors::allowed_origin(request.header("origin"), &state.config.cors_allowed_origins);

    let (result, decision) = match admit(&mut request, access, state).await {
        Ok(decision) => (handler(request, state).await, decision),
        Err((error, decision)) => (Err(error), decision),
    };
    let mut response = result.unwrap_or_else(|e| e.into_response(&request_id));
    let status = response.status().as_u16();
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry("cache-control")
        .or_insert(HeaderValue::from_static("no-store"));
    set(headers, "x-request-id", &request_id);
    if let Some(decision) = &decision {
        rate_limit_headers(headers, decision);
    }
    if let Some(origin) = origin {
        cors::allow(headers, &origin);
    }
    tracing::info!(
        request_id,
        caller,
        route,
        status,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

//! The REST API on 127.0.0.1:$ORDERLY_API_PORT: routes from template.yaml's `Api` events, the API Gateway
//! proxy event (payload v1) built as AWS builds it, and API Gateway's own answers where it would answer
//! without calling a function (unknown route 403, oversized body 413, crash 502, timeout 504).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::Gateway;
use crate::authorize::{self, Verdict};
use crate::invoke::{InvokeError, new_request_id, outcome_name};
use crate::paths::{CanonicalPath, canonical};
use crate::template::RestRoute;

/// API Gateway's payload limit.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Finds the route for a request. Like API Gateway, a literal segment wins over `{param}`, and
/// `{name+}` matches the rest of the path.
/// `path` is the request's canonical path (see `paths`), the same one the method ARN is built from.
pub fn match_route<'a>(
    routes: &'a [RestRoute],
    method: &str,
    path: &CanonicalPath,
) -> Option<(&'a RestRoute, BTreeMap<String, String>)> {
    let segments: Vec<&str> = path.segments.iter().map(String::as_str).collect();
    let mut best: Option<(&RestRoute, BTreeMap<String, String>, usize)> = None;
    for route in routes
        .iter()
        .filter(|r| r.method == method || r.method == "ANY")
    {
        let pattern: Vec<&str> = route
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let mut params = BTreeMap::new();
        let mut literals = 0;
        let mut matched = true;
        for (i, part) in pattern.iter().enumerate() {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                if i >= segments.len() {
                    matched = false;
                } else {
                    params.insert(name.to_owned(), segments[i..].join("/"));
                }
                break;
            }
            match segments.get(i) {
                Some(segment) if part.starts_with('{') && part.ends_with('}') => {
                    params.insert(part[1..part.len() - 1].to_owned(), (*segment).to_owned());
                }
                Some(segment) if segment == part => literals += 1,
                _ => {
                    matched = false;
                    break;
                }
            }
        }
        let greedy = pattern.last().is_some_and(|p| p.ends_with("+}"));
        if matched
            && (greedy || pattern.len() == segments.len())
            && best.as_ref().is_none_or(|(_, _, l)| literals > *l)
        {
            best = Some((route, params, literals));
        }
    }
    best.map(|(route, params, _)| (route, params))
}

/// A response API Gateway itself gives: `{"message": …}` with its error-type header.
pub fn gateway_response(
    status: StatusCode,
    message: &str,
    error_type: &str,
    request_id: &str,
) -> Response {
    let mut response = Response::new(Body::from(json!({ "message": message }).to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_str(error_type).unwrap_or(HeaderValue::from_static("Unknown")),
    );
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("-")),
    );
    response
}

/// API Gateway's pair of maps for repeated keys: the last value of each, and all values in order.
pub fn single_and_multi(pairs: impl IntoIterator<Item = (String, String)>) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (key, value) in pairs {
        single.insert(key.clone(), json!(value));
        multi
            .entry(key)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(value));
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

pub fn headers_json(headers: &HeaderMap) -> (Value, Value) {
    single_and_multi(headers.iter().map(|(name, value)| {
        (
            name.to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    }))
}

pub fn query_json(query: Option<&str>) -> (Value, Value) {
    single_and_multi(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    )
}

pub struct ProxyRequest<'a> {
    pub route: &'a RestRoute,
    pub path_parameters: BTreeMap<String, String>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: String,
    pub request_id: &'a str,
    pub stage: &'a str,
}

/// The REST API proxy event, field for field as API Gateway sends it.
pub fn proxy_event(r: &ProxyRequest<'_>) -> Value {
    let (headers, multi_headers) = headers_json(r.headers);
    let (query, multi_query) = query_json(r.query);
    let (body, base64) = match (r.body.is_empty(), std::str::from_utf8(r.body)) {
        (true, _) => (Value::Null, false),
        (false, Ok(text)) => (json!(text), false),
        (false, Err(_)) => (json!(BASE64.encode(r.body)), true),
    };
    let now = Utc::now();
    let user_agent = r
        .headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    json!({
        "resource": r.route.path,
        "path": r.path,
        "httpMethod": r.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": if r.path_parameters.is_empty() { Value::Null } else { json!(r.path_parameters) },
        "stageVariables": null,
        "requestContext": {
            "accountId": crate::resolve::ACCOUNT_ID,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": r.route.path,
            "httpMethod": r.method,
            "path": format!("/{}{}", r.stage, r.path),
            "stage": r.stage,
            "protocol": "HTTP/1.1",
            "requestId": r.request_id,
            "extendedRequestId": r.request_id,
            "requestTime": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "requestTimeEpoch": now.timestamp_millis(),
            "domainName": r.headers.get("host").map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned()),
            "identity": { "sourceIp": r.source_ip, "userAgent": user_agent },
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// Turns a function's proxy response into HTTP; `None` when it is not a valid proxy response (API Gateway
/// answers 502 then).
pub fn http_response(value: &Value, request_id: &str) -> Option<Response> {
    let status =
        StatusCode::from_u16(u16::try_from(value.get("statusCode")?.as_u64()?).ok()?).ok()?;
    let body = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if value.get("isBase64Encoded") == Some(&json!(true)) => {
            BASE64.decode(text).ok()?
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return None,
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in value
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(name, value);
        }
    }
    for (name, values) in value
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let Ok(name) = HeaderName::try_from(name.as_str()) else {
            continue;
        };
        headers.remove(&name);
        for value in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(name.clone(), value);
            }
        }
    }
    headers.insert("x-amzn-requestid", HeaderValue::from_str(request_id).ok()?);
    Some(response)
}

pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    // API Gateway's answer when no route matches, shaped by the template's
    // `MISSING_AUTHENTICATION_TOKEN` gateway response as it would be in AWS.
    let no_such_resource = || {
        gateway.gateway_error(
            "MISSING_AUTHENTICATION_TOKEN",
            StatusCode::FORBIDDEN,
            serde_json::json!({"message": "Missing Authentication Token"}),
            &request_id,
        )
    };
    let canonical_path = match canonical(&path) {
        Ok(canonical_path) => canonical_path,
        Err(why) => {
            tracing::info!(request_id, method, path, %why, "path refused");
            return no_such_resource();
        }
    };
    let Some((route, path_parameters)) =
        match_route(&gateway.template.rest_routes, &method, &canonical_path)
    else {
        return no_such_resource();
    };
    let Ok(body) = to_bytes(body, MAX_BODY_BYTES).await else {
        return gateway_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Too Long",
            "RequestTooLongException",
            &request_id,
        );
    };
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next());
    let source_ip = match forwarded {
        Some(ip) if gateway.trust_forwarded_for => ip.trim().to_owned(),
        _ => peer.ip().to_string(),
    };
    let mut event = proxy_event(&ProxyRequest {
        route,
        path_parameters,
        method: &method,
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
        source_ip,
        request_id: &request_id,
        stage: &gateway.stage,
    });
    if let Some(authorizer) = &route.authorizer {
        let target = authorize::Target {
            method: &method,
            path: &canonical_path,
        };
        match authorize::authorize(
            &gateway,
            authorizer,
            &event,
            target,
            &parts.headers,
            &request_id,
        )
        .await
        {
            Verdict::Allowed(context) => event["requestContext"]["authorizer"] = context,
            Verdict::Refused(response) => {
                tracing::info!(
                    request_id,
                    method,
                    path,
                    status = response.status().as_u16(),
                    "refused by the authorizer"
                );
                return response;
            }
        }
    }
    let result = gateway
        .invoker
        .invoke(&route.function, event, &request_id)
        .await;
    gateway
        .invoker
        .record(&route.function, &request_id, outcome_name(&result), None);
    let response = match result {
        Ok(value) => http_response(&value, &request_id),
        // What API Gateway answers when Lambda refuses the invocation: its INTEGRATION_FAILURE
        // response (a 500 unless the template shapes it; ours says 503 and when to retry).
        Err(InvokeError::Throttled) => {
            return gateway.gateway_error(
                "INTEGRATION_FAILURE",
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal server error"}),
                &request_id,
            );
        }
        Err(InvokeError::TimedOut) => {
            return gateway_response(
                StatusCode::GATEWAY_TIMEOUT,
                "Endpoint request timed out",
                "IntegrationTimeout",
                &request_id,
            );
        }
        Err(_) => None,
    };
    let response = response.unwrap_or_else(|| {
        gateway_response(
            StatusCode::BAD_GATEWAY,
            "Internal server error",
            "InternalServerErrorException",
            &request_id,
        )
    });
    tracing::info!(request_id, method, path, status = response.status().as_u16(), function = %route.function, "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<RestRoute> {
        [
            ("GET", "/health"),
            ("GET", "/api/v1/products/{id}"),
            ("GET", "/api/v1/products/low-stock"),
            ("ANY", "/files/{path+}"),
        ]
        .into_iter()
        .map(|(m, p)| RestRoute {
            method: m.into(),
            path: p.into(),
            function: p.into(),
            authorizer: None,
        })
        .collect()
    }

    fn at(path: &str) -> CanonicalPath {
        canonical(path).unwrap()
    }

    #[test]
    fn matches_literals_params_and_greedy_paths() {
        let routes = routes();
        let (route, params) = match_route(&routes, "GET", &at("/api/v1/products/42")).unwrap();
        assert_eq!(
            (route.path.as_str(), params["id"].as_str()),
            ("/api/v1/products/{id}", "42")
        );
        let (route, params) =
            match_route(&routes, "GET", &at("/api/v1/products/low-stock")).unwrap();
        assert_eq!(
            route.path, "/api/v1/products/low-stock",
            "a literal beats a parameter"
        );
        assert!(params.is_empty());
        let (_, params) = match_route(&routes, "DELETE", &at("/files/a/b/c")).unwrap();
        assert_eq!(params["path"], "a/b/c");
    }

    #[test]
    fn unknown_paths_and_methods_do_not_match() {
        let routes = routes();
        assert!(match_route(&routes, "POST", &at("/health")).is_none());
        assert!(match_route(&routes, "GET", &at("/api/v1/products")).is_none());
        assert!(match_route(&routes, "GET", &at("/api/v1/products/1/extra")).is_none());
        assert!(match_route(&routes, "GET", &at("/files")).is_none());
    }

    #[test]
    fn a_trailing_slash_and_encoded_letters_reach_the_same_route() {
        let routes = routes();
        let (route, params) = match_route(&routes, "GET", &at("/api/v1/%70roducts/42/")).unwrap();
        assert_eq!(
            (route.path.as_str(), params["id"].as_str()),
            ("/api/v1/products/{id}", "42")
        );
    }

    #[test]
    fn builds_the_proxy_event_aws_sends() {
        let routes = routes();
        let mut headers = HeaderMap::new();
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        let event = proxy_event(&ProxyRequest {
            route: &routes[1],
            path_parameters: [("id".to_owned(), "42".to_owned())].into(),
            method: "GET",
            path: "/api/v1/products/42",
            query: Some("tag=a&tag=b&q=x%20y"),
            headers: &headers,
            body: &[0xff, 0x00],
            source_ip: "127.0.0.1".into(),
            request_id: "req-1",
            stage: "prod",
        });
        assert_eq!(event["resource"], "/api/v1/products/{id}");
        assert_eq!(event["pathParameters"], json!({"id": "42"}));
        assert_eq!(event["queryStringParameters"]["q"], "x y");
        assert_eq!(
            event["multiValueQueryStringParameters"]["tag"],
            json!(["a", "b"])
        );
        assert_eq!(event["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
        assert_eq!(event["requestContext"]["requestId"], "req-1");
        assert_eq!(event["requestContext"]["stage"], "prod");
        assert_eq!(
            (event["body"].as_str(), event["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
        // The event deserialises into the type functions use.
        let typed: aws_lambda_events::apigw::ApiGatewayProxyRequest =
            serde_json::from_value(event).unwrap();
        assert_eq!(typed.request_context.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn a_malformed_proxy_response_is_refused() {
        assert!(http_response(&json!({"statusCode": 200, "body": "ok"}), "r").is_some());
        assert!(http_response(&json!({"body": "no status"}), "r").is_none());
        assert!(
            http_response(
                &json!({"statusCode": 200, "body": {"not": "a string"}}),
                "r"
            )
            .is_none()
        );
        assert!(http_response(&json!({"statusCode": 99}), "r").is_none());
    }
}

#[cfg(test)]
mod failing_functions {
    //! What API Gateway answers when a function misbehaves, through the real request path.

    use std::sync::Mutex;

    use axum::body::to_bytes;
    use orderly_functions::{Config, Handler, State as FunctionState};

    use super::*;
    use crate::invoke::Invoker;
    use crate::template::Template;

    const TEMPLATE: &str = r#"
Resources:
  Boom:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bootstrap-api } }
    Properties: { Handler: boom, Events: { Get: { Type: Api, Properties: { Path: /boom, Method: GET } } } }
  Fine:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bootstrap-api } }
    Properties: { Handler: fine, Events: { Get: { Type: Api, Properties: { Path: /fine, Method: GET } } } }
  Hangs:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bootstrap-api } }
    Properties: { Handler: hangs, Timeout: 1, Events: { Get: { Type: Api, Properties: { Path: /hangs, Method: GET } } } }
  Garbled:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bootstrap-api } }
    Properties: { Handler: garbled, Events: { Get: { Type: Api, Properties: { Path: /garbled, Method: GET } } } }
  Single:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: bootstrap-api } }
    Properties: { Handler: gated, ReservedConcurrentExecutions: 1, Events: { Get: { Type: Api, Properties: { Path: /single, Method: GET } } } }
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      GatewayResponses:
        INTEGRATION_FAILURE:
          StatusCode: 503
          ResponseParameters: { Headers: { Retry-After: "'2'", X-From-Mapping: method.request.header.x } }
          ResponseTemplates: { application/json: '{"error":{"code":"SERVICE_UNAVAILABLE","request_id":"$context.requestId"}}' }
"#;

    /// Holds every `gated` invocation until the test opens it.
    static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

    fn handlers(name: &str) -> Option<Handler> {
        match name {
            "boom" => Some(|_, _, _| Box::pin(async { panic!("the handler blew up") })),
            "fine" => {
                Some(|_, _, _| Box::pin(async { Ok(json!({"statusCode": 200, "body": "fine"})) }))
            }
            "hangs" => Some(|_, _, _| Box::pin(futures::future::pending())),
            "garbled" => Some(|_, _, _| Box::pin(async { Ok(json!({"no": "status code"})) })),
            "gated" => Some(|_, _, _| {
                Box::pin(async {
                    GATE.acquire().await.unwrap().forget();
                    Ok(json!({"statusCode": 200, "body": "through"}))
                })
            }),
            _ => None,
        }
    }

    async fn gateway() -> Arc<Gateway> {
        let config = Config::from_lookup(|key| {
            Some(match key {
                // Never connected to: these functions do not touch the database.
                "DATABASE_URL" => "postgres://nobody@127.0.0.1:1/none".to_owned(),
                "ORDER_EVENTS_TOPIC_ARN" | "ARTIFACTS_BUCKET" | "WEBSOCKET_MANAGEMENT_ENDPOINT" => {
                    "unused".to_owned()
                }
                _ => return None,
            })
        })
        .unwrap();
        let state = FunctionState::new(config).await.unwrap().leak();
        let template = Template::parse(TEMPLATE).unwrap();
        let states = template
            .functions
            .keys()
            .map(|name| (name.clone(), state))
            .collect();
        let invoker = Invoker::new(states, template.functions.clone(), handlers);
        Arc::new(Gateway {
            template,
            resolver: Default::default(),
            invoker,
            stage: "prod".into(),
            region: "us-east-1".into(),
            ws_port: 0,
            sockets: Default::default(),
            push_fault: Mutex::new(None),
            redelivery_fault: Mutex::new(None),
            event_sources_off: tokio::sync::watch::Sender::new(Default::default()),
            policy_cache: Default::default(),
            trust_forwarded_for: false,
            function_variables: Default::default(),
        })
    }

    async fn get(gateway: &Arc<Gateway>, path: &str) -> (StatusCode, Value, HeaderMap) {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
        let response = handle(State(gateway.clone()), peer, request).await;
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            serde_json::from_slice(&bytes).unwrap_or(json!(String::from_utf8_lossy(&bytes))),
            parts.headers,
        )
    }

    #[tokio::test]
    async fn a_panic_is_a_502_with_a_request_id_and_the_gateway_keeps_serving() {
        let gateway = gateway().await;
        let (status, body, headers) = get(&gateway, "/boom").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(body, json!({"message": "Internal server error"}));
        let request_id = headers["x-amzn-requestid"].to_str().unwrap().to_owned();
        let history = gateway.invoker.history(Some("Boom"));
        assert_eq!(
            (history[0].outcome, history[0].request_id.as_str()),
            ("panicked", request_id.as_str())
        );

        let (status, body, _) = get(&gateway, "/fine").await;
        assert_eq!((status, body), (StatusCode::OK, json!("fine")));
    }

    #[tokio::test]
    async fn a_throttled_function_ends_what_it_runs_and_starts_nothing_until_lifted() {
        let gateway = gateway().await;
        let running = {
            let gateway = gateway.clone();
            tokio::spawn(async move { gateway.invoker.invoke("Hangs", json!({}), "r1").await })
        };
        while gateway.invoker.in_progress("Hangs") == 0 {
            tokio::task::yield_now().await;
        }
        assert!(gateway.invoker.throttle("Hangs", true));
        assert!(
            matches!(running.await.unwrap(), Err(InvokeError::Killed)),
            "ended by the throttle, not by its 1 s timeout"
        );
        assert!(
            gateway
                .invoker
                .invoke("Fine", json!({}), "r2")
                .await
                .is_ok()
        );
        assert!(gateway.invoker.throttle("Fine", true));
        assert!(matches!(
            gateway.invoker.invoke("Fine", json!({}), "r3").await,
            Err(InvokeError::Throttled)
        ));
        assert!(gateway.invoker.throttle("Fine", false));
        assert!(
            gateway
                .invoker
                .invoke("Fine", json!({}), "r4")
                .await
                .is_ok()
        );
        assert!(!gateway.invoker.throttle("Nobody", true));
    }

    #[tokio::test]
    async fn a_client_past_the_reserved_concurrency_gets_the_integration_failure_response() {
        let gateway = gateway().await;
        let held = {
            let gateway = gateway.clone();
            tokio::spawn(async move { get(&gateway, "/single").await })
        };
        while gateway.invoker.in_progress("Single") == 0 {
            tokio::task::yield_now().await;
        }
        // The one instance it may run is busy: refused at once, shaped by the template.
        let (status, body, headers) = get(&gateway, "/single").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(
            body["error"]["request_id"],
            headers["x-amzn-requestid"].to_str().unwrap()
        );
        assert_eq!(headers["retry-after"], "2");
        assert!(
            !headers.contains_key("x-from-mapping"),
            "a mapping expression has no local value and is left out"
        );
        assert_eq!(
            gateway.invoker.history(Some("Single"))[0].outcome,
            "throttled"
        );
        // A service's invocation is not refused (Lambda retries those; process mode queues it).
        let queued = {
            let gateway = gateway.clone();
            tokio::spawn(async move {
                gateway
                    .invoker
                    .invoke_as_service("Single", json!({}), "queued")
                    .await
            })
        };
        GATE.add_permits(2);
        assert_eq!(held.await.unwrap().0, StatusCode::OK);
        assert_eq!(queued.await.unwrap().unwrap()["body"], "through");
        GATE.add_permits(1);
        assert_eq!(get(&gateway, "/single").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_function_past_its_timeout_is_a_504() {
        let (status, body, _) = get(&gateway().await, "/hangs").await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body, json!({"message": "Endpoint request timed out"}));
    }

    #[tokio::test]
    async fn a_response_without_a_status_code_is_a_502() {
        let (status, body, _) = get(&gateway().await, "/garbled").await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_GATEWAY,
                json!({"message": "Internal server error"})
            )
        );
    }
}

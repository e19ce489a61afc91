//! One REST request as a plain `http` request (from `lambda_http`), parsed the strict way: ids, JSON
//! bodies, preconditions, pages and the caller the authorizer established. Each helper fails with the
//! one status that fits.

use aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use chrono::{DateTime, Utc};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use orderly_domain::access::Principal;
use orderly_domain::pagination::{Page, parse_page};
use orderly_domain::products::{Precondition, if_match};
use orderly_domain::users::Role;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{ApiError, FieldError};

/// The largest JSON body any endpoint accepts (API Gateway itself allows 10 MB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct HttpRequest {
    pub inner: lambda_http::Request,
    pub request_id: String,
    pub source_ip: String,
    /// The route's resource path (`/api/v1/products/{id}`).
    pub resource: String,
    /// `None` on public routes (no authorizer).
    pub caller: Option<Principal>,
    /// When the caller's access token expires (users only): what a credential derived from it, such as a
    /// WebSocket connect ticket, must not outlive.
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// The authorizer context's `access_expires_at` (epoch seconds; API Gateway may hand a context value over
/// as a number or as its text).
fn access_expiry_from(context: &ApiGatewayProxyRequestContext) -> Option<DateTime<Utc>> {
    let value = context.authorizer.fields.get("access_expires_at")?;
    let seconds = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))?;
    DateTime::from_timestamp(seconds, 0)
}

fn principal_from(context: &ApiGatewayProxyRequestContext) -> Option<Principal> {
    let fields = &context.authorizer.fields;
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    if let Some(id) = text("api_key_id").and_then(|s| s.parse().ok()) {
        return Some(Principal::ApiKey { id });
    }
    let id = text("user_id")?.parse().ok()?;
    let role = Role::parse(text("role")?)?;
    let session = text("session_id")?.parse().ok()?;
    Some(Principal::User { id, role, session })
}

impl HttpRequest {
    pub fn new(inner: lambda_http::Request, fallback_request_id: String) -> Self {
        let context = match inner.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => Some(context.clone()),
            _ => None,
        };
        let context = context.unwrap_or_default();
        Self {
            request_id: context.request_id.clone().unwrap_or(fallback_request_id),
            source_ip: context.identity.source_ip.clone().unwrap_or_default(),
            resource: context.resource_path.clone().unwrap_or_default(),
            caller: principal_from(&context),
            access_expires_at: access_expiry_from(&context),
            inner,
        }
    }

    pub fn method(&self) -> &str {
        self.inner.method().as_str()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.inner
            .query_string_parameters_ref()
            .and_then(|q| q.first(name))
            .filter(|v| !v.is_empty())
    }

    /// The names of the query parameters the client sent.
    pub fn query_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .inner
            .query_string_parameters_ref()
            .map(|q| q.iter().map(|(name, _)| name).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// `GET /api/v1/products/{id}`, for logs.
    pub fn route(&self) -> String {
        format!("{} {}", self.method(), self.resource)
    }

    /// A path parameter (the route guarantees it is there).
    pub fn path(&self, name: &str) -> Result<&str, ApiError> {
        self.inner
            .path_parameters_ref()
            .and_then(|p| p.first(name))
            .ok_or_else(|| ApiError::BadRequest(format!("missing path parameter {name}")))
    }

    /// A path parameter that must be a UUID: malformed is 400, not 404.
    pub fn path_id(&self, name: &str) -> Result<Uuid, ApiError> {
        let raw = self.path(name)?;
        raw.parse()
            .map_err(|_| ApiError::BadRequest(format!("`{raw}` is not a valid id")))
    }

    /// A query parameter that must be a UUID when present (422 with the field otherwise).
    pub fn query_id(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.query(name)
            .map(|raw| {
                raw.parse().map_err(|_| {
                    ApiError::Validation(vec![FieldError::new(name, "must be a UUID")])
                })
            })
            .transpose()
    }

    /// A query parameter that must be `true` or `false` when present (422 with the field otherwise).
    pub fn query_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.query(name)
            .map(|raw| match raw {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::Validation(vec![FieldError::new(
                    name,
                    "must be true or false",
                )])),
            })
            .transpose()
    }

    pub fn page(&self) -> Result<Page, ApiError> {
        parse_page(self.query("limit"), self.query("cursor")).map_err(ApiError::Validation)
    }

    fn body_bytes(&self) -> &[u8] {
        match self.inner.body() {
            Body::Text(text) => text.as_bytes(),
            Body::Binary(bytes) => bytes,
            _ => &[],
        }
    }

    pub fn body_len(&self) -> usize {
        self.body_bytes().len()
    }

    /// The body's bytes, once the checks every JSON body passes (type, size, not empty) are done: for an
    /// endpoint that reads its body in a faster way first (`json` stays the way to report errors).
    pub fn json_bytes(&self) -> Result<&[u8], ApiError> {
        if let Some(content_type) = self.header("content-type")
            && !content_type
                .to_ascii_lowercase()
                .starts_with("application/json")
        {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = self.body_bytes();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("a JSON body is required".into()));
        }
        if holds_nul(bytes) {
            return Err(ApiError::BadRequest(
                "text in the body may not contain the NUL character (\\u0000)".into(),
            ));
        }
        Ok(bytes)
    }

    /// The JSON body as `T`. Unparseable JSON is 400; a wrong or missing field is 422 naming the field;
    /// unknown fields are refused by the types (`deny_unknown_fields`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes = self.json_bytes()?;
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(value) => Ok(value),
            Err(e) if e.inner().is_syntax() || e.inner().is_eof() => Err(ApiError::BadRequest(
                format!("the body is not valid JSON: {}", e.inner()),
            )),
            Err(e) => {
                let field = match e.path().to_string() {
                    path if path == "." => "body".to_owned(),
                    path => path,
                };
                let message = e.inner().to_string();
                // serde's messages end with " at line 1 column 20"; the field says where.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                Err(ApiError::Validation(vec![FieldError::new(field, message)]))
            }
        }
    }

    /// The version `If-Match` names: 428 when absent, 400 when it is not one of our ETags.
    pub fn if_match(&self) -> Result<i64, ApiError> {
        match if_match(self.header("if-match")) {
            Precondition::Version(version) => Ok(version),
            Precondition::Missing => Err(ApiError::PreconditionRequired),
            Precondition::Malformed => Err(ApiError::BadRequest(
                "If-Match must be an ETag this API returned".into(),
            )),
        }
    }

    /// The calling user: 401 without one, 403 for an API key.
    pub fn user(&self) -> Result<(Uuid, Role), ApiError> {
        match self.caller {
            Some(Principal::User { id, role, .. }) => Ok((id, role)),
            Some(Principal::ApiKey { .. }) => Err(ApiError::Forbidden(
                "this endpoint is for users, not API keys",
            )),
            None => Err(ApiError::Unauthorized("sign in first")),
        }
    }

    /// The session of the calling user, when a user calls.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.caller {
            Some(Principal::User { session, .. }) => Some(session),
            _ => None,
        }
    }

    /// The calling admin: defence in depth behind the authorizer's policy.
    pub fn admin(&self) -> Result<Uuid, ApiError> {
        match self.user()? {
            (id, Role::Admin) => Ok(id),
            _ => Err(ApiError::Forbidden("admins only")),
        }
    }
}

/// Whether JSON text holds the escape `\u0000` in a string. Postgres's `text` cannot store NUL, so such a
/// body could only fail later, in the database, as a 500 (Schemathesis found one in a login's email).
/// Backslashes appear only inside strings in JSON, each starting an escape of one character.
fn holds_nul(json: &[u8]) -> bool {
    let mut at = 0;
    while at < json.len() {
        if json[at] == b'\\' {
            if json[at + 1..].starts_with(b"u0000") {
                return true;
            }
            at += 2;
        } else {
            at += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn request(body: Option<&str>, context: serde_json::Value) -> HttpRequest {
        let event = json!({
            "httpMethod": "POST", "path": "/x/not-a-uuid", "resource": "/x/{id}", "headers": {"content-type": "application/json"},
            "pathParameters": {"id": "not-a-uuid"}, "body": body, "isBase64Encoded": false,
            "requestContext": {"requestId": "req-1", "httpMethod": "POST", "resourcePath": "/x/{id}", "identity": {"sourceIp": "198.51.100.9"}, "authorizer": context},
        });
        let inner = lambda_http::request::from_str(&event.to_string()).unwrap();
        HttpRequest::new(inner, "fallback".into())
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        count: i32,
    }

    #[test]
    fn bodies_are_parsed_strictly_with_the_right_status() {
        let ok = request(Some(r#"{"name":"a","count":1}"#), json!({}));
        assert_eq!(ok.json::<Input>().unwrap().count, 1);
        let cases = [
            (Some("{not json"), 400),
            (None, 400),
            (Some(r#"{"name":"a","count":"x"}"#), 422),
            (Some(r#"{"name":"a"}"#), 422),
            (Some(r#"{"name":"a","count":1,"extra":true}"#), 422),
        ];
        for (body, status) in cases {
            assert_eq!(
                request(body, json!({}))
                    .json::<Input>()
                    .unwrap_err()
                    .status(),
                status,
                "{body:?}"
            );
        }
        match request(Some(r#"{"name":"a","count":"x"}"#), json!({}))
            .json::<Input>()
            .unwrap_err()
        {
            ApiError::Validation(fields) => assert_eq!(fields[0].field, "count"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_access_token_expiry_comes_from_the_context_as_number_or_text() {
        let at = DateTime::from_timestamp(1_900_000_000, 0);
        let number = request(None, json!({"access_expires_at": 1_900_000_000}));
        let text = request(None, json!({"access_expires_at": "1900000000"}));
        assert_eq!((number.access_expires_at, text.access_expires_at), (at, at));
        for absent in [json!({}), json!({"access_expires_at": ""})] {
            assert_eq!(request(None, absent).access_expires_at, None);
        }
    }

    #[test]
    fn malformed_ids_are_400() {
        assert_eq!(
            request(None, json!({})).path_id("id").unwrap_err().status(),
            400
        );
    }

    #[test]
    fn the_caller_comes_from_the_authorizer_context() {
        let id = Uuid::now_v7();
        let session = Uuid::now_v7();
        let user = request(
            None,
            json!({"user_id": id.to_string(), "role": "admin", "session_id": session.to_string()}),
        );
        assert_eq!(
            user.caller,
            Some(Principal::User {
                id,
                role: Role::Admin,
                session
            })
        );
        assert_eq!(user.session_id(), Some(session));
        assert_eq!(user.admin().unwrap(), id);
        let key = request(None, json!({"api_key_id": id.to_string()}));
        assert_eq!(key.user().unwrap_err().status(), 403);
        let anonymous = request(None, json!({}));
        assert_eq!(anonymous.user().unwrap_err().status(), 401);
        let customer = request(
            None,
            json!({"user_id": id.to_string(), "role": "customer", "session_id": session.to_string()}),
        );
        assert_eq!(customer.admin().unwrap_err().status(), 403);
        assert_eq!(
            (
                user.request_id.as_str(),
                user.source_ip.as_str(),
                user.route().as_str()
            ),
            ("req-1", "198.51.100.9", "POST /x/{id}")
        );
    }

    #[test]
    fn a_nul_escape_in_a_string_is_found_and_an_escaped_backslash_before_u0000_is_not_one() {
        assert!(holds_nul(br#"{"email":"a\u0000b"}"#));
        assert!(holds_nul(br#"["\\\u0000"]"#));
        assert!(!holds_nul(br#"{"email":"a\\u0000b"}"#));
        assert!(!holds_nul(br#"{"note":"u0000 \u0001 \\"}"#));
        assert!(!holds_nul(br#"["ends with a backslash \"#));
    }
}

//! The OpenAPI 3.1 document, generated from the handlers' annotations, and the Swagger UI that renders
//! it, served from files compiled into the binary (no CDN).

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use aws_lambda_events::encodings::Body;
use http::HeaderValue;
use orderly_http::{ApiError, Response, json_response};
use std::sync::{Arc, LazyLock};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::State;

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey <key>` for service clients",
            ))),
        );
    }
}

/// The refusals every operation of a kind can meet, documented where its annotations do not already:
/// a request that cannot be read (a body that is not JSON, an id or a header in the wrong form) is 400,
/// a query parameter out of range 422, a path that names nothing 404 (the function's answer, or the
/// gateway's when no route matches), too many requests 429. Found missing by Schemathesis; the clients generated from the
/// document need every status they can see.
struct CommonRefusals;

impl Modify for CommonRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let refusal = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        // Where the parameters of a path item or an operation are (`in`: path, query, header).
        let places_of = |parameters: &Option<Vec<RefOr<Parameter>>>| -> Vec<ParameterIn> {
            parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    RefOr::T(p) => Some(p.parameter_in.clone()),
                    RefOr::Ref(_) => None,
                })
                .collect()
        };
        for item in openapi.paths.paths.values_mut() {
            let item_places = places_of(&item.parameters);
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let places = places_of(&operation.parameters);
                let has =
                    |place: ParameterIn| places.contains(&place) || item_places.contains(&place);
                let responses = &mut operation.responses.responses;
                if operation.request_body.is_some()
                    || has(ParameterIn::Path)
                    || has(ParameterIn::Header)
                {
                    responses.entry("400".into()).or_insert_with(|| {
                        refusal("the request cannot be read: a body that is not JSON, an id or a header in the wrong form")
                    });
                }
                if has(ParameterIn::Query) || operation.request_body.is_some() {
                    responses.entry("422".into()).or_insert_with(|| {
                        refusal("a field or query parameter is invalid, out of range or not one this API returned; `details` names each")
                    });
                }
                if has(ParameterIn::Path) {
                    responses
                        .entry("404".into())
                        .or_insert_with(|| refusal("no such resource"));
                }
                // Every request passes a rate limit (per caller, or per address where it has none).
                responses.entry("429".into()).or_insert_with(|| {
                    refusal(
                        "too many requests from this caller; `Retry-After` says when to try again",
                    )
                });
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Orderly", description = "Serverless order processing. Errors are `{\"error\":{\"code\",\"message\",\"details\",\"request_id\"}}`; lists are paged with `limit` and an opaque `cursor`; money is integer minor units."),
    paths(
        super::health::handle,
        super::users::register::handle,
        super::users::me::handle,
        super::users::get::handle,
        super::users::update::handle,
        super::auth::login::handle,
        super::auth::refresh::handle,
        super::auth::logout::handle,
        super::ws_tickets::create::handle,
        super::api_keys::create::handle,
        super::api_keys::list::handle,
        super::api_keys::revoke::handle,
        super::merchants::create::handle,
        super::merchants::list::handle,
        super::merchants::update::handle,
        super::products::list::handle,
        super::products::get::handle,
        super::products::create::handle,
        super::products::update::handle,
        super::products::delete::handle,
        super::inventory::get::handle,
        super::inventory::update::handle,
        super::inventory::low_stock::handle,
        super::audit::list::handle,
        super::orders::place::handle,
        super::orders::list::handle,
        super::orders::get::handle,
        super::orders::status::handle,
        super::orders::cancel::handle,
        super::orders::admin_list::handle,
        super::orders::admin_status::handle,
        super::notifications::list::handle,
        super::notifications::read::handle,
        super::notifications::read_all::handle,
        super::notifications::send::handle,
        super::groups::create::handle,
        super::groups::list::handle,
        super::groups::members_add::handle,
        super::groups::members_remove::handle,
        super::groups::members_list::handle,
        super::groups::broadcast::handle,
        super::reports::daily::handle,
        super::events::ingest::handle,
        super::metrics::report::handle,
        super::analytics::daily::handle,
        super::archives::list::handle,
        super::archives::restore::handle,
        super::jobs::create_settlement::handle,
        super::jobs::create_report_export::handle,
        super::jobs::get::handle,
        super::jobs::list::handle,
        super::jobs::cancel::handle,
        super::jobs::download::handle,
    ),
    components(schemas(orderly_http::ErrorBody)),
    modifiers(&Credentials, &CommonRefusals),
)]
struct Document;

/// The document as generated from the code, kept in the repository (`functions/openapi.json`) so that an
/// instance does not build it on its first request and the binary does not carry the code that builds
/// it. A test fails when the file and the code disagree, and says how to write it again. Served minified
/// (build.rs): the response is smaller and a cold instance escapes less of it into JSON.
static DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// The query parameters the document declares for each operation: (method, resource path, names),
/// written by build.rs from the document, so that no REST function parses the document to check them.
static QUERY_PARAMETERS: &[(&str, &str, &[&str])] =
    include!(concat!(env!("OUT_DIR"), "/query_parameters.rs"));

/// The query parameters `method resource` accepts, as documented; `None` for an undocumented operation.
pub fn query_parameters(method: &str, resource: &str) -> Option<&'static [&'static str]> {
    QUERY_PARAMETERS
        .iter()
        .find(|(m, path, _)| *m == method && *path == resource)
        .map(|(_, _, names)| *names)
}

/// The document, for tests and tools.
pub fn document() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// `GET /openapi.json`.
pub async fn openapi(_: ApiGatewayProxyRequest, _: &'static State) -> Result<Response, ApiError> {
    let mut response = json_response(200, &());
    *response.body_mut() = Body::Text(DOCUMENT.to_owned());
    Ok(response)
}

static UI_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    // Relative, so it also resolves under a stage prefix (`/prod/docs/index.html` → `/prod/openapi.json`).
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("../openapi.json")));

/// `GET /docs` and `GET /docs/{file+}`: Swagger UI.
pub async fn page(
    request: ApiGatewayProxyRequest,
    _: &'static State,
) -> Result<Response, ApiError> {
    let Some(file) = request.path_parameters.get("file").map(String::as_str) else {
        // The UI's assets are relative to its page, so it must live under /docs/.
        let mut response = orderly_http::empty_response(302);
        response
            .headers_mut()
            .insert("location", HeaderValue::from_static("docs/index.html"));
        return Ok(response);
    };
    let found = utoipa_swagger_ui::serve(file, UI_CONFIG.clone()).map_err(ApiError::internal)?;
    let Some(found) = found else {
        return Err(ApiError::NotFound);
    };
    let bytes = if found.gzpipped {
        // Stored compressed to keep the artifact small; inflated here, since API Gateway's proxy
        // integration would need binary media types to pass a gzip body through.
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(found.bytes.as_ref()),
            &mut inflated,
        )
        .map_err(ApiError::internal)?;
        inflated
    } else {
        found.bytes.into_owned()
    };
    let mut response = json_response(200, &());
    let text = found.content_type.starts_with("text/")
        || found.content_type.contains("javascript")
        || found.content_type.contains("json");
    *response.body_mut() = if text {
        Body::Text(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        Body::Binary(bytes)
    };
    if let Ok(content_type) = HeaderValue::from_str(&found.content_type) {
        response.headers_mut().insert("content-type", content_type);
    }
    // The UI needs its own scripts and styles; everything else stays locked down.
    response.headers_mut().insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    /// `functions/openapi.json` is what the code generates; `ORDERLY_WRITE_OPENAPI=1 cargo test -p
    /// orderly-functions committed_document` writes it again after a change to the API.
    #[test]
    fn committed_document_is_what_the_code_generates() {
        use utoipa::OpenApi;
        let generated = super::Document::openapi()
            .to_pretty_json()
            .expect("the document serialises")
            + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        if std::env::var_os("ORDERLY_WRITE_OPENAPI").is_some() {
            std::fs::write(path, &generated).expect("functions/openapi.json written");
        }
        let committed = std::fs::read_to_string(path).expect("functions/openapi.json is readable");
        assert!(
            committed == generated,
            "functions/openapi.json is not what the code generates: run \
             ORDERLY_WRITE_OPENAPI=1 cargo test -p orderly-functions committed_document"
        );
    }

    /// What build.rs derives from the committed document: the served copy and the query parameters.
    #[test]
    fn the_served_document_and_the_query_parameters_are_the_committed_ones() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let served: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(served, committed);
        assert!(!super::DOCUMENT.contains('\n'), "served minified");

        let mut operations = 0;
        for (path, item) in committed["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let declared: Vec<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                let method = method.to_uppercase();
                assert_eq!(
                    super::query_parameters(&method, path),
                    Some(declared.as_slice()),
                    "{method} {path}"
                );
                operations += 1;
            }
        }
        assert_eq!(operations, super::QUERY_PARAMETERS.len());
        assert!(
            super::query_parameters("GET", "/api/v1/products")
                .is_some_and(|names| names.contains(&"limit"))
        );
        assert_eq!(super::query_parameters("GET", "/nowhere"), None);
    }

    /// The refusals Schemathesis found undocumented stay documented, on every operation of their kind.
    #[test]
    fn every_operation_documents_the_refusals_of_its_kind() {
        let document = serde_json::to_value(super::document()).unwrap();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let documents = |status: &str| responses.contains_key(status);
                let has_parameter_in = |place: &str| {
                    operation["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["in"] == place)
                };
                let name = format!("{method} {path}");
                assert!(documents("429"), "{name}: 429");
                if has_parameter_in("path") {
                    assert!(documents("404") && documents("400"), "{name}: 404 and 400");
                }
                if has_parameter_in("query") || operation.get("requestBody").is_some() {
                    assert!(documents("422"), "{name}: 422");
                }
                if operation.get("requestBody").is_some() {
                    assert!(documents("400"), "{name}: 400");
                }
                checked += 1;
            }
        }
        assert!(checked > 40, "only {checked} operations");
    }
}

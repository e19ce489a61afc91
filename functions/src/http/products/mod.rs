pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use http::HeaderValue;
use orderly_domain::products::etag;
use orderly_http::Response;
use orderly_store::products::Product;

/// A product response carries its version as the ETag the next write must send in `If-Match`.
fn with_etag(mut response: Response, product: &Product) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(product.version)) {
        response.headers_mut().insert("etag", value);
    }
    response
}

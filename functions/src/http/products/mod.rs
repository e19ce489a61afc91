pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;
mod view;

use http::HeaderValue;
use orderly_domain::products::{Product, etag};
use orderly_http::Response;

use crate::http::json_response_of;
pub use view::ProductView;

/// A product response carries its version as the ETag the next write must send in `If-Match`.
fn with_etag(status: u16, product: Product) -> Response {
    let tag = etag(product.version);
    let mut response = json_response_of(status, &ProductView::from(product));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert("etag", value);
    }
    response
}

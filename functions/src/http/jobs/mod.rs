pub mod cancel;
pub mod create_report_export;
pub mod create_settlement;
pub mod download;
pub mod get;
pub mod list;
mod view;

use orderly_http::{HttpRequest, Response};
use serde_json::Value;
pub use view::JobView;

use crate::http::json_response_of;
use crate::services::jobs::JobRequest;

/// What every job request carries besides its body.
pub(crate) fn job_request(request: &HttpRequest) -> JobRequest<'_> {
    JobRequest {
        idempotency_key: request.header("idempotency-key"),
        render: JobView::accepted,
    }
}

/// `202` with the job, and its address in `Location`.
pub(crate) fn accepted((status, body): (u16, Value)) -> Response {
    let mut response = json_response_of(status, &body);
    if let Some(id) = body["job_id"].as_str()
        && let Ok(location) = format!("/api/v1/jobs/{id}").parse()
    {
        response.headers_mut().insert("location", location);
    }
    response
}

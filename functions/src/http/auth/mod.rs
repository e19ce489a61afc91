pub mod login;
pub mod logout;
pub mod refresh;

use serde::Deserialize;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenBody {
    pub refresh_token: String,
}

crate::redact::redacting_debug!(RefreshTokenBody {} secret { refresh_token });

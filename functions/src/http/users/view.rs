use chrono::{DateTime, Utc};
use orderly_domain::users::{Role, User};
use serde::Serialize;
use uuid::Uuid;

/// A user's profile as the API shows it (never the password hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

//! Users and roles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::{FieldError, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Emails are stored trimmed and lower-cased, so uniqueness ignores case.
pub fn normalise_email(raw: &str) -> Result<String, FieldError> {
    let email = raw.trim().to_lowercase();
    let error = || FieldError::new("email", "must be an email address like name@example.com");
    let (local, domain) = email.split_once('@').ok_or_else(error)?;
    let valid = !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    if valid { Ok(email) } else { Err(error()) }
}

pub fn check_password(password: &str) -> Result<(), FieldError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            format!("must have at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

pub fn check_name(raw: &str) -> Result<String, FieldError> {
    text("name", raw, 1, 200)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@.com",
            "a da@example.com",
            "a@b@c.com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(check_password("correct horse").is_ok());
        assert_eq!(check_password("short").unwrap_err().field, "password");
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Customer, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}

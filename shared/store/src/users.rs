use deadpool_postgres::GenericClient;
use orderly_domain::users::Role;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::StoreError;
use orderly_domain::users::User;

const COLUMNS: &str = "id, email, name, role, version, created_at, updated_at";

fn user(row: &Row) -> User {
    User {
        id: row.get("id"),
        email: row.get("email"),
        name: row.get("name"),
        role: Role::parse(row.get("role")).expect("the CHECK constraint allows known roles only"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub name: &'a str,
    pub role: Role,
}

/// `None` when the email is taken.
pub async fn insert(
    db: &impl GenericClient,
    new: &NewUser<'_>,
) -> Result<Option<User>, StoreError> {
    let result = db
        .query_one(
            &format!(
                "INSERT INTO users (id, email, password_hash, name, role) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
            ),
            &[&new.id, &new.email, &new.password_hash, &new.name, &new.role.as_str()],
        )
        .await;
    match result {
        Ok(row) => Ok(Some(user(&row))),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<User>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(user))
}

/// The user and their password hash, for login.
pub async fn find_credentials(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<(User, String)>, StoreError> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"),
            &[&email],
        )
        .await?;
    Ok(row.map(|r| (user(&r), r.get("password_hash"))))
}

pub struct UserChanges<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub role: Option<Role>,
    pub password_hash: Option<&'a str>,
}

pub enum Updated {
    Done(User),
    NotFound,
    EmailTaken,
}

pub async fn update(
    db: &impl GenericClient,
    id: Uuid,
    changes: &UserChanges<'_>,
) -> Result<Updated, StoreError> {
    let result = db
        .query_opt(
            &format!(
                "UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), role = coalesce($4, role),
                        password_hash = coalesce($5, password_hash), version = version + 1, updated_at = now()
                  WHERE id = $1 RETURNING {COLUMNS}"
            ),
            &[&id, &changes.name, &changes.email, &changes.role.map(Role::as_str), &changes.password_hash],
        )
        .await;
    match result {
        Ok(Some(row)) => Ok(Updated::Done(user(&row))),
        Ok(None) => Ok(Updated::NotFound),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(Updated::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

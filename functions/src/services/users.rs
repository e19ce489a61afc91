//! Profiles: a user sees and edits their own; an admin sees and edits anyone's and alone changes roles.

use orderly_domain::users::{Role, check_name, check_password, normalise_email};
use orderly_domain::validation::{FieldError, Problems};

use orderly_domain::users::User;
use orderly_store::sessions;
use orderly_store::users::{self, Updated, UserChanges};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, Change};
use super::{Caller, ServiceError, passwords, rate_limits};
use crate::State;
use crate::redact::redacting_debug;

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Required to change one's own email or password.
    pub current_password: Option<String>,
    pub role: Option<Role>,
}

redacting_debug!(ProfileChanges { name, email, role } secret { password, current_password });

/// Another user's profile is "not found" to a non-admin: its existence is nobody else's business.
fn visible(caller: (Uuid, Role), target: Uuid) -> Result<(), ServiceError> {
    if caller.0 == target || caller.1 == Role::Admin {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

pub async fn get(state: &State, caller: &Caller, id: Uuid) -> Result<User, ServiceError> {
    visible(caller.user()?, id)?;
    users::find(&state.db.get().await?, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

fn view(user: &User) -> serde_json::Value {
    json!({"email": user.email, "name": user.name, "role": user.role})
}

pub async fn update(
    state: &State,
    caller: &Caller,
    id: Uuid,
    input: ProfileChanges,
) -> Result<User, ServiceError> {
    let (caller_id, caller_role) = caller.user()?;
    visible((caller_id, caller_role), id)?;
    let own = caller_id == id;
    if input.role.is_some() && caller_role != Role::Admin {
        return Err(ServiceError::Forbidden("only an admin may change a role"));
    }
    if input.role.is_some() && own {
        return Err(ServiceError::conflict(
            "OWN_ROLE",
            "an admin cannot change their own role; ask another admin",
        ));
    }
    if input.password.is_some() && !own {
        return Err(ServiceError::Forbidden(
            "only the user may change their password",
        ));
    }

    let mut problems = Problems::default();
    let name = input
        .name
        .as_deref()
        .and_then(|n| problems.check(check_name(n)));
    let email = input
        .email
        .as_deref()
        .and_then(|e| problems.check(normalise_email(e)));
    if let Some(password) = &input.password {
        problems.check(check_password(password));
    }
    // Whoever holds a stolen access token must not take the account over: changing the sign-in email or the
    // password needs the password itself.
    let needs_current = own && (input.password.is_some() || input.email.is_some());
    if needs_current && input.current_password.is_none() {
        problems.add(
            "current_password",
            "is required to change the email or the password",
        );
    }
    if input.name.is_none()
        && input.email.is_none()
        && input.password.is_none()
        && input.role.is_none()
    {
        problems.add("body", "give at least one of name, email, password, role");
    }
    problems.into_result(|| ()).map_err(ServiceError::Invalid)?;

    let mut client = state.db.get().await?;
    let before = users::find(&client, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if let (true, Some(current)) = (needs_current, input.current_password) {
        // As many guesses as login allows for this email, from the same budget.
        rate_limits::for_password_check(state, &before.email).await?;
        let stored = users::find_credentials(&client, &before.email)
            .await?
            .map(|(_, hash)| hash);
        if !passwords::verify(current, stored).await {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "current_password",
                "does not match",
            )]));
        }
    }
    let password_hash = match &input.password {
        Some(password) => Some(
            passwords::hash(password.clone())
                .await
                .map_err(ServiceError::internal)?,
        ),
        None => None,
    };

    let tx = client.transaction().await?;
    let changes = UserChanges {
        name: name.as_deref(),
        email: email.as_deref(),
        role: input.role,
        password_hash: password_hash.as_deref(),
    };
    let after = match users::update(&tx, id, &changes).await? {
        Updated::Done(user) => user,
        Updated::NotFound => return Err(ServiceError::NotFound),
        Updated::EmailTaken => {
            return Err(ServiceError::conflict(
                "EMAIL_TAKEN",
                "an account with this email exists",
            ));
        }
    };
    // A new password ends every other session: whoever knew the old one is signed out everywhere else.
    let ended_sessions = match password_hash {
        Some(_) => {
            sessions::revoke_all_of_user(&tx, id, caller.session_id(), "password_changed").await?
        }
        None => Vec::new(),
    };
    let action = match () {
        _ if input.role.is_some_and(|r| r != before.role) => Some("user.role_changed"),
        _ if password_hash.is_some() => Some("user.password_changed"),
        _ if !own => Some("user.updated"),
        _ => None,
    };
    if let Some(action) = action {
        let mut after = view(&after);
        if !ended_sessions.is_empty() {
            after["ended_sessions"] = json!(ended_sessions);
        }
        let change = Change {
            action,
            target_type: "user",
            target_id: Some(id.to_string()),
            before: Some(view(&before)),
            after: Some(after),
        };
        audit::record(&tx, &Actor::of(caller), change).await?;
    }
    tx.commit().await?;
    Ok(after)
}

//! Who is calling a service, as typed input: the principal the authorizer established (and the front
//! door rechecked), and where the request came from (for audit rows and per-address limits).

use orderly_domain::access::Principal;
use orderly_domain::users::Role;
use uuid::Uuid;

use super::ServiceError;

#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// `None` on public routes.
    pub principal: Option<Principal>,
    pub request_id: String,
    pub source_ip: String,
}

impl Caller {
    /// The calling user: 401 without one, 403 for an API key.
    pub fn user(&self) -> Result<(Uuid, Role), ServiceError> {
        match self.principal {
            Some(Principal::User { id, role, .. }) => Ok((id, role)),
            Some(Principal::ApiKey { .. }) => Err(ServiceError::Forbidden(
                "this endpoint is for users, not API keys",
            )),
            None => Err(ServiceError::Unauthorized("sign in first")),
        }
    }

    /// The calling admin (the front door checked already; this is defence in depth).
    pub fn admin(&self) -> Result<Uuid, ServiceError> {
        match self.user()? {
            (id, Role::Admin) => Ok(id),
            _ => Err(ServiceError::Forbidden("admins only")),
        }
    }

    /// The session of the calling user, when a user calls.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.principal {
            Some(Principal::User { session, .. }) => Some(session),
            _ => None,
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match self.principal {
            Some(Principal::User { id, .. }) => Some(id),
            _ => None,
        }
    }

    pub fn api_key_id(&self) -> Option<Uuid> {
        match self.principal {
            Some(Principal::ApiKey { id }) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(principal: Option<Principal>) -> Caller {
        Caller {
            principal,
            request_id: "r".into(),
            source_ip: "198.51.100.1".into(),
        }
    }

    #[test]
    fn users_admins_keys_and_nobody_are_told_apart() {
        let (id, session) = (Uuid::now_v7(), Uuid::now_v7());
        let admin = caller(Some(Principal::User {
            id,
            role: Role::Admin,
            session,
        }));
        assert_eq!(admin.admin().unwrap(), id);
        assert_eq!(admin.session_id(), Some(session));
        let customer = caller(Some(Principal::User {
            id,
            role: Role::Customer,
            session,
        }));
        assert!(matches!(customer.admin(), Err(ServiceError::Forbidden(_))));
        let key = caller(Some(Principal::ApiKey { id }));
        assert!(matches!(key.user(), Err(ServiceError::Forbidden(_))));
        assert_eq!(key.api_key_id(), Some(id));
        assert!(matches!(
            caller(None).user(),
            Err(ServiceError::Unauthorized(_))
        ));
    }
}

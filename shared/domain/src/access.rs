//! Who may call what. The authorizer turns these rules into the IAM policy API Gateway enforces (and caches
//! per token), so a customer's token is refused on admin routes before any function runs.

use crate::users::Role;

/// Admin-only routes as (method, resource path pattern); `*` matches any characters, `/` included,
/// exactly as in an IAM resource ARN.
pub const ADMIN_ONLY: &[(&str, &str)] = &[
    ("*", "/api/v1/admin/*"),
    ("POST", "/api/v1/products"),
    ("PUT", "/api/v1/products/*"),
    ("DELETE", "/api/v1/products/*"),
    ("*", "/api/v1/jobs"),
    ("*", "/api/v1/jobs/*"),
    ("*", "/api/v1/downloads/*"),
];

/// Who is calling, as the authorizer established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user: the session is the sign-in the access token belongs to.
    User {
        id: uuid::Uuid,
        role: Role,
        session: uuid::Uuid,
    },
    ApiKey {
        id: uuid::Uuid,
    },
}

/// Who may call a REST function. The function's own front door enforces it, whatever the authorizer
/// decided: the authorizer's policy is cached per credential and matched against a path, and a mistake in
/// either must not open a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (the route has no authorizer).
    Public,
    /// Any signed-in user or API key.
    Authenticated,
    /// Admins only.
    Admin,
}

/// Why the front door turned a caller away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credentials.
    Unauthenticated,
    /// 403: credentials, but not enough.
    Forbidden,
}

impl Access {
    pub fn admits(self, caller: Option<&Principal>) -> Result<(), Refusal> {
        match (self, caller) {
            (Access::Public, _) => Ok(()),
            (_, None) => Err(Refusal::Unauthenticated),
            (Access::Authenticated, Some(_)) => Ok(()),
            (Access::Admin, Some(principal)) if principal.is_admin() => Ok(()),
            (Access::Admin, Some(_)) => Err(Refusal::Forbidden),
        }
    }
}

/// Whether the authorizer's policy keeps non-admins off `method path` (a template route, `{id}` and all).
pub fn is_admin_only(method: &str, path: &str) -> bool {
    ADMIN_ONLY
        .iter()
        .any(|(m, p)| glob_match(m, method) && glob_match(p, path))
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Principal::User {
                role: Role::Admin,
                ..
            }
        )
    }
}

/// `(effect, method, path)` statements for a principal: admins may call everything; everybody else
/// everything but the admin routes.
pub fn policy(principal: &Principal) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut statements = vec![("Allow", "*", "/*")];
    if !principal.is_admin() {
        statements.extend(
            ADMIN_ONLY
                .iter()
                .map(|(method, path)| ("Deny", *method, *path)),
        );
    }
    statements
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(principal: &Principal, method: &str, path: &str) -> bool {
        let statements = policy(principal);
        let matches = |m: &str, p: &str| glob_match(m, method) && glob_match(p, path);
        let denied = statements
            .iter()
            .any(|(e, m, p)| *e == "Deny" && matches(m, p));
        let allowed = statements
            .iter()
            .any(|(e, m, p)| *e == "Allow" && matches(m, p));
        allowed && !denied
    }

    #[test]
    fn customers_and_keys_are_kept_off_admin_routes() {
        let customer = Principal::User {
            id: uuid::Uuid::now_v7(),
            role: Role::Customer,
            session: uuid::Uuid::now_v7(),
        };
        let key = Principal::ApiKey {
            id: uuid::Uuid::now_v7(),
        };
        for principal in [customer, key] {
            assert!(allowed(&principal, "GET", "/api/v1/me"));
            assert!(allowed(&principal, "GET", "/api/v1/products/1"));
            assert!(!allowed(&principal, "GET", "/api/v1/admin/audit-logs"));
            assert!(!allowed(&principal, "POST", "/api/v1/products"));
            assert!(!allowed(&principal, "PUT", "/api/v1/products/1/inventory"));
            assert!(!allowed(&principal, "DELETE", "/api/v1/products/1"));
        }
    }

    #[test]
    fn admins_may_call_everything() {
        let admin = Principal::User {
            id: uuid::Uuid::now_v7(),
            role: Role::Admin,
            session: uuid::Uuid::now_v7(),
        };
        assert!(allowed(&admin, "DELETE", "/api/v1/admin/api-keys/1"));
        assert!(allowed(&admin, "POST", "/api/v1/products"));
    }

    #[test]
    fn the_front_door_admits_by_access_level() {
        let user = |role| Principal::User {
            id: uuid::Uuid::now_v7(),
            role,
            session: uuid::Uuid::now_v7(),
        };
        let (customer, admin) = (user(Role::Customer), user(Role::Admin));
        let key = Principal::ApiKey {
            id: uuid::Uuid::now_v7(),
        };
        assert_eq!(Access::Public.admits(None), Ok(()));
        assert_eq!(
            Access::Authenticated.admits(None),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(Access::Authenticated.admits(Some(&key)), Ok(()));
        assert_eq!(Access::Admin.admits(None), Err(Refusal::Unauthenticated));
        assert_eq!(
            Access::Admin.admits(Some(&customer)),
            Err(Refusal::Forbidden)
        );
        assert_eq!(Access::Admin.admits(Some(&key)), Err(Refusal::Forbidden));
        assert_eq!(Access::Admin.admits(Some(&admin)), Ok(()));
    }

    #[test]
    fn admin_only_routes_are_read_off_the_template_paths() {
        assert!(is_admin_only("GET", "/api/v1/admin/audit-logs"));
        assert!(is_admin_only("PUT", "/api/v1/products/{id}/inventory"));
        assert!(!is_admin_only("GET", "/api/v1/products/{id}/inventory"));
        assert!(!is_admin_only("GET", "/api/v1/me"));
    }

    #[test]
    fn glob_follows_iam() {
        assert!(glob_match("arn:*/GET/*", "arn:x:y/prod/GET/a/b"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("/api/v1/products", "/api/v1/products/1"));
    }
}

//! `Debug` for types that hold a secret (a password, a token, a key): the secret fields print as
//! `[redacted]`, so a `{:?}` in a log line or a panic message cannot leak them.

/// `redacting_debug!(Type { shown, … } secret { hidden, … })`
macro_rules! redacting_debug {
    ($type:ident { $($field:ident),* } secret { $($secret:ident),* }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &"[redacted]"))*
                    .finish()
            }
        }
    };
}
pub(crate) use redacting_debug;

#[cfg(test)]
mod tests {
    use crate::http::api_keys::CreatedKeyView;
    use crate::http::auth::RefreshTokenBody;
    use crate::http::ws_tickets::create::ConnectTicket;
    use crate::services::api_keys::CreatedKey;
    use crate::services::identity::{Credentials, Registration, TokenPair};
    use crate::services::users::ProfileChanges;

    const SECRET: &str = "s3cr3t-value";

    #[test]
    fn no_secret_shows_in_debug_output() {
        let key = orderly_domain::api_keys::ApiKey {
            id: uuid::Uuid::now_v7(),
            name: "n".into(),
            prefix: "p".into(),
            merchant_id: None,
            created_by: None,
            created_at: chrono::Utc::now(),
            last_used_at: None,
        };
        let shown = [
            format!(
                "{:?}",
                Credentials {
                    email: "a@b.c".into(),
                    password: SECRET.into()
                }
            ),
            format!(
                "{:?}",
                Registration {
                    email: "a@b.c".into(),
                    password: SECRET.into(),
                    name: "A".into()
                }
            ),
            format!(
                "{:?}",
                TokenPair {
                    access_token: SECRET.into(),
                    token_type: "Bearer",
                    expires_in: 900,
                    refresh_token: SECRET.into()
                }
            ),
            format!(
                "{:?}",
                ProfileChanges {
                    password: Some(SECRET.into()),
                    current_password: Some(SECRET.into()),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                RefreshTokenBody {
                    refresh_token: SECRET.into()
                }
            ),
            format!(
                "{:?}",
                ConnectTicket {
                    ticket: SECRET.into(),
                    expires_in: 30
                }
            ),
            format!(
                "{:?}",
                CreatedKey {
                    key: key.clone(),
                    api_key: SECRET.into()
                }
            ),
            format!(
                "{:?}",
                CreatedKeyView::from(CreatedKey {
                    key,
                    api_key: SECRET.into()
                })
            ),
        ];
        for text in shown {
            assert!(!text.contains(SECRET), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }
}

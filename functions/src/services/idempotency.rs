//! `Idempotency-Key` on POST endpoints: the same key with the same request replays the first response;
//! with another request it is refused. The key is claimed and completed in the business transaction, so
//! a request either happened with its stored response or did not happen at all.

use chrono::Duration;
use orderly_domain::validation::FieldError;
use orderly_store::GenericClient;
use orderly_store::idempotency::{self, Claim, Completion};
use serde_json::Value;

use super::{ServiceError, tokens};

const TTL: Duration = Duration::hours(24);

/// A request's claim on its key, or nothing to claim when the client sent none: then `claim` finds no
/// replay and `complete` stores nothing, so a service reads the same with or without a key.
pub struct Idempotent<'a>(Option<Key<'a>>);

/// `scope` is the caller and endpoint, `hash` the request's content.
struct Key<'a> {
    scope: String,
    key: &'a str,
    hash: Vec<u8>,
}

impl<'a> Idempotent<'a> {
    /// Nothing to claim when the client sent no key (or an empty one).
    pub fn new(
        raw_key: Option<&'a str>,
        scope: String,
        request: &impl serde::Serialize,
    ) -> Result<Self, ServiceError> {
        let Some(key) = raw_key.map(str::trim).filter(|k| !k.is_empty()) else {
            return Ok(Self(None));
        };
        if key.len() > 255 {
            return Err(ServiceError::invalid(
                "Idempotency-Key",
                "must have at most 255 characters",
            ));
        }
        let hash = tokens::sha256(&serde_json::to_string(request).expect("requests serialise"));
        Ok(Self(Some(Key { scope, key, hash })))
    }

    /// Claims the key in `tx`: `Some` is the stored response to replay instead of doing the work.
    pub async fn claim(
        &self,
        tx: &impl GenericClient,
        what: &str,
    ) -> Result<Option<(u16, Value)>, ServiceError> {
        let Some(k) = &self.0 else {
            return Ok(None);
        };
        match idempotency::claim(tx, &k.scope, k.key, &k.hash, TTL).await? {
            Claim::New => Ok(None),
            Claim::Replay { status, body } => Ok(Some((status as u16, body))),
            Claim::Mismatch => Err(ServiceError::Invalid(vec![FieldError::new(
                "Idempotency-Key",
                format!("was already used for a different {what}; use a new key for a new {what}"),
            )])),
        }
    }

    /// Stores the response in `tx`, for replays.
    pub async fn complete(
        &self,
        tx: &impl GenericClient,
        status: u16,
        body: &Value,
    ) -> Result<(), ServiceError> {
        if let Some(completion) = self.completion(status, body) {
            idempotency::complete(tx, completion).await?;
        }
        Ok(())
    }

    /// The response to store under the key, for a store function that sends it with other statements;
    /// `None` without a key.
    pub fn completion<'b>(&'b self, status: u16, body: &'b Value) -> Option<Completion<'b>> {
        self.0.as_ref().map(|k| Completion {
            scope: &k.scope,
            key: k.key,
            status: i32::from(status),
            body,
        })
    }
}

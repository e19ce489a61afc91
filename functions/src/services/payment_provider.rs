//! The payment provider: the one external system, behind a small port. The HTTP implementation speaks
//! the provider's API; locally that is the simulator the local stack runs.

use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Captured {
        reference: String,
    },
    Declined {
        reason: String,
    },
    /// An asynchronous payment method: the provider settles it later.
    Pending,
}

/// Worth retrying (timeouts, 5xx, a refused connection).
#[derive(Debug, Error)]
#[error("the payment provider is unavailable: {0}")]
pub struct ProviderUnavailable(pub String);

pub trait PaymentProvider: Send + Sync {
    /// Charges once per `idempotency_key`, however often it is called.
    fn charge(
        &self,
        idempotency_key: Uuid,
        amount_cents: i64,
        currency: &str,
        order_id: Uuid,
    ) -> impl Future<Output = Result<ChargeOutcome, ProviderUnavailable>> + Send;

    fn refund(
        &self,
        idempotency_key: Uuid,
        charge_reference: &str,
    ) -> impl Future<Output = Result<(), ProviderUnavailable>> + Send;

    /// Where the charge made with `idempotency_key` stands now; `None` when the provider has none (the
    /// charge request never reached it).
    fn charge_status(
        &self,
        idempotency_key: Uuid,
    ) -> impl Future<Output = Result<Option<ChargeOutcome>, ProviderUnavailable>> + Send;
}

#[derive(Clone, Debug)]
pub struct HttpPaymentProvider {
    client: reqwest::Client,
    base_url: String,
}

impl HttpPaymentProvider {
    pub fn new(base_url: &str) -> Self {
        // In-process (the local gateway) no `lambda::run` has run to install it.
        orderly_cloud::use_ring_for_tls();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct ChargeReply {
    id: Option<String>,
    status: String,
    reason: Option<String>,
}

fn unavailable(e: impl std::fmt::Display) -> ProviderUnavailable {
    ProviderUnavailable(e.to_string())
}

/// A charge as the provider answers it (to a charge, or to a look-up of one).
async fn outcome(response: reqwest::Response) -> Result<ChargeOutcome, ProviderUnavailable> {
    let status = response.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(unavailable(format!("HTTP {status}")));
    }
    let reply: ChargeReply = response.json().await.map_err(unavailable)?;
    match (status.as_u16(), reply.status.as_str()) {
        (200 | 201, "captured") => Ok(ChargeOutcome::Captured {
            reference: reply.id.unwrap_or_default(),
        }),
        (200..=202, "pending") => Ok(ChargeOutcome::Pending),
        (200 | 402, "declined") => Ok(ChargeOutcome::Declined {
            reason: reply.reason.unwrap_or_else(|| "declined".into()),
        }),
        (code, other) => Err(unavailable(format!(
            "unexpected answer HTTP {code} {other}"
        ))),
    }
}

impl PaymentProvider for HttpPaymentProvider {
    async fn charge(
        &self,
        idempotency_key: Uuid,
        amount_cents: i64,
        currency: &str,
        order_id: Uuid,
    ) -> Result<ChargeOutcome, ProviderUnavailable> {
        let response = self
            .client
            .post(format!("{}/v1/charges", self.base_url))
            .header("idempotency-key", idempotency_key.to_string())
            .json(
                &json!({"amount_cents": amount_cents, "currency": currency, "reference": order_id}),
            )
            .send()
            .await
            .map_err(unavailable)?;
        outcome(response).await
    }

    async fn refund(
        &self,
        idempotency_key: Uuid,
        charge_reference: &str,
    ) -> Result<(), ProviderUnavailable> {
        let response = self
            .client
            .post(format!("{}/v1/refunds", self.base_url))
            .header("idempotency-key", format!("refund-{idempotency_key}"))
            .json(&json!({"charge_id": charge_reference}))
            .send()
            .await
            .map_err(unavailable)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(unavailable(format!("HTTP {}", response.status())))
        }
    }

    async fn charge_status(
        &self,
        idempotency_key: Uuid,
    ) -> Result<Option<ChargeOutcome>, ProviderUnavailable> {
        let response = self
            .client
            .get(format!(
                "{}/v1/charges/by-key/{idempotency_key}",
                self.base_url
            ))
            .send()
            .await
            .map_err(unavailable)?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        outcome(response).await.map(Some)
    }
}

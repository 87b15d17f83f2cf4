//! Real ACME orders against Pebble with `instant-acme` (rustls + ring).
//!
//! An order is split in two phases so the caller can publish the token (and run
//! dcv-doctor) in between: [`Pebble::order`] creates the order and returns the
//! challenge's token and key authorisation; [`Pebble::validate`] tells Pebble
//! the challenge is ready and waits for the authorisation to settle.

use std::time::Duration;

use anyhow::Context as _;
use instant_acme::{Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder};

/// Which challenge a scenario answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Http,
    Dns,
}

impl Method {
    fn challenge_type(self) -> ChallengeType {
        match self {
            Method::Http => ChallengeType::Http01,
            Method::Dns => ChallengeType::Dns01,
        }
    }

    /// dcv-doctor's `--method` value.
    pub fn flag(self) -> &'static str {
        match self {
            Method::Http => "http",
            Method::Dns => "dns",
        }
    }
}

/// A created order, its challenge not yet answered.
#[derive(Debug, Clone)]
pub struct Pending {
    order_url: String,
    method: Method,
    pub token: String,
    /// The HTTP-01 body.
    pub key_authorization: String,
    /// The DNS-01 TXT value.
    pub dns_value: String,
}

/// What Pebble decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Valid,
    /// The challenge's problem: type without the `urn:ietf:params:acme:error:`
    /// prefix, and detail.
    Invalid {
        problem: String,
        detail: String,
    },
}

impl Outcome {
    pub fn is_valid(&self) -> bool {
        matches!(self, Outcome::Valid)
    }
}

/// One ACME account at Pebble.
pub struct Pebble {
    account: Account,
}

impl std::fmt::Debug for Pebble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pebble")
            .field("account", &self.account.id())
            .finish()
    }
}

impl Pebble {
    /// Registers an account; `ca_pem` is Pebble's WFE CA.
    pub async fn connect(directory_url: &str, ca_pem: &std::path::Path) -> anyhow::Result<Pebble> {
        let (account, _) = Account::builder_with_root(ca_pem)?
            .create(
                &NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory_url.to_owned(),
                None,
            )
            .await
            .context("creating the Pebble account")?;
        Ok(Pebble { account })
    }

    /// Creates an order for `host` and returns the challenge to answer.
    pub async fn order(&self, host: &str, method: Method) -> anyhow::Result<Pending> {
        let ids = [Identifier::Dns(host.to_owned())];
        let mut order = self
            .account
            .new_order(&NewOrder::new(&ids))
            .await
            .with_context(|| format!("new order for {host}"))?;
        let order_url = order.url().to_owned();
        let mut authzs = order.authorizations();
        let mut authz = authzs
            .next()
            .await
            .context("order without authorization")??;
        let challenge = authz
            .challenge(method.challenge_type())
            .with_context(|| format!("no {method:?} challenge for {host}"))?;
        let ka = challenge.key_authorization();
        Ok(Pending {
            order_url,
            method,
            token: challenge.token.clone(),
            key_authorization: ka.as_str().to_owned(),
            dns_value: ka.dns_value(),
        })
    }

    /// Answers the challenge and waits (at most `limit`) for Pebble's decision.
    pub async fn validate(&self, pending: &Pending, limit: Duration) -> anyhow::Result<Outcome> {
        {
            let mut order = self.account.order(pending.order_url.clone()).await?;
            let mut authzs = order.authorizations();
            let mut authz = authzs
                .next()
                .await
                .context("order without authorization")??;
            authz
                .challenge(pending.method.challenge_type())
                .context("challenge vanished")?
                .set_ready()
                .await?;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let mut order = self.account.order(pending.order_url.clone()).await?;
            let mut authzs = order.authorizations();
            let authz = authzs
                .next()
                .await
                .context("order without authorization")??;
            let state = &*authz;
            match state.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => return Ok(Outcome::Valid),
                _ => {
                    let problem = state
                        .challenges
                        .iter()
                        .find(|c| c.r#type == pending.method.challenge_type())
                        .and_then(|c| c.error.clone());
                    let (problem, detail) = problem.map_or_else(
                        || ("(none)".to_owned(), format!("{:?}", state.status)),
                        |p| {
                            (
                                p.r#type
                                    .unwrap_or_default()
                                    .trim_start_matches("urn:ietf:params:acme:error:")
                                    .to_owned(),
                                p.detail.unwrap_or_default(),
                            )
                        },
                    );
                    return Ok(Outcome::Invalid { problem, detail });
                }
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "Pebble did not decide within {limit:?}"
            );
        }
    }
}

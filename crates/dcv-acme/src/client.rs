//! One account and one order at a real ACME server, read step by step:
//! what it offers, what it refuses, and (when asked) its verdict on a real
//! validation. Every failure names its [`Step`] and is either the CA's own
//! problem document or why the CA could not be asked.

use std::path::Path;
use std::time::Duration;

use instant_acme::{Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder};
use serde::Serialize;

use crate::http::BoundedClient;
use crate::limits;

/// Which step a result or a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Reading the directory and creating the account (one exchange each).
    NewAccount,
    NewOrder,
    Authorization,
    /// Publishing the response (web root or DNS update).
    Publish,
    Validation,
}

/// An RFC 7807 problem document from the CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `type` exactly as sent (`urn:ietf:params:acme:error:...`).
    pub type_urn: String,
    pub detail: String,
    pub status: Option<u16>,
    /// `identifier: type: detail` per subproblem (RFC 8555 §6.7.1).
    pub subproblems: Vec<String>,
}

impl From<instant_acme::Problem> for Problem {
    fn from(p: instant_acme::Problem) -> Problem {
        Problem {
            type_urn: p.r#type.unwrap_or_default(),
            detail: p.detail.unwrap_or_default(),
            status: p.status,
            subproblems: p
                .subproblems
                .iter()
                .map(|s| {
                    let ident = match &s.identifier {
                        Some(Identifier::Dns(d)) => d.clone(),
                        Some(Identifier::Ip(ip)) => ip.to_string(),
                        Some(_) | None => "?".to_owned(),
                    };
                    format!(
                        "{ident}: {}: {}",
                        s.r#type.as_deref().unwrap_or_default(),
                        s.detail.as_deref().unwrap_or_default()
                    )
                })
                .collect(),
        }
    }
}

/// Why a step did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Failure {
    /// The CA answered with a problem document: its own word.
    Problem(Problem),
    /// The CA could not be asked (network, TLS, timeout, a body that is not
    /// ACME); nothing about the domain.
    Unavailable(String),
}

/// A failed step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step:?}: {failure:?}")]
pub struct StepError {
    pub step: Step,
    pub failure: Failure,
}

fn step_error(step: Step, e: instant_acme::Error) -> StepError {
    let failure = match e {
        instant_acme::Error::Api(p) => Failure::Problem(p.into()),
        other => Failure::Unavailable(other.to_string()),
    };
    StepError { step, failure }
}

/// The two challenge types dcv-doctor can complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChallengeKind {
    Http01,
    Dns01,
}

impl ChallengeKind {
    fn acme(self) -> ChallengeType {
        match self {
            ChallengeKind::Http01 => ChallengeType::Http01,
            ChallengeKind::Dns01 => ChallengeType::Dns01,
        }
    }

    /// The RFC 8555 / IANA label.
    pub fn label(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::Dns01 => "dns-01",
        }
    }
}

fn challenge_label(t: &ChallengeType) -> String {
    match t {
        ChallengeType::Http01 => "http-01".to_owned(),
        ChallengeType::Dns01 => "dns-01".to_owned(),
        ChallengeType::TlsAlpn01 => "tls-alpn-01".to_owned(),
        ChallengeType::DeviceAttest01 => "device-attest-01".to_owned(),
        ChallengeType::Unknown(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn status_label(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::Pending => "pending",
        AuthorizationStatus::Valid => "valid",
        AuthorizationStatus::Invalid => "invalid",
        AuthorizationStatus::Revoked => "revoked",
        AuthorizationStatus::Expired => "expired",
        AuthorizationStatus::Deactivated => "deactivated",
    }
}

/// A response the CA asks for: what to publish for one challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offered {
    pub kind: ChallengeKind,
    /// The token (HTTP-01 file name).
    pub token: String,
    /// The HTTP-01 body (RFC 8555 §8.1).
    pub key_authorization: String,
    /// The DNS-01 TXT value (RFC 8555 §8.4).
    pub dns_value: String,
}

/// One authorization as the CA listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authz {
    pub identifier: String,
    pub wildcard: bool,
    pub status: String,
    /// Every challenge type offered, as the CA names them.
    pub challenges: Vec<String>,
    /// The HTTP-01 and DNS-01 responses, for completion.
    pub offered: Vec<Offered>,
}

/// An order whose authorizations are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingOrder {
    pub url: String,
    pub authorizations: Vec<Authz>,
}

/// The CA's verdict on one validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Invalid { problem: Option<Problem> },
}

/// An account at one ACME server.
#[derive(Clone)]
pub struct AcmeClient {
    account: Account,
    directory: String,
}

impl std::fmt::Debug for AcmeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeClient")
            .field("directory", &self.directory)
            .field("account", &self.account.id())
            .finish()
    }
}

impl AcmeClient {
    /// Reads the directory and creates a throwaway account (a fresh key,
    /// no contact, terms agreed), trusting `ca_cert` or the system's roots.
    pub async fn connect(directory: &str, ca_cert: Option<&Path>) -> Result<AcmeClient, StepError> {
        let http = BoundedClient::new(ca_cert).map_err(|e| StepError {
            step: Step::NewAccount,
            failure: Failure::Unavailable(e.to_string()),
        })?;
        let (account, _credentials) = Account::builder_with_http(Box::new(http))
            .create(
                &NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_owned(),
                None,
            )
            .await
            .map_err(|e| step_error(Step::NewAccount, e))?;
        Ok(AcmeClient {
            account,
            directory: directory.to_owned(),
        })
    }

    /// The account URL (RFC 8657 `accounturi`).
    pub fn account_url(&self) -> &str {
        self.account.id()
    }

    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// Creates an order for `names` (a `*.` prefix makes a wildcard
    /// identifier) and reads its authorizations.
    pub async fn order(&self, names: &[String]) -> Result<PendingOrder, StepError> {
        let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut order = self
            .account
            .new_order(&NewOrder::new(&ids))
            .await
            .map_err(|e| step_error(Step::NewOrder, e))?;
        let url = order.url().to_owned();
        let mut authorizations = Vec::new();
        let mut authzs = order.authorizations();
        while let Some(next) = authzs.next().await {
            if authorizations.len() >= limits::MAX_AUTHORIZATIONS {
                break;
            }
            let authz = next.map_err(|e| step_error(Step::Authorization, e))?;
            let identifier = match &authz.identifier().identifier {
                Identifier::Dns(d) => d.clone(),
                Identifier::Ip(ip) => ip.to_string(),
                other => format!("{other:?}"),
            };
            let mut offered = Vec::new();
            for kind in [ChallengeKind::Http01, ChallengeKind::Dns01] {
                if let Some(c) = authz.challenges.iter().find(|c| c.r#type == kind.acme()) {
                    let ka = self.key_authorization(&c.token);
                    offered.push(Offered {
                        kind,
                        token: c.token.clone(),
                        dns_value: ka.1,
                        key_authorization: ka.0,
                    });
                }
            }
            authorizations.push(Authz {
                identifier,
                wildcard: authz.wildcard,
                status: status_label(authz.status).to_owned(),
                challenges: authz
                    .challenges
                    .iter()
                    .map(|c| challenge_label(&c.r#type))
                    .collect(),
                offered,
            });
        }
        Ok(PendingOrder {
            url,
            authorizations,
        })
    }

    /// RFC 8555 §8.1 key authorization and its DNS-01 digest
    /// (`base64url(SHA-256(ka))`), from instant-acme's own computation.
    fn key_authorization(&self, token: &str) -> (String, String) {
        let ka = format!("{token}.{}", self.account.key_thumbprint());
        let digest = hickory_proto::dnssec::crypto::Digest::new(
            ka.as_bytes(),
            hickory_proto::dnssec::DigestType::SHA256,
        );
        let value = match digest {
            Ok(d) => data_encoding::BASE64URL_NOPAD.encode(d.as_ref()),
            Err(_) => String::new(),
        };
        (ka, value)
    }

    /// Tells the CA the response for `identifier` is in place and waits
    /// (at most `limit`) for its verdict.
    pub async fn validate(
        &self,
        order_url: &str,
        identifier: &str,
        kind: ChallengeKind,
        limit: Duration,
    ) -> Result<Verdict, StepError> {
        let err = |e| step_error(Step::Validation, e);
        let mut order = self
            .account
            .order(order_url.to_owned())
            .await
            .map_err(err)?;
        {
            let mut authzs = order.authorizations();
            let mut found = false;
            while let Some(next) = authzs.next().await {
                let mut authz = next.map_err(err)?;
                if authz_name(&authz) != identifier {
                    continue;
                }
                found = true;
                let Some(mut challenge) = authz.challenge(kind.acme()) else {
                    return Err(StepError {
                        step: Step::Validation,
                        failure: Failure::Unavailable(format!(
                            "the CA offers no {} challenge for {identifier}",
                            kind.label()
                        )),
                    });
                };
                challenge.set_ready().await.map_err(err)?;
                break;
            }
            if !found {
                return Err(StepError {
                    step: Step::Validation,
                    failure: Failure::Unavailable(format!(
                        "the order has no authorization for {identifier}"
                    )),
                });
            }
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            tokio::time::sleep(limits::POLL_INTERVAL).await;
            let mut order = self
                .account
                .order(order_url.to_owned())
                .await
                .map_err(err)?;
            let mut authzs = order.authorizations();
            while let Some(next) = authzs.next().await {
                let authz = next.map_err(err)?;
                if authz_name(&authz) != identifier {
                    continue;
                }
                match authz.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => return Ok(Verdict::Valid),
                    _ => {
                        let problem = authz
                            .challenges
                            .iter()
                            .find(|c| c.r#type == kind.acme())
                            .and_then(|c| c.error.clone())
                            .map(Problem::from);
                        return Ok(Verdict::Invalid { problem });
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StepError {
                    step: Step::Validation,
                    failure: Failure::Unavailable(format!(
                        "the CA did not decide within {}s",
                        limit.as_secs()
                    )),
                });
            }
        }
    }

    /// Deactivates every authorization of the order that is still pending or
    /// valid (RFC 8555 §7.5.2), so nothing of the dry run lingers or is reused.
    /// Best effort: returns how many could not be deactivated.
    pub async fn deactivate(&self, order_url: &str) -> usize {
        let Ok(mut order) = self.account.order(order_url.to_owned()).await else {
            return 1;
        };
        let mut failed = 0;
        let mut authzs = order.authorizations();
        while let Some(next) = authzs.next().await {
            let Ok(mut authz) = next else {
                failed += 1;
                continue;
            };
            if matches!(
                authz.status,
                AuthorizationStatus::Pending | AuthorizationStatus::Valid
            ) && authz.deactivate().await.is_err()
            {
                failed += 1;
            }
        }
        failed
    }
}

fn authz_name(authz: &instant_acme::AuthorizationState) -> String {
    match &authz.identifier().identifier {
        Identifier::Dns(d) => d.clone(),
        Identifier::Ip(ip) => ip.to_string(),
        other => format!("{other:?}"),
    }
}

//! What the caller tells the evaluator: the CA's identity and rules
//! ([`CaIdentity`]) and the issuance request ([`Request`]).
//!
//! This crate does not know which CAs exist; the caller describes the CA.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How an `issue` value's issuer domain name is compared with the CA's.
///
/// RFC 8659 leaves this to the CA (BR 3.2.2.8 makes it list its names in
/// CP/CPS §4.2). Let's Encrypt compares exactly, case included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerMatch {
    /// Byte-for-byte after trimming whitespace (Let's Encrypt).
    CaseSensitive,
    /// ASCII case folded, as DNS names usually are.
    CaseInsensitive,
}

/// Whether the CA ever treats a CAA lookup failure as permission to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Every failure before the Relevant RRset blocks issuance (Let's Encrypt).
    NeverPermit,
    /// BR 3.2.2.8: a failure may be permission when the domain is proven
    /// "Insecure" (RFC 4035 §4.3). The caller vouches for the other two
    /// conditions (failure outside the CA's infrastructure, retried once).
    /// A DNSSEC validation failure is never permission (BR 3.2.2.8.1).
    PermitIfProvenInsecure,
}

/// The CA being checked: the names it recognises and its CAA quirks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaIdentity {
    /// Issuer Domain Names the CA recognises (BR 3.2.2.8, CP/CPS §4.2),
    /// e.g. `letsencrypt.org`. The first one is used in suggestions.
    pub issuer_domains: Vec<String>,
    /// How issuer domain names are compared.
    pub issuer_match: IssuerMatch,
    /// Treat flags bit value 1 like the Issuer Critical bit. RFC 8659 §4.1
    /// says reserved bits are ignored; Let's Encrypt deliberately treats 1
    /// as critical too, because publishers misread the bit order.
    pub flag1_is_critical: bool,
    /// Tags the CA understands besides `issue`, `issuewild` and `iodef`
    /// (e.g. `issuemail`, `issuevmc`); a critical flag on them does not block.
    pub known_tags: Vec<String>,
    /// Whether a lookup failure can ever be permission (BR 3.2.2.8).
    pub failure_policy: FailurePolicy,
    /// Prefixes of the CA's account URIs (RFC 8657 §3), e.g.
    /// `https://acme-v02.api.letsencrypt.org/acme/acct/`. An `accounturi`
    /// outside them cannot be one of this CA's accounts. Empty: not checked.
    pub account_uri_prefixes: Vec<String>,
}

impl CaIdentity {
    /// A CA following RFC 8659 to the letter: case-insensitive issuer names,
    /// only bit 128 critical, no extra tags, failures never permit.
    pub fn new<I, S>(issuer_domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            issuer_domains: issuer_domains.into_iter().map(Into::into).collect(),
            issuer_match: IssuerMatch::CaseInsensitive,
            flag1_is_critical: false,
            known_tags: Vec::new(),
            failure_policy: FailurePolicy::NeverPermit,
            account_uri_prefixes: Vec::new(),
        }
    }

    /// Sets how issuer domain names are compared.
    #[must_use]
    pub fn with_issuer_match(mut self, issuer_match: IssuerMatch) -> Self {
        self.issuer_match = issuer_match;
        self
    }

    /// Sets whether flags bit value 1 counts as critical.
    #[must_use]
    pub fn with_flag1_critical(mut self, critical: bool) -> Self {
        self.flag1_is_critical = critical;
        self
    }

    /// Adds tags the CA understands besides `issue`, `issuewild`, `iodef`.
    #[must_use]
    pub fn with_known_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.known_tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets the lookup-failure policy.
    #[must_use]
    pub fn with_failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// Adds account URI prefixes (RFC 8657 §3).
    #[must_use]
    pub fn with_account_uri_prefixes<I, S>(mut self, prefixes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.account_uri_prefixes
            .extend(prefixes.into_iter().map(Into::into));
        self
    }

    /// Whether `issuer` (already trimmed by the parser) names this CA.
    pub fn recognises_issuer(&self, issuer: &str) -> bool {
        self.issuer_domains
            .iter()
            .any(|own| match self.issuer_match {
                IssuerMatch::CaseSensitive => own == issuer,
                IssuerMatch::CaseInsensitive => own.eq_ignore_ascii_case(issuer),
            })
    }

    /// Whether `issuer` differs from one of the CA's names only by case.
    pub(crate) fn issuer_differs_only_in_case(&self, issuer: &str) -> bool {
        self.issuer_match == IssuerMatch::CaseSensitive
            && self
                .issuer_domains
                .iter()
                .any(|own| own != issuer && own.eq_ignore_ascii_case(issuer))
    }

    /// Whether a raw value mentions one of the CA's names in any case, e.g.
    /// the malformed `letsencrypt.org.`: such a record was meant for this CA.
    pub(crate) fn value_mentions_issuer(&self, value: &[u8]) -> bool {
        let value = value.to_ascii_lowercase();
        self.issuer_domains.iter().any(|own| {
            let own = own.to_ascii_lowercase();
            !own.is_empty() && value.windows(own.len()).any(|w| w == own.as_bytes())
        })
    }

    /// Whether `tag` (raw bytes) is one the CA understands (RFC 8659 §4.1:
    /// only critical properties with unknown tags block).
    pub fn knows_tag(&self, tag: &[u8]) -> bool {
        ["issue", "issuewild", "iodef"]
            .iter()
            .map(|t| t.as_bytes())
            .chain(self.known_tags.iter().map(String::as_bytes))
            .any(|known| known.eq_ignore_ascii_case(tag))
    }

    /// Whether `flags` carry a bit this CA treats as Issuer Critical.
    pub fn is_critical(&self, flags: u8) -> bool {
        let mask = if self.flag1_is_critical {
            0b1000_0001
        } else {
            0b1000_0000
        };
        flags & mask != 0
    }

    /// Whether `uri` lies under one of the CA's account URI prefixes (true
    /// when the CA listed none).
    pub(crate) fn account_uri_plausible(&self, uri: &str) -> bool {
        self.account_uri_prefixes.is_empty()
            || self
                .account_uri_prefixes
                .iter()
                .any(|prefix| uri.starts_with(prefix.as_str()))
    }
}

/// A validation method label (RFC 8657 §4, IANA "ACME Validation Methods").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ValidationMethod {
    /// `http-01` (RFC 8555 §8.3).
    Http01,
    /// `dns-01` (RFC 8555 §8.4).
    Dns01,
    /// `tls-alpn-01` (RFC 8737).
    TlsAlpn01,
    /// Any other label, e.g. `dns-account-01` or a CA-specific `ca-...`.
    Other(String),
}

impl ValidationMethod {
    /// The label as written in a `validationmethods` parameter.
    pub fn label(&self) -> &str {
        match self {
            Self::Http01 => "http-01",
            Self::Dns01 => "dns-01",
            Self::TlsAlpn01 => "tls-alpn-01",
            Self::Other(label) => label,
        }
    }

    /// Maps a label to a method; unknown labels become [`Self::Other`].
    pub fn from_label(label: &str) -> Self {
        match label {
            "http-01" => Self::Http01,
            "dns-01" => Self::Dns01,
            "tls-alpn-01" => Self::TlsAlpn01,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for ValidationMethod {
    fn from(label: String) -> Self {
        Self::from_label(&label)
    }
}

impl From<ValidationMethod> for String {
    fn from(method: ValidationMethod) -> Self {
        method.label().to_owned()
    }
}

impl fmt::Display for ValidationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One name of an issuance request, as the CA would check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Request {
    /// The FQDN, or a Wildcard Domain Name `*.X` (evaluated at X,
    /// RFC 8659 §3).
    pub name: String,
    /// The validation method in use (RFC 8657 §4).
    pub method: ValidationMethod,
    /// The requesting account's URI (RFC 8657 §3); `None` when unknown.
    pub account_uri: Option<String>,
}

impl Request {
    /// A request without an account URI.
    pub fn new(name: impl Into<String>, method: ValidationMethod) -> Self {
        Self {
            name: name.into(),
            method,
            account_uri: None,
        }
    }

    /// Sets the requesting account's URI.
    #[must_use]
    pub fn with_account_uri(mut self, uri: impl Into<String>) -> Self {
        self.account_uri = Some(uri.into());
        self
    }

    /// Whether the name is a Wildcard Domain Name (`*.` prefix).
    pub fn is_wildcard(&self) -> bool {
        self.name.starts_with("*.")
    }
}

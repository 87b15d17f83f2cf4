//! The CA catalogue: one place for what each of Cloudflare's partner CAs accepts
//! and says. Facts come from the CAs' CPS §4.2 (issuer domain names), Cloudflare's
//! "Certificate authorities" reference and Boulder's source; sources are cited
//! per field.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Method;

/// A certificate authority dcv-doctor can predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaId {
    Letsencrypt,
    Google,
    Sslcom,
    Sectigo,
}

impl CaId {
    /// `--ca all`: Cloudflare's partner CAs. Sectigo issues only backup
    /// certificates (full setups), but its CAA must still allow it there.
    pub const ALL: &'static [CaId] =
        &[CaId::Letsencrypt, CaId::Google, CaId::Sslcom, CaId::Sectigo];

    pub fn as_str(self) -> &'static str {
        match self {
            CaId::Letsencrypt => "letsencrypt",
            CaId::Google => "google",
            CaId::Sslcom => "sslcom",
            CaId::Sectigo => "sectigo",
        }
    }

    pub fn profile(self) -> &'static CaProfile {
        match self {
            CaId::Letsencrypt => &LETS_ENCRYPT,
            CaId::Google => &GOOGLE_TRUST_SERVICES,
            CaId::Sslcom => &SSL_COM,
            CaId::Sectigo => &SECTIGO,
        }
    }
}

impl fmt::Display for CaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaId::ALL
            .iter()
            .copied()
            .find(|ca| ca.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown CA {s:?}"))
    }
}

/// Whether a CA may treat a failed CAA lookup as permission (BR 3.2.2.8): only
/// when the domain is proven Insecure and the failure is outside the CA. Since
/// 2026-03-15 (BR 3.2.2.8.1) a DNSSEC validation failure never counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaaFailurePolicy {
    /// Let's Encrypt: any lookup error before the relevant RRset fails closed.
    NeverPermit,
    /// The BR exception is used where it applies.
    PermitIfProvenInsecure,
}

/// The recursive resolver a CA's validation asks, where it is public: its
/// quirks decide what the CA sees from a half-broken zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaResolver {
    /// Let's Encrypt: its own Unbound instances recursing from the root
    /// (peers-and-ca-behaviour.md, Boulder's DNS layer). Unbound takes a lame
    /// server's referral to the zone itself as an empty answer (NODATA).
    Unbound,
    /// Not published.
    Undisclosed,
}

/// Everything dcv-doctor needs to know about one CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaProfile {
    pub id: CaId,
    pub name: &'static str,
    /// Cloudflare API `certificate_authority` value, when Cloudflare lets users pick it.
    pub cloudflare_api_id: Option<&'static str>,
    /// Issuer domain names the CA recognises in CAA `issue`/`issuewild` (CPS §4.2).
    pub caa_issuer_domains: &'static [&'static str],
    /// The value Cloudflare documents for this CA (what to paste into a CAA record).
    pub caa_value_to_add: &'static str,
    /// Whether the issuer domain is compared case-sensitively (Let's Encrypt: yes).
    pub caa_issuer_case_sensitive: bool,
    /// Whether flag bit 1 counts as critical (Boulder: `flag & (128|1)`).
    pub caa_flag1_critical: bool,
    /// CAA tags the CA recognises besides issue/issuewild/iodef (a critical flag
    /// on these does not block).
    pub caa_known_tags: &'static [&'static str],
    pub caa_failure_policy: CaaFailurePolicy,
    pub methods: &'static [Method],
    /// Maximum number of labels in a name (Let's Encrypt: 10).
    pub max_labels: Option<usize>,
    /// Whether the CA issues for punycode (`xn--`) names.
    pub issues_punycode: bool,
    /// The account-URI prefix of the CA's ACME account URLs (RFC 8657 §3).
    pub acme_account_uri_prefix: Option<&'static str>,
    pub resolver: CaResolver,
}

/// Let's Encrypt (Boulder `va/caa.go`, `policy/pa.go`; standards.md §6.3).
pub static LETS_ENCRYPT: CaProfile = CaProfile {
    id: CaId::Letsencrypt,
    name: "Let's Encrypt",
    cloudflare_api_id: Some("lets_encrypt"),
    caa_issuer_domains: &["letsencrypt.org"],
    caa_value_to_add: "letsencrypt.org",
    caa_issuer_case_sensitive: true,
    caa_flag1_critical: true,
    caa_known_tags: &["issuemail", "issuevmc"],
    caa_failure_policy: CaaFailurePolicy::NeverPermit,
    methods: &[Method::Http, Method::Dns],
    max_labels: Some(10),
    issues_punycode: true,
    acme_account_uri_prefix: Some("https://acme-v02.api.letsencrypt.org/acme/acct/"),
    resolver: CaResolver::Unbound,
};

/// Google Trust Services (CPS §4.2 lists `pki.goog`; Cloudflare documents the
/// `cansignhttpexchanges=yes` parameter, which GTS ignores for matching).
pub static GOOGLE_TRUST_SERVICES: CaProfile = CaProfile {
    id: CaId::Google,
    name: "Google Trust Services",
    cloudflare_api_id: Some("google"),
    caa_issuer_domains: &["pki.goog"],
    caa_value_to_add: "pki.goog; cansignhttpexchanges=yes",
    caa_issuer_case_sensitive: false,
    caa_flag1_critical: false,
    caa_known_tags: &[],
    caa_failure_policy: CaaFailurePolicy::NeverPermit,
    methods: &[Method::Http, Method::Dns],
    max_labels: None,
    issues_punycode: false,
    acme_account_uri_prefix: Some("https://dv.acme-v02.api.pki.goog/account/"),
    resolver: CaResolver::Undisclosed,
};

/// SSL.com (Cloudflare "Certificate authorities" reference).
pub static SSL_COM: CaProfile = CaProfile {
    id: CaId::Sslcom,
    name: "SSL.com",
    cloudflare_api_id: Some("ssl_com"),
    caa_issuer_domains: &["ssl.com"],
    caa_value_to_add: "ssl.com",
    caa_issuer_case_sensitive: false,
    caa_flag1_critical: false,
    caa_known_tags: &[],
    caa_failure_policy: CaaFailurePolicy::PermitIfProvenInsecure,
    methods: &[Method::Http, Method::Dns],
    max_labels: None,
    issues_punycode: true,
    acme_account_uri_prefix: None,
    resolver: CaResolver::Undisclosed,
};

/// Sectigo (backup certificates only; identifiers per the CCADB CAA identifiers
/// report as cited in standards.md §7 — `sectigo.com` is what Cloudflare adds).
pub static SECTIGO: CaProfile = CaProfile {
    id: CaId::Sectigo,
    name: "Sectigo",
    cloudflare_api_id: None,
    caa_issuer_domains: &[
        "sectigo.com",
        "comodo.com",
        "comodoca.com",
        "usertrust.com",
        "trust-provider.com",
    ],
    caa_value_to_add: "sectigo.com",
    caa_issuer_case_sensitive: false,
    caa_flag1_critical: false,
    caa_known_tags: &[],
    caa_failure_policy: CaaFailurePolicy::PermitIfProvenInsecure,
    methods: &[Method::Http, Method::Dns],
    max_labels: None,
    issues_punycode: true,
    acme_account_uri_prefix: None,
    resolver: CaResolver::Undisclosed,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ca_parses_from_its_own_name_and_points_at_its_profile() {
        for ca in CaId::ALL {
            assert_eq!(ca.as_str().parse::<CaId>(), Ok(*ca));
            assert_eq!(ca.profile().id, *ca);
            assert!(
                ca.profile()
                    .caa_issuer_domains
                    .iter()
                    .any(|d| ca.profile().caa_value_to_add.starts_with(d)),
                "{ca}: the value we tell users to add must name a recognised issuer"
            );
        }
        assert!("digicert".parse::<CaId>().is_err());
    }
}

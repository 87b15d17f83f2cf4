//! Let's Encrypt's certificate limits as Boulder enforces them, and the
//! bounds of the CT client. Every value cites its source.

use std::time::Duration;

/// One token-bucket limit (Boulder `ratelimits`): `count` certificates per
/// `period`, at most `burst` at once. A token comes back every
/// `period / count` (the emission interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Let's Encrypt's name for it (rate-limits page).
    pub name: &'static str,
    /// The anchor on <https://letsencrypt.org/docs/rate-limits/>.
    pub doc_anchor: &'static str,
    pub count: u32,
    pub burst: u32,
    pub period: Duration,
}

impl RateLimit {
    /// `period / count`: how often one token refills (Boulder
    /// `limit.emissionInterval`).
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    /// `emission_interval * burst` (Boulder `limit.burstOffset`).
    pub fn burst_offset(&self) -> Duration {
        self.emission_interval() * self.burst
    }

    /// The documentation URL for this limit.
    pub fn doc_url(&self) -> String {
        format!(
            "https://letsencrypt.org/docs/rate-limits/#{}",
            self.doc_anchor
        )
    }
}

const WEEK: Duration = Duration::from_secs(168 * 3600);

/// "New Certificates per Exact Set of Identifiers": 5 per 7 days, one back
/// every 34 hours (33 h 36 min exactly); global across accounts, no override
/// (standards.md §6.1; Boulder `CertificatesPerFQDNSet`).
pub const DUPLICATE_CERTIFICATE: RateLimit = RateLimit {
    name: "New Certificates per Exact Set of Identifiers",
    doc_anchor: "new-certificates-per-exact-set-of-identifiers",
    count: 5,
    burst: 5,
    period: WEEK,
};

/// "New Certificates per Registered Domain": 50 per 7 days, one back every
/// 202 minutes (201.6 exactly); one token per registered domain (Public
/// Suffix List eTLD+1) in the certificate (standards.md §6.1; Boulder
/// `CertificatesPerDomain`, `coveringIdentifiers`).
pub const CERTIFICATES_PER_DOMAIN: RateLimit = RateLimit {
    name: "New Certificates per Registered Domain",
    doc_anchor: "new-certificates-per-registered-domain",
    count: 50,
    burst: 50,
    period: WEEK,
};

/// An order whose exact set of identifiers was issued within this window is a
/// renewal: exempt from the per-registered-domain limit, at order time and at
/// issuance (Boulder `wfe2` new-order and `ra.issueCertificateOuter`,
/// `FQDNSetTimestampsForWindow(120 * 24h)`).
pub const RENEWAL_WINDOW: Duration = Duration::from_secs(120 * 24 * 3600);

/// Warn about the duplicate-certificate limit when this many or fewer
/// certificates remain (issue #13: "warning at 4 of 5").
pub const DUPLICATE_WARN_REMAINING: u32 = 1;

/// Warn about the per-registered-domain limit when this many or fewer remain
/// (a tenth of the burst: a busy platform's next batch can take them).
pub const DOMAIN_WARN_REMAINING: u32 = 5;

/// Let's Encrypt issues certificates with at most 100 identifiers
/// (standards.md §6.1, profile-dependent); a longer `--san` list is bad input.
pub const MAX_ORDER_NAMES: usize = 100;

/// Connecting to the CT search service (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One whole query: crt.sh answers a large `%.domain` search in tens of
/// seconds when it is busy; beyond this the answer is "could not check".
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest response body read (crt.sh JSON is ~400 bytes per row, so about
/// 80,000 unexpired rows); a bigger answer is "could not check", never a
/// partial count.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Rows accepted from one query (the body cap bounds it too; this bounds the
/// work per row).
pub const MAX_ROWS: usize = 100_000;

/// Queries sent for one assessment: two per registered domain of the order
/// (`D` and `%.D`), at most this many registered domains.
pub const MAX_REGISTERED_DOMAINS: usize = 10;

/// Queries in flight at once (crt.sh throttles clients that open many).
pub const QUERY_CONCURRENCY: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emission_intervals_match_the_documented_refill() {
        // "1 per 34 hours" and "1 per 202 minutes" (rounded on the page).
        assert_eq!(
            DUPLICATE_CERTIFICATE.emission_interval(),
            Duration::from_secs(33 * 3600 + 36 * 60)
        );
        assert_eq!(
            CERTIFICATES_PER_DOMAIN.emission_interval(),
            Duration::from_secs(3 * 3600 + 21 * 60 + 36)
        );
        assert_eq!(DUPLICATE_CERTIFICATE.burst_offset(), WEEK);
    }
}

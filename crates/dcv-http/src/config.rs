//! Probe configuration.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::limits;

/// Which names a redirect may point at. Boulder requires a name target to end
/// in an IANA-registered TLD (`iana.ExtractSuffix`, `Invalid host in redirect
/// target, must end in IANA registered TLD`); the caller owns that list.
#[derive(Debug, Clone)]
pub enum TldPolicy {
    /// Accept any syntactically valid TLD (letters, or an `xn--` A-label).
    /// Use only when the real list is not at hand.
    Syntactic,
    /// Accept exactly these TLDs (lower-case, no dots).
    Set(BTreeSet<String>),
    /// Ask a function (given the lower-case TLD).
    Predicate(fn(&str) -> bool),
}

impl TldPolicy {
    /// Whether `host`'s last label is an accepted TLD.
    pub fn accepts_host(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        let Some((_, tld)) = host.rsplit_once('.') else {
            // A bare TLD (or single label) is never a valid redirect name.
            return false;
        };
        let tld = tld.to_ascii_lowercase();
        match self {
            TldPolicy::Syntactic => syntactic_tld(&tld),
            TldPolicy::Set(set) => set.contains(&tld),
            TldPolicy::Predicate(f) => f(&tld),
        }
    }
}

fn syntactic_tld(tld: &str) -> bool {
    if let Some(rest) = tld.strip_prefix("xn--") {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    } else {
        tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
    }
}

/// How one HTTP-01 probe behaves. `Default` mirrors Let's Encrypt.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Socket port standing for the CA's port 80. A redirect `Location`
    /// without a port (http) or with `:80` means this port.
    pub http_port: u16,
    /// Socket port standing for the CA's port 443. A redirect `Location`
    /// without a port (https) or with `:443` means this port.
    pub https_port: u16,
    /// `User-Agent` sent on every hop.
    pub user_agent: String,
    /// TCP connect budget per hop ([`limits::DIAL_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// TLS handshake budget per https hop ([`limits::TLS_HANDSHAKE_TIMEOUT`]).
    pub tls_timeout: Duration,
    /// Budget for the response head after the request is sent.
    pub response_headers_timeout: Duration,
    /// Budget for reading the capped body.
    pub body_timeout: Duration,
    /// Budget for one address's whole chain, redirects included.
    pub total_deadline: Duration,
    /// Bytes of each body kept for classification ([`limits::BODY_EXCERPT_LIMIT`]).
    /// The CA verdict always uses Boulder's 128 bytes ([`limits::CA_BODY_LIMIT`]).
    pub body_excerpt_limit: usize,
    /// When false, a redirect to a reserved address (IP literal, or a name
    /// whose only addresses are reserved) is refused like Boulder does. The
    /// initial addresses are the caller's business either way.
    pub allow_private: bool,
    /// Boulder's `maxRedirect`; see [`limits::MAX_REDIRECTS`] for the
    /// off-by-one (this many + 1 redirects are followed).
    pub max_redirects: usize,
    /// Which TLDs a redirect name may end in.
    pub tld_policy: TldPolicy,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            http_port: 80,
            https_port: 443,
            user_agent: limits::LETS_ENCRYPT_USER_AGENT.to_owned(),
            connect_timeout: limits::DIAL_TIMEOUT,
            tls_timeout: limits::TLS_HANDSHAKE_TIMEOUT,
            response_headers_timeout: limits::RESPONSE_HEADERS_TIMEOUT,
            body_timeout: limits::BODY_TIMEOUT,
            total_deadline: limits::TOTAL_DEADLINE,
            body_excerpt_limit: limits::BODY_EXCERPT_LIMIT,
            allow_private: false,
            max_redirects: limits::MAX_REDIRECTS,
            tld_policy: TldPolicy::Syntactic,
        }
    }
}

impl ProbeConfig {
    /// The socket port for a logical (CA-side) port 80 or 443.
    pub fn socket_port(&self, logical: u16) -> Option<u16> {
        match logical {
            80 => Some(self.http_port),
            443 => Some(self.https_port),
            _ => None,
        }
    }

    /// The excerpt cap actually used: never below the CA's 128 bytes.
    pub(crate) fn excerpt_cap(&self) -> usize {
        self.body_excerpt_limit.max(limits::CA_BODY_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tld_policies() {
        let syn = TldPolicy::Syntactic;
        assert!(syn.accepts_host("example.com"));
        assert!(syn.accepts_host("example.xn--p1ai"));
        assert!(!syn.accepts_host("example.c0m"));
        assert!(!syn.accepts_host("localhost"));
        let set = TldPolicy::Set(["org".to_owned()].into_iter().collect());
        assert!(set.accepts_host("Example.ORG"));
        assert!(!set.accepts_host("example.com"));
        let pred = TldPolicy::Predicate(|t| t == "lab");
        assert!(pred.accepts_host("a.b.lab."));
    }
}

//! The address-lookup seam: the probe never uses the system resolver; the
//! caller plugs in its own DNS engine (or, in tests, a fixed table).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use serde::Serialize;

/// A host's addresses, IPv6 first as Boulder orders them (`va/dns.go`
/// `getAddrs`: all AAAA, then all A).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolvedAddrs {
    /// AAAA answers, in the order the resolver returned them.
    pub v6: Vec<IpAddr>,
    /// A answers, in the order the resolver returned them.
    pub v4: Vec<IpAddr>,
}

impl ResolvedAddrs {
    /// True when neither family has an address.
    pub fn is_empty(&self) -> bool {
        self.v6.is_empty() && self.v4.is_empty()
    }

    /// Boulder's choice for one request: the first AAAA, else the first A.
    pub fn preferred(&self) -> Option<IpAddr> {
        self.v6.first().or_else(|| self.v4.first()).copied()
    }

    /// All addresses, AAAA first.
    pub fn all(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.v6.iter().chain(self.v4.iter()).copied()
    }
}

/// A failed lookup. `message` should already be in the CA's words (e.g.
/// `DNS problem: NXDOMAIN looking up A for x - check that a DNS record exists
/// for this domain`): it is shown verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ResolveError {
    /// Human-readable, CA-shaped text.
    pub message: String,
}

impl ResolveError {
    /// Builds an error from any text.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The future returned by [`AddressResolver::resolve`].
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ResolvedAddrs, ResolveError>> + Send + 'a>>;

/// Looks up A and AAAA for a host. Object-safe so the probe can take
/// `&dyn AddressResolver`.
pub trait AddressResolver: Send + Sync {
    /// Resolves `host` (lower-case, no trailing dot) to its addresses.
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a>;
}

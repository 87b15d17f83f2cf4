//! HTTP-01 probe: one fetch per address with Host/SNI/User-Agent set, manual
//! redirects under Let's Encrypt's (Boulder's) rules, capped bodies,
//! classification of what came back, the CA's own address choice and error
//! texts, and the reserved-address policy.
//!
//! DNS is the caller's: the probe asks an [`AddressResolver`] and never the
//! system resolver.

pub mod classify;
pub mod config;
pub mod fetch;
pub mod ip_policy;
pub mod limits;
pub mod message;
pub mod probe;
pub mod redirect;
pub mod resolver;

pub use classify::Classification;
pub use config::{ProbeConfig, TldPolicy};
pub use fetch::{
    BodyCapture, ErrorKind, FetchError, FetchOutcome, FetchResponse, HeaderField, Phase, Scheme,
    Target, Timings, TlsInfo, fetch_once, ring_provider,
};
pub use ip_policy::{RangeKind, ReservedRange};
pub use message::{CaProblem, ProblemType};
pub use probe::{AddressAttempt, CaView, Family, Hop, HttpProbeReport, ProbeError, probe};
pub use redirect::{BadRedirect, BadRedirectReason, RedirectTarget, check_redirect};
pub use resolver::{AddressResolver, ResolveError, ResolveFuture, ResolvedAddrs};

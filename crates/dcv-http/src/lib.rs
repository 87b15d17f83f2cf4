//! HTTP-01 probe: one fetch per address with Host/SNI/User-Agent set, manual
//! redirects under Let's Encrypt's (Boulder's) rules, capped bodies,
//! classification of what came back, the CA's own address choice and error
//! texts, and the reserved-address policy.
//!
//! DNS is the caller's: the probe asks an [`AddressResolver`] and never the
//! system resolver.
//!
//! ```no_run
//! use dcv_http::{AddressResolver, ProbeConfig, ResolveError, ResolveFuture, ResolvedAddrs};
//!
//! struct Fixed(ResolvedAddrs);
//! impl AddressResolver for Fixed {
//!     fn resolve<'a>(&'a self, _host: &'a str) -> ResolveFuture<'a> {
//!         Box::pin(async move { Ok::<_, ResolveError>(self.0.clone()) })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), dcv_http::ProbeError> {
//! let resolver = Fixed(ResolvedAddrs { v6: vec![], v4: vec!["192.0.2.1".parse().unwrap()] });
//! let report = dcv_http::probe(&ProbeConfig::default(), "www.example.com", "probe-token", None, &resolver).await?;
//! // The CA's verdict (first AAAA, first A only after a dial error) ...
//! println!("{}", report.ca_view.classification.code());
//! // ... and the evidence from every address.
//! for attempt in &report.attempts {
//!     println!("{} {:?}", attempt.address, attempt.ca_problem);
//! }
//! # Ok(()) }
//! ```

pub mod classify;
pub mod compare;
pub mod config;
pub mod fetch;
pub mod ip_policy;
pub mod limits;
pub mod message;
pub mod probe;
pub mod redirect;
pub mod resolver;

pub use classify::{Classification, TokenScope};
pub use compare::{AddressAnswers, AddressComparison, ComparedAnswer, ComparedField, Difference};
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

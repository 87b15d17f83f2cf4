//! DNS evidence engine for dcv-doctor: iterative resolution from root hints,
//! per-server answers, and DNSSEC validation with reasons as data.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dcv_dns::{DnsName, Engine, EngineConfig, RecordType};
//! let engine = Engine::new(EngineConfig::default());
//! let lookup = engine.lookup(&DnsName::parse("example.com")?, RecordType::CAA).await;
//! println!("{}", dcv_dns::render_trace(&lookup));
//! # Ok(()) }
//! ```
//!
//! hickory-proto stays private: every public type is this crate's own.

mod config;
mod dnssec;
mod engine;
mod evidence;
pub mod limits;
mod lookup;
mod security;
mod trace;
mod transport;
mod types;
mod wire;

pub use config::{
    AnchorKind, Clock, ConfigError, EngineConfig, IANA_ROOT_ANCHORS, IANA_ROOT_HINTS, RootHint,
    TrustAnchor, parse_root_hints, parse_trust_anchor,
};
pub use engine::Engine;
pub use evidence::{
    Exchange, ExchangeResult, ExtendedError, HeaderFlags, Protocol, RecordEvidence,
    ResponseEvidence, Section,
};
pub use lookup::{
    AliasKind, ChainLink, KeySummary, Lookup, NameServer, Outcome, ServFailReason, ServerAnswer,
    ServerVerdict, UnresolvedNs, ValidationStep, ZoneCut,
};
pub use security::{
    BogusReason, DenialKind, DsSummary, IndeterminateReason, InsecureReason, RrsetId, Security,
    ServerFailure, boulder_ede_summary,
};
pub use trace::render_trace;
pub use types::{DnsName, NameError, Rcode, RecordType, RecordTypeError};

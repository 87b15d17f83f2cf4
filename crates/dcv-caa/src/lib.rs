//! **dcv-caa**: CAA policy evaluation as a pure function, so that a CA (or a
//! tool predicting one) can test itself against RFC 8659, RFC 8657 and the
//! CA/B Forum Baseline Requirements 3.2.2.8 / 3.2.2.8.1.
//!
//! This crate owns:
//! - the CAA record as served ([`CaaRecord`], wire RDATA and presentation),
//! - the `issue` value grammar ([`IssueValue`], RFC 8659 §4.2),
//! - the Relevant RRset search over lookups it is given ([`evaluate`],
//!   RFC 8659 §3) and the BR lookup-failure rules,
//! - record evaluation ([`evaluate_rrset`], RFC 8659 §4, RFC 8657),
//! - suggested fixes ([`suggest_records`]).
//!
//! It never does I/O: the caller queries DNS and passes one [`CaaLookup`]
//! per name. It does not know which CAs exist either: the caller describes
//! the CA in a [`CaIdentity`].
//!
//! ```
//! use dcv_caa::{CaIdentity, CaaLookup, CaaRecord, Outcome, Request, ValidationMethod, evaluate};
//!
//! let ca = CaIdentity::new(["letsencrypt.org"]);
//! let request = Request::new("www.example.com", ValidationMethod::Http01);
//! let lookups = [
//!     ("www.example.com", CaaLookup::Empty),
//!     ("example.com", CaaLookup::Records(vec![CaaRecord::new(0, "issue", "pki.goog")])),
//! ];
//! let decision = evaluate(&request, &ca, &lookups);
//! assert_eq!(decision.outcome, Outcome::Deny);
//! assert_eq!(decision.relevant_name.as_deref(), Some("example.com"));
//! assert_eq!(decision.rule.citation(), "RFC 8659 §4.2");
//! ```
//!
//! # References
//!
//! - RFC 8659 — DNS Certification Authority Authorization (CAA) Resource
//!   Record (November 2019)
//! - RFC 8657 — CAA Record Extensions for Account URI and ACME Method
//!   Binding (November 2019)
//! - CA/Browser Forum TLS Baseline Requirements 3.2.2.8 and 3.2.2.8.1

mod decision;
mod escape;
mod evaluate;
mod lookup;
mod policy;
mod record;
mod suggest;
mod value;

pub use decision::{
    CaaDecision, ClimbStep, DecidingRecord, IgnoreReason, Outcome, ParsedValue, PropertyTag,
    ReasonCode, RecordVerdict, Rule, StepStatus,
};
pub use escape::{UnescapeError, escape_bytes, unescape};
pub use evaluate::{RrsetDecision, evaluate, evaluate_rrset};
pub use lookup::{AsNameLookup, CaaLookup, LookupSecurity, NameLookup};
pub use policy::{CaIdentity, FailurePolicy, IssuerMatch, Request, ValidationMethod};
pub use record::{CaaRecord, RdataError};
pub use suggest::suggest_records;
pub use value::{IssueValue, Parameter, ValueError, ValueErrorKind, parse_validation_methods};

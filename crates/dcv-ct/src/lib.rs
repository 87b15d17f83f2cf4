//! What only the CA's records know: how many certificates Let's Encrypt has
//! already issued for a set of names, read from Certificate Transparency
//! logs through a crt.sh-compatible search.
//!
//! Two layers, kept apart so the rules are testable from tables:
//! - pure: the crt.sh JSON model ([`model`]), Let's Encrypt's intermediates
//!   and issuer matching ([`issuer`]), name sets and registered domains
//!   ([`names`]), and the count itself ([`count`]): precertificate and
//!   final certificate counted once, the renewal exemption, and Boulder's
//!   token-bucket (GCRA) arithmetic for "the next one is possible at";
//! - I/O: [`client`], one bounded HTTP(S) GET per query (timeouts, body cap,
//!   row cap) that says "could not check" as a typed error, never a guess.
//!
//! Nothing here runs unless the user asks (`check --ct`): the search sends
//! the hostname to a third party.

pub mod client;
pub mod count;
pub mod issuer;
pub mod limits;
pub mod model;
pub mod names;

pub use client::{CtClient, CtError, CtErrorKind, CtSource};
pub use count::{Assessment, DomainAssessment, Issuance, LimitState, LimitStatus, assess};
pub use issuer::{Intermediate, IntermediateStatus, IssuerMatch, LETS_ENCRYPT_INTERMEDIATES};
pub use limits::RateLimit;
pub use model::CrtShEntry;
pub use names::{NameSet, covering_identifier};

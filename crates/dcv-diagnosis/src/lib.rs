//! Diagnosis: turns the evidence gathered by the DNS, CAA and HTTP probes into
//! findings with the CA's own message, the fix and who must act, and folds them
//! into a verdict per CA. Owns the report model and the finding and CA
//! catalogues. Performs no socket I/O itself: it drives the probe crates.

pub mod acme;
pub mod ca;
pub mod codes;
pub mod config;
pub mod evidence;
pub mod explain;
pub mod identifier;
pub mod messages;
pub mod model;
pub mod render;
pub mod request;
pub mod rules;
pub mod runner;

pub use ca::{CaId, CaProfile, CaResolver};
pub use codes::FindingCode;
pub use model::{
    CaVerdict, Evidence, Finding, Method, MethodVerdict, Report, Severity, Verdict, WhoFixes,
};

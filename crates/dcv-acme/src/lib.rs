//! Asking a real ACME CA (RFC 8555) what it says about a hostname, with a
//! well-kept client (`instant-acme`), never hand-written JWS:
//!
//! - [`client`]: an account (a throwaway key each run) and an order for the
//!   names; the authorizations and the challenge types the CA offers; its
//!   refusals as problem documents (rejectedIdentifier, caa, rateLimited);
//! - completing one real validation: [`publish`] writes the HTTP-01 response
//!   under a web root, [`dns_update`] publishes the DNS-01 TXT record with an
//!   RFC 2136 update signed with TSIG (RFC 8945); then the CA validates and
//!   its verdict comes back with its problem detail;
//! - [`http`]: every request the ACME client makes has a timeout and a body
//!   cap.
//!
//! Nothing runs unless the user passes `--acme-directory`.

pub mod client;
pub mod dns_update;
pub mod http;
pub mod limits;
pub mod publish;

pub use client::{
    AcmeClient, Authz, ChallengeKind, Failure, Offered, PendingOrder, Problem, Step, Verdict,
};
pub use dns_update::{DnsUpdateError, TsigKey};

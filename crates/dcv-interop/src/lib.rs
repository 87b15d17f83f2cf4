//! Agreement between dcv-doctor and real validators.
//!
//! A test-only crate (`publish = false`): it builds a real DNS world with Knot
//! (a private root, the TLD `lab.` and provider zones, DNSSEC-signed by Knot,
//! plus broken variants), a validating Unbound configured like Let's Encrypt's
//! resolver, `delv` for cross-checks, and Pebble (Let's Encrypt's test CA)
//! pointed at that Unbound. Its test (`tests/agreement.rs`) runs the real
//! `dcv-doctor check` and a real ACME order for every scenario and asserts they
//! agree. See `docs/interop.md`.
//!
//! Network safety: everything binds and connects inside 127.15.0.0/16 and
//! `fd5c:dc5:0:15::/64` ([`net`]); no lab name ever reaches the system resolver.

pub mod acme;
pub mod doctor;
pub mod net;
pub mod scenarios;
pub mod tools;
pub mod web;
pub mod world;
pub mod zones;

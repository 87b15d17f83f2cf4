//! The private-root test lab: real DNS and HTTP servers on loopback, described
//! declaratively, with fault knobs. Used by tests and by `dcv-doctor demo`.
//!
//! A [`Scenario`] lists zones ([`ZoneSpec`]: apex, serving servers, zone-file
//! lines, [`Signing`], [`ZoneFault`]s), servers ([`ServerSpec`] with a
//! [`Behaviour`]) and HTTP responders ([`http::ResponderSpec`]). [`Lab::start`]
//! gives every server and responder its own address in a 127.A.B.0/24 and
//! `fd5c:dc5:0:AB::/64` block private to that lab, builds each zone (SOA, apex
//! NS, delegation NS + glue and DS in the parent are generated), signs it with
//! fresh keys and serves it over UDP and TCP on one port.
//!
//! Fault knobs:
//! - zones: [`ZoneFault::RrsigExpired`], [`ZoneFault::RrsigNotYetValid`],
//!   [`ZoneFault::RrsigMissing`], [`ZoneFault::RrsigCorrupt`] (one RR set or all),
//!   [`ZoneFault::DsBadTag`], [`ZoneFault::DsBadDigest`],
//!   [`ZoneFault::DsAlgorithm`], [`ZoneFault::DsDigestType`], [`ZoneFault::NoDs`],
//!   [`ZoneFault::DnskeyOmitKsk`], [`ZoneFault::DnskeyOmitZsk`],
//!   [`ZoneFault::DnskeyNotSignedByKsk`], [`ZoneFault::DenialMissing`],
//!   [`ZoneFault::DenialCorrupt`], [`ZoneFault::NotDelegated`],
//!   [`ZoneFault::NoGlue`], [`ZoneFault::DsAnsweredFromChild`]; an unsigned child of a signed parent is an insecure
//!   delegation; [`Signing::Nsec3`] with high `iterations` is the RFC 9276 case;
//! - servers: [`Mode`] (`Timeout`, `ServFail`, `Refused`, `NotAuthoritative`)
//!   for everything, per zone ([`ZoneMode`]) or per query type ([`TypeMode`]);
//!   `truncate_udp` (TC over UDP, full answer over TCP); `delay_ms`;
//!   `edns_mode` (EDNS-intolerant: [`Mode::FormErr`] or silence for queries
//!   with an OPT record); `udp_loss` (a deterministic share of UDP queries
//!   dropped); `tcp_refused` (no TCP listener: connections are reset);
//! - keys: [`KeyAlgorithm`] per zone (8, 13, 14, 15);
//! - stale data: a second [`ZoneSpec`] with the same apex on another server;
//! - split-horizon / geo DNS: a copy marked [`ZoneSpec::for_view`] is what
//!   the clients of that [`ClientView`] (source prefixes) get from the same
//!   servers, signed with the same keys;
//! - network perspectives: [`netns`] puts a process in its own network
//!   namespace, with its own source address and an nftables egress filter;
//! - changes while a test runs: a copy marked [`ZoneSpec::from_stage`] is
//!   built and signed at start and served, on its servers, once
//!   [`Lab::enter_stage`] enters its stage (a record reaching one
//!   nameserver, then all);
//! - Certificate Transparency: [`ct`] answers crt.sh's JSON search from real
//!   certificates signed by test CAs.
//!
//! [`catalogue`] names ready-made scenarios after the extended-dns-errors.com
//! labels (`valid`, `no-ds`, `ds-bad-tag`, `rrsig-exp-a`, ...).
//!
//! ```no_run
//! # async fn demo() -> Result<(), dcv_lab::LabError> {
//! use dcv_lab::{Lab, Scenario, ServerSpec, Signing, ZoneSpec};
//! let scenario = Scenario::new("valid")
//!     .server(ServerSpec::new("ns.root."))
//!     .server(ServerSpec::new("ns.lab."))
//!     .server(ServerSpec::new("ns1.example.lab."))
//!     .zone(ZoneSpec::new(".").served_by("ns.root.").signed(Signing::Nsec))
//!     .zone(ZoneSpec::new("lab.").served_by("ns.lab.").signed(Signing::Nsec))
//!     .zone(
//!         ZoneSpec::new("example.lab.")
//!             .served_by("ns1.example.lab.")
//!             .signed(Signing::nsec3())
//!             .record("www A 192.0.2.1"),
//!     );
//! let lab = Lab::start(scenario).await?;
//! println!("{}", lab.root_hints_zone());
//! # Ok(()) }
//! ```

mod addr;
mod answer;
pub mod catalogue;
pub mod ct;
pub mod delv;
pub mod http;
mod keys;
mod lab;
pub mod netns;
pub mod scenario;
mod server;
pub mod silent;
pub mod unbound;
mod zone;

use std::net::SocketAddr;

pub use lab::{Lab, LabFiles, ipv6_available};
pub use scenario::{
    Behaviour, ClientView, KeyAlgorithm, Loss, Mode, RrsetSelector, Scenario, ServerSpec, Signing,
    TypeMode, UdpLoss, ZoneFault, ZoneMode, ZoneSpec,
};

/// Why a lab could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The scenario is inconsistent (unknown server, bad name, bad placeholder).
    #[error("lab scenario: {0}")]
    Spec(String),
    /// A zone-file line did not parse.
    #[error("zone {zone}: {message}")]
    Parse {
        /// Apex of the zone.
        zone: String,
        /// Parser message and the text it read.
        message: String,
    },
    /// Key generation or signing failed.
    #[error("DNSSEC: {0}")]
    Dnssec(String),
    /// A socket could not be bound.
    #[error("cannot bind {addr}: {source}{hint}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
        /// Extra advice (IPv6 setup).
        hint: &'static str,
    },
    /// A network namespace could not be made (not root, `ip` or `nft`
    /// missing, a command failed); the message says which and how to fix it.
    #[error("network namespace: {0}")]
    Netns(String),
}

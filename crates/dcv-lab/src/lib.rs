//! The private-root test lab: real DNS and HTTP servers on loopback, described
//! declaratively, with fault knobs. Used by tests and by `dcv-doctor demo`.
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
pub mod http;
mod lab;
pub mod scenario;
mod server;
mod zone;

use std::net::SocketAddr;

pub use lab::{Lab, LabFiles};
pub use scenario::{
    Behaviour, Mode, RrsetSelector, Scenario, ServerSpec, Signing, ZoneFault, ZoneMode, ZoneSpec,
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
}

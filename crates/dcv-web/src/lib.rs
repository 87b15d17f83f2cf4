//! `dcv-doctor serve`: the web face of dcv-doctor. A JSON API (versioned,
//! described by `OpenAPI`) and a server-rendered page on the same report
//! model as `check --format json`, a bounded worker pool, a history store
//! (`SQLite` or `PostgreSQL`) that survives restarts, per-client and per-domain
//! rate limits, metrics and health.
//!
//! A public checker is an open proxy unless told otherwise: without
//! `allow_private` the checks it runs never send a packet to a private,
//! loopback or reserved address (the MPIC agent's policy,
//! `dcv_diagnosis::request`).

pub mod api;
pub mod jobs;
pub mod metrics;
pub mod pages;
pub mod picture;
pub mod queue;
pub mod ratelimit;
pub mod server;
pub mod store;
pub mod views;

pub use jobs::{Corroborator, Fold, Profiles};
pub use server::{RunningServer, ServeConfig, StartError, start};

/// Structured logs on stderr (`RUST_LOG` filters, default `info`), as text
/// or one JSON object per line; each check's lines carry its `check_id`.
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

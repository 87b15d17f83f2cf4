//! Multi-Perspective Issuance Corroboration (CA/B Forum BR 3.2.2.9), split by
//! job:
//!
//! * [`agent`]: the **agent** (`dcv-doctor agent`), one remote network
//!   perspective serving `POST /v1/check` over TLS with a bearer token; it
//!   runs the check from where it is with its own fresh DNS engine (BR
//!   3.2.2.9: no cache shared between perspectives) and answers with the
//!   [`Report`] and its identity.
//! * [`client`]: the **coordinator** (`check --perspectives FILE` /
//!   `--perspective URL`), which runs the primary check here and asks every
//!   agent at once.
//! * The quorum per CA, method and check (CAA, DCV), the `mpic_*` and
//!   `perspective_unavailable` findings and the MPIC text live beside the
//!   other rules, in [`dcv_diagnosis::rules::mpic`] (no I/O there).
//!
//! This module holds what both sides share: the wire types of the exchange,
//! the TLS provider and the bearer-token rules.

pub mod agent;
pub mod client;

use dcv_diagnosis::Report;
use dcv_mpic::Rir;
use serde::{Deserialize, Serialize};

use crate::input_file::{FileError, InputFile};

pub use agent::{
    AgentConfig, DEFAULT_AGENT_CONCURRENCY, DEFAULT_AGENT_QUEUE, RunningAgent, run_agent,
    self_signed, start_agent,
};
pub use client::{
    MpicOptions, PerspectiveSpec, apply_answers, ask_perspectives, load_perspectives,
    perspective_from_url, post_raw, run_mpic_check,
};
pub use dcv_diagnosis::render::render_mpic_text;
pub use dcv_diagnosis::rules::mpic::{
    CLOUDFLARE_MPIC_CAA, CLOUDFLARE_MPIC_DCV, PerspectiveFailure, PerspectiveOutcome,
};

/// The one endpoint an agent serves.
pub const AGENT_PATH: &str = "/v1/check";
/// Largest check request an agent reads (a request is a few hundred bytes).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest agent answer the coordinator reads (a report with full evidence).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Environment variable holding the bearer token for `--perspective URL`.
pub const TOKEN_ENV: &str = "DCV_DOCTOR_AGENT_TOKEN";
/// Environment variable naming the PEM file that pins `--perspective URL` agents' certificates.
pub const CA_CERT_ENV: &str = "DCV_DOCTOR_AGENT_CA_CERT";
/// Shortest bearer token an agent accepts.
const MIN_TOKEN_LEN: usize = 16;

/// Who a perspective is: carried in every agent answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub region: String,
    pub rir: Rir,
}

/// The body of `POST /v1/check`: what to check, never how to reach DNS (the
/// agent uses its own root hints and resolver, from where it is). Shared with
/// the web service (`dcv_diagnosis::request`).
pub use dcv_diagnosis::request::CheckRequest;

/// A successful agent answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResponse {
    pub perspective: Identity,
    pub report: Report,
}

/// An agent's refusal, with a status other than 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perspective: Option<Identity>,
}

/// The TLS provider both sides use.
fn ring() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// A bearer token file: at least [`MIN_TOKEN_LEN`] printable characters.
fn read_token(file: &InputFile<'_>) -> Result<String, FileError> {
    let token = file.read_text()?.trim().to_owned();
    if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(file.malformed(format_args!(
            "the token must be at least {MIN_TOKEN_LEN} printable characters"
        )));
    }
    Ok(token)
}

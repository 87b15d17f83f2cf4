//! BIND's `delv` (9.18) as a second validator, for a sample of worlds (one
//! process per question is too slow for every world).
//!
//! delv never sets CD, so behind a validating resolver it only sees SERVFAIL;
//! it is pointed at the batch's non-validating Unbound (iterator only), which
//! passes signatures through, and validates from the lab's root DS itself
//! (`-a` file with a `trust-anchors { . static-ds ... }` clause). Running and
//! reading delv is [`dcv_lab::delv`], shared with dcv-dns's delv
//! differential test.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use dcv_lab::delv::{DelvQuestion, read_verdict};
pub use dcv_lab::delv::{DelvVerdict, anchor_file_text};
use serde::Serialize;

use crate::tools;
use crate::verdict::{Status, Verdict};

/// Wall-clock bound on one delv run (its resolver gives up far sooner).
pub const DELV_DEADLINE: Duration = Duration::from_secs(60);

/// The engine's verdict in delv's classes (bogus apart from other failures).
pub fn ours_as_delv(ours: &Verdict) -> DelvVerdict {
    let kind = match ours.status {
        Status::NoError => "NOERROR",
        Status::NxDomain => "NXDOMAIN",
        Status::Fail if ours.bogus => return DelvVerdict::Bogus,
        Status::Fail => return DelvVerdict::ServFail,
    };
    if ours.secure {
        DelvVerdict::Secure(kind)
    } else {
        DelvVerdict::Insecure(kind)
    }
}

/// What one delv run printed.
#[derive(Debug, Clone, Serialize)]
pub struct DelvRun {
    pub verdict: DelvVerdict,
    /// The `+vtrace` output's last lines (evidence for a divergence).
    pub trace_tail: String,
    /// Whether the trace shows BIND's opt-out reading (RFC 5155 §9.2).
    pub saw_opt_out: bool,
}

/// Runs delv for one question (blocking; call from `spawn_blocking`).
pub fn run(server: IpAddr, anchors: &Path, dir: &Path, qname: &str, qtype: &str) -> DelvRun {
    let unreadable = |why: String| DelvRun {
        verdict: DelvVerdict::Unreadable(why),
        trace_tail: String::new(),
        saw_opt_out: false,
    };
    let program = match tools::require("delv") {
        Ok(p) => p,
        Err(e) => return unreadable(e.to_string()),
    };
    let question = DelvQuestion {
        program: &program,
        server,
        anchors: Some(anchors),
        qname,
        qtype,
        deadline: DELV_DEADLINE,
    };
    let out = match dcv_lab::delv::run(&question, dir) {
        Ok(out) => out,
        Err(e) => return unreadable(format!("cannot run delv in {}: {e}", dir.display())),
    };
    let lines: Vec<&str> = out.trace.lines().collect();
    DelvRun {
        verdict: read_verdict(&out.stdout, &out.trace, true),
        trace_tail: lines[lines.len().saturating_sub(12)..].join("\n"),
        saw_opt_out: out.trace.contains("NSEC3 indicates optout")
            && out.trace.contains("nonexistence proof(s) found"),
    }
}

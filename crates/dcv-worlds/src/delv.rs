//! BIND's `delv` (9.18) as a second validator, for a sample of worlds (one
//! process per question is too slow for every world).
//!
//! delv never sets CD, so behind a validating resolver it only sees SERVFAIL;
//! it is pointed at the batch's non-validating Unbound (iterator only), which
//! passes signatures through, and validates from the lab's root DS itself
//! (`-a` file with a `trust-anchors { . static-ds ... }` clause). How its
//! output is read is `dcv-dns/tests/delv_differential.rs`'s reading.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::tools;
use crate::verdict::{Status, Verdict};

/// Wall-clock bound on one delv run (its resolver gives up far sooner).
pub const DELV_DEADLINE: Duration = Duration::from_secs(60);

/// delv's verdict class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DelvVerdict {
    /// `; fully validated` (answer or negative response).
    Secure(&'static str),
    /// `; unsigned answer`.
    Insecure(&'static str),
    /// A validator failure (`broken trust chain`, `no valid signature`, ...).
    Bogus,
    /// The resolver behind delv failed (`failure`, `timed out`).
    ServFail,
    /// Output this reading does not know.
    Unreadable(String),
}

impl fmt::Display for DelvVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure(k) => write!(f, "Secure({k})"),
            Self::Insecure(k) => write!(f, "Insecure({k})"),
            Self::Bogus => f.write_str("Bogus"),
            Self::ServFail => f.write_str("SERVFAIL"),
            Self::Unreadable(s) => write!(f, "Unreadable({s})"),
        }
    }
}

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

/// Reads delv's stdout (status comment before the data) and stderr (`;;
/// resolution failed: <result>`, the `+vtrace` lines).
pub fn read_verdict(stdout: &str, stderr: &str) -> DelvVerdict {
    let nx = stderr.contains("resolution failed: ncache nxdomain");
    let kind = if nx { "NXDOMAIN" } else { "NOERROR" };
    let status = stdout.lines().find(|l| l.starts_with("; ")).unwrap_or("");
    match status {
        "; fully validated" | "; negative response, fully validated" => {
            return DelvVerdict::Secure(kind);
        }
        "; unsigned answer" | "; negative response, unsigned answer" => {
            return DelvVerdict::Insecure(kind);
        }
        _ => {}
    }
    let Some(result) = stderr
        .lines()
        .find_map(|l| l.strip_prefix(";; resolution failed: "))
    else {
        return DelvVerdict::Unreadable(format!("stdout {status:?}, no result on stderr"));
    };
    match result.trim() {
        "failure" | "SERVFAIL" | "timed out" | "no servers could be reached" => {
            DelvVerdict::ServFail
        }
        "broken trust chain"
        | "RRSIG failed to verify"
        | "no valid NSEC"
        | "no valid signature found"
        | "no valid RRSIG"
        | "no valid DS"
        | "no valid KEY"
        | "insecurity proof failed"
        | "RRSIG has expired"
        | "RRSIG validity period has not begun"
        | "no DNSKEY matching DS"
        | "not insecure"
        | "must-be-secure" => DelvVerdict::Bogus,
        other => DelvVerdict::Unreadable(format!("resolution failed: {other}")),
    }
}

/// `trust-anchors { . static-ds <tag> <alg> <digest-type> "<hex>"; };` from a
/// root DS zone-file line.
pub fn anchor_file_text(ds_line: &str) -> Option<String> {
    let fields: Vec<&str> = ds_line.split_whitespace().collect();
    let ds = fields.iter().position(|f| f.eq_ignore_ascii_case("DS"))?;
    let [tag, alg, digest_type, hex @ ..] = fields.get(ds + 1..)? else {
        return None;
    };
    Some(format!(
        "trust-anchors {{\n    . static-ds {tag} {alg} {digest_type} \"{}\";\n}};\n",
        hex.concat()
    ))
}

/// A child killed (by its own pid) and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
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
    let tag = format!("{qname}-{qtype}-{}", std::process::id());
    let out_path = dir.join(format!("delv-{tag}.out"));
    let err_path = dir.join(format!("delv-{tag}.err"));
    let (Ok(out), Ok(err)) = (File::create(&out_path), File::create(&err_path)) else {
        return unreadable(format!("cannot write in {}", dir.display()));
    };
    let child = Command::new(program)
        .arg(format!("@{server}"))
        .args(["-p", "53", "-a"])
        .arg(anchors)
        .args(["+root=.", "+vtrace", qname, qtype])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn();
    let mut delv = match child {
        Ok(c) => Reaped(c),
        Err(e) => return unreadable(format!("cannot start delv: {e}")),
    };
    let deadline = Instant::now() + DELV_DEADLINE;
    while matches!(delv.0.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = matches!(delv.0.try_wait(), Ok(None));
    drop(delv);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    if killed {
        let _ = writeln!(stderr, ";; (killed after {DELV_DEADLINE:?})");
    }
    let lines: Vec<&str> = stderr.lines().collect();
    DelvRun {
        verdict: read_verdict(&stdout, &stderr),
        trace_tail: lines[lines.len().saturating_sub(12)..].join("\n"),
        saw_opt_out: stderr.contains("NSEC3 indicates optout")
            && stderr.contains("nonexistence proof(s) found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delv_output_is_read_as_verdicts() {
        assert_eq!(
            read_verdict("; fully validated\nwww. 300 IN A 192.0.2.1\n", ""),
            DelvVerdict::Secure("NOERROR")
        );
        assert_eq!(
            read_verdict(
                "; negative response, unsigned answer\n",
                ";; resolution failed: ncache nxdomain\n"
            ),
            DelvVerdict::Insecure("NXDOMAIN")
        );
        assert_eq!(
            read_verdict("", ";; resolution failed: broken trust chain\n"),
            DelvVerdict::Bogus
        );
        assert_eq!(
            read_verdict("", ";; resolution failed: failure\n"),
            DelvVerdict::ServFail
        );
        assert!(matches!(read_verdict("", ""), DelvVerdict::Unreadable(_)));
    }

    #[test]
    fn anchor_text_from_a_ds_line() {
        let text = anchor_file_text(". 86400 IN DS 12345 8 2 AABB CCDD").unwrap();
        assert!(
            text.contains(". static-ds 12345 8 2 \"AABBCCDD\";"),
            "{text}"
        );
        assert!(anchor_file_text(". IN A 1.2.3.4").is_none());
    }
}

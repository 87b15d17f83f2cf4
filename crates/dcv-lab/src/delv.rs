//! BIND's `delv` as an oracle validator: running it on one question and
//! reading its verdict. Shared by the dcv-dns differential test and the
//! generated-worlds harness, so both read delv the same way.
//!
//! delv prints a status comment on stdout (`; fully validated`, `; unsigned
//! answer`, ...) and, when resolution fails, `;; resolution failed:
//! <result>` on stderr with the `+vtrace` lines. Validator results (BIND
//! lib/dns/validator.c, lib/isc/result.c) are bogus; a failed fetch through
//! the resolver behind it (`failure` is how delv reports its SERVFAIL,
//! `timed out`) is SERVFAIL.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// delv's verdict class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DelvVerdict {
    /// `; fully validated` (answer or negative response): `NOERROR` or
    /// `NXDOMAIN`.
    Secure(&'static str),
    /// `; unsigned answer`, or no anchor covers the name.
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

/// Reads delv's stdout and stderr. `anchored`: whether delv had a trust
/// anchor for the name; without one, "answer not validated" is insecure, as
/// a validator without an anchor answers without AD.
pub fn read_verdict(stdout: &str, stderr: &str, anchored: bool) -> DelvVerdict {
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
        "; answer not validated" | "; negative response, answer not validated" if !anchored => {
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
/// root DS zone-file line (`. TTL IN DS tag alg type hex`); `None` if the
/// line is not one.
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

/// A child killed (by its own pid) and reaped when dropped, also on a panic.
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
#[derive(Debug, Clone)]
pub struct DelvOutput {
    pub stdout: String,
    /// stderr: the `+vtrace` lines and the result, with a last line saying
    /// so when delv was killed at the deadline.
    pub trace: String,
    pub killed: bool,
}

/// One delv question, for [`run`].
#[derive(Debug)]
pub struct DelvQuestion<'a> {
    /// The delv program (its full path).
    pub program: &'a Path,
    /// The (non-validating) resolver delv asks, on port 53.
    pub server: IpAddr,
    /// The `-a` trust-anchor file; `None`: `+noroot`, no anchor at all (an
    /// unsigned lab root), instead of BIND's built-in IANA root key.
    pub anchors: Option<&'a Path>,
    pub qname: &'a str,
    pub qtype: &'a str,
    /// Killed past this (its own resolver gives up far sooner).
    pub deadline: Duration,
}

/// Runs delv for one question with `+vtrace` (blocking; from async code call
/// it in `spawn_blocking`). Output goes to files in `dir` (so the trace
/// cannot fill a pipe), removed after reading.
pub fn run(q: &DelvQuestion<'_>, dir: &Path) -> std::io::Result<DelvOutput> {
    let tag = format!("{}-{}-{}", q.qname, q.qtype, std::process::id());
    let out_path = dir.join(format!("delv-{tag}.out"));
    let err_path = dir.join(format!("delv-{tag}.err"));
    let mut cmd = Command::new(q.program);
    cmd.arg(format!("@{}", q.server)).args(["-p", "53"]);
    match q.anchors {
        Some(file) => {
            cmd.arg("-a").arg(file).arg("+root=.");
        }
        None => {
            cmd.arg("+noroot");
        }
    }
    let mut delv = Reaped(
        cmd.args(["+vtrace", q.qname, q.qtype])
            .stdin(Stdio::null())
            .stdout(File::create(&out_path)?)
            .stderr(File::create(&err_path)?)
            .spawn()?,
    );
    let deadline = Instant::now() + q.deadline;
    while matches!(delv.0.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = matches!(delv.0.try_wait(), Ok(None));
    drop(delv);
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut trace = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    if killed {
        let _ = writeln!(trace, ";; (killed after {:?})", q.deadline);
    }
    Ok(DelvOutput {
        stdout,
        trace,
        killed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delv_output_is_read_as_verdicts() {
        assert_eq!(
            read_verdict("; fully validated\nwww. 300 IN A 192.0.2.1\n", "", true),
            DelvVerdict::Secure("NOERROR")
        );
        assert_eq!(
            read_verdict(
                "; negative response, unsigned answer\n",
                ";; resolution failed: ncache nxdomain\n",
                true
            ),
            DelvVerdict::Insecure("NXDOMAIN")
        );
        assert_eq!(
            read_verdict("", ";; resolution failed: broken trust chain\n", true),
            DelvVerdict::Bogus
        );
        assert_eq!(
            read_verdict("", ";; resolution failed: failure\n", true),
            DelvVerdict::ServFail
        );
        assert!(matches!(
            read_verdict("", "", true),
            DelvVerdict::Unreadable(_)
        ));
        // Without an anchor for the name, not validated is insecure.
        assert_eq!(
            read_verdict("; answer not validated\n", "", false),
            DelvVerdict::Insecure("NOERROR")
        );
        assert!(matches!(
            read_verdict("; answer not validated\n", "", true),
            DelvVerdict::Unreadable(_)
        ));
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

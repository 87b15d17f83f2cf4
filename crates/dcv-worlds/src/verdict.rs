//! Verdicts as a CA's resolver hands them over, and how each side's result
//! is read as one.
//!
//! The mapping (what "agree" means):
//! - **status**: NOERROR (an answer, or NODATA), NXDOMAIN, or failure.
//!   Unbound answers SERVFAIL for bogus data (RFC 4035 §5.5) and for
//!   unreachable or broken servers; the engine's `Outcome::ServFail`, and any
//!   `Security::Bogus` or `Indeterminate` outcome (a validating resolver could
//!   not answer either), read as failure. No reply from Unbound within the
//!   deadline is a failure too (what a CA's client sees as a timeout).
//! - **secure**: Unbound's AD bit (RFC 4035 §3.2.3, set only for data it
//!   validated) against the engine's `Security::Secure`; compared only when
//!   both answered.
//! - **answer**: the RRset of the asked type at the end of any CNAME chain
//!   (owner and RDATA bytes, TTLs ignored); compared only for NOERROR.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use dcv_dns::{Lookup, Outcome, Security};
use serde::Serialize;

use crate::stub::{Reply, Rr, StubError, rdata_text};

/// The outcome class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// NOERROR, with or without data.
    NoError,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL (or another failure RCODE, or no reply).
    Fail,
}

/// What one resolver said, in the terms the comparison uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub status: Status,
    /// Validated (AD / `Security::Secure`); false for failures.
    pub secure: bool,
    /// The final RRset of the asked type (empty for NODATA and failures).
    #[serde(serialize_with = "serialize_rrs")]
    pub answer: BTreeSet<Rr>,
    /// The failure is a DNSSEC validation failure (engine: `Bogus`;
    /// Unbound: an RFC 8914 DNSSEC EDE, codes 6-12). Not compared with
    /// Unbound (it sends EDE only on its first answer); delv's classes use it.
    pub bogus: bool,
    /// Why, for printouts: the engine's reason or Unbound's RCODE and EDE.
    pub detail: String,
}

fn serialize_rrs<S: serde::Serializer>(rrs: &BTreeSet<Rr>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        rrs.iter()
            .map(|r| format!("{} {} {}", r.owner, r.rtype, rdata_text(r.rtype, &r.rdata))),
    )
}

impl Verdict {
    /// Whether two verdicts agree under the mapping above.
    pub fn agrees(&self, other: &Verdict) -> bool {
        match (self.status, other.status) {
            (Status::Fail, Status::Fail) => true,
            (a, b) if a != b => false,
            (Status::NoError, _) => self.secure == other.secure && self.answer == other.answer,
            _ => self.secure == other.secure,
        }
    }

    /// Same status and, for NOERROR, the same RRset (security ignored).
    pub fn agrees_data(&self, other: &Verdict) -> bool {
        self.status == other.status
            && (self.status != Status::NoError || self.answer == other.answer)
    }

    /// Short form: `NOERROR+AD`, `NODATA`, `NXDOMAIN`, `SERVFAIL`.
    pub fn short(&self) -> String {
        let status = match self.status {
            Status::NoError if self.answer.is_empty() => "NODATA",
            Status::NoError => "NOERROR",
            Status::NxDomain => "NXDOMAIN",
            Status::Fail => return "SERVFAIL".to_owned(),
        };
        let ad = if self.secure { "+AD" } else { "" };
        format!("{status}{ad}")
    }

    /// The short form plus the records and the reason.
    pub fn long(&self) -> String {
        let rrs: Vec<String> = self
            .answer
            .iter()
            .map(|r| format!("{} {}", r.owner, rdata_text(r.rtype, &r.rdata)))
            .collect();
        let mut out = self.short();
        if !rrs.is_empty() {
            let _ = write!(out, " [{}]", rrs.join(", "));
        }
        if !self.detail.is_empty() {
            let _ = write!(out, " ({})", self.detail);
        }
        out
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.long())
    }
}

/// The engine's lookup read as a resolver's verdict.
pub fn from_lookup(lookup: &Lookup, qtype: u16) -> Verdict {
    let failed_security = matches!(
        lookup.security,
        Security::Bogus(_) | Security::Indeterminate(_)
    );
    let (status, detail) = match &lookup.outcome {
        Outcome::ServFail { why } => (Status::Fail, why.to_string()),
        _ if failed_security => (Status::Fail, security_detail(&lookup.security)),
        Outcome::NxDomain => (Status::NxDomain, security_detail(&lookup.security)),
        Outcome::Answer { .. } | Outcome::NoData => {
            (Status::NoError, security_detail(&lookup.security))
        }
    };
    let answer = if status == Status::NoError {
        lookup
            .records()
            .iter()
            .filter(|r| r.rtype.0 == qtype)
            .map(|r| Rr {
                owner: r.name.as_str().to_ascii_lowercase(),
                rtype: r.rtype.0,
                rdata: r.wire_rdata.clone(),
            })
            .collect()
    } else {
        BTreeSet::new()
    };
    let bogus = matches!(lookup.security, Security::Bogus(_))
        || matches!(
            lookup.outcome,
            Outcome::ServFail {
                why: dcv_dns::ServFailReason::Bogus(_)
            }
        );
    Verdict {
        status,
        secure: status != Status::Fail && matches!(lookup.security, Security::Secure),
        answer,
        bogus: status == Status::Fail && bogus,
        detail,
    }
}

fn security_detail(security: &Security) -> String {
    match security {
        Security::Secure => "secure".to_owned(),
        Security::Insecure(r) => format!("insecure: {r}"),
        Security::Bogus(r) => format!("bogus: {r}"),
        Security::Indeterminate(r) => format!("indeterminate: {r}"),
    }
}

/// Unbound's reply (or its silence) read as a verdict.
pub fn from_reply(reply: &Result<Reply, StubError>, qtype: u16) -> Verdict {
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            return Verdict {
                status: Status::Fail,
                secure: false,
                answer: BTreeSet::new(),
                bogus: false,
                detail: e.to_string(),
            };
        }
    };
    let status = match reply.rcode {
        0 => Status::NoError,
        3 => Status::NxDomain,
        _ => Status::Fail,
    };
    let mut detail = rcode_name(reply.rcode).to_owned();
    if !reply.ede.is_empty() {
        let codes: Vec<String> = reply.ede.iter().map(ToString::to_string).collect();
        let _ = write!(detail, ", EDE {}", codes.join(","));
    }
    Verdict {
        status,
        secure: status != Status::Fail && reply.ad,
        answer: if status == Status::NoError {
            reply
                .answer
                .iter()
                .filter(|r| r.rtype == qtype)
                .cloned()
                .collect()
        } else {
            BTreeSet::new()
        },
        bogus: status == Status::Fail && reply.ede.iter().any(|c| (6..=12).contains(c)),
        detail,
    }
}

/// RFC 1035 §4.1.1 / RFC 6895 names of the RCODEs seen here.
pub fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "other RCODE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(status: Status, secure: bool, rrs: &[u8]) -> Verdict {
        Verdict {
            status,
            secure,
            answer: rrs
                .iter()
                .map(|b| Rr {
                    owner: "www.w1.".into(),
                    rtype: 1,
                    rdata: vec![192, 0, 2, *b],
                })
                .collect(),
            bogus: false,
            detail: String::new(),
        }
    }

    #[test]
    fn agreement_follows_the_mapping() {
        assert!(v(Status::Fail, false, &[]).agrees(&v(Status::Fail, false, &[])));
        assert!(v(Status::NoError, true, &[1]).agrees(&v(Status::NoError, true, &[1])));
        assert!(!v(Status::NoError, true, &[1]).agrees(&v(Status::NoError, false, &[1])));
        assert!(!v(Status::NoError, true, &[1]).agrees(&v(Status::NoError, true, &[2])));
        assert!(!v(Status::NxDomain, false, &[]).agrees(&v(Status::NoError, false, &[])));
        assert!(!v(Status::NxDomain, true, &[]).agrees(&v(Status::NxDomain, false, &[])));
        assert_eq!(v(Status::NoError, true, &[1]).short(), "NOERROR+AD");
        assert_eq!(v(Status::NoError, false, &[]).short(), "NODATA");
    }

    #[test]
    fn unbound_replies_read_as_verdicts() {
        let reply = Reply {
            rcode: 2,
            ad: false,
            aa: false,
            answer: Vec::new(),
            ede: vec![6],
        };
        let verdict = from_reply(&Ok(reply), 1);
        assert_eq!(verdict.status, Status::Fail);
        assert_eq!(verdict.detail, "SERVFAIL, EDE 6");
        let silent = from_reply(
            &Err(StubError::Timeout(std::time::Duration::from_secs(1))),
            1,
        );
        assert_eq!(silent.status, Status::Fail);
    }
}

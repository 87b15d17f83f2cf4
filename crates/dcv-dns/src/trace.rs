//! Human-readable rendering of a [`Lookup`], in the spirit of
//! `dig +trace +dnssec`: zone cuts root first, each server's answer, the chain
//! of trust with key tags, then the resolver-view outcome.

use std::fmt::Write;

use crate::{
    evidence::ExchangeResult,
    lookup::{CutSource, Lookup, Outcome, ServerVerdict},
    security::Security,
};

/// Renders the walk of `lookup` as text (backs `dcv-doctor dns NAME TYPE`).
pub fn render_trace(lookup: &Lookup) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = render(lookup, &mut out);
    out
}

fn render(l: &Lookup, out: &mut String) -> std::fmt::Result {
    writeln!(out, ";; dcv-dns trace: {} {}", l.qname, l.qtype)?;
    writeln!(out)?;
    for cut in &l.zone_cuts {
        write!(out, ";; zone {}", cut.zone)?;
        match (&cut.parent, cut.found_by) {
            (None, _) => write!(out, " (root hints)")?,
            (Some(p), CutSource::Referral | CutSource::RootHints) => {
                write!(out, " (delegated by {p}")?;
                if let Some(by) = cut.referred_by {
                    write!(out, " via {}", by.ip())?;
                }
                write!(out, ")")?;
            }
            // Parent and child on the same servers: no referral came.
            (Some(p), found) => write!(
                out,
                " (cut below {p} found by {}, no referral: served by the same servers)",
                found.label()
            )?,
        }
        writeln!(out)?;
        for ns in &cut.ns_names {
            writeln!(out, "{:<32} NS    {ns}", cut.zone)?;
        }
        for s in &cut.servers {
            let src = if s.glue { "glue" } else { "resolved" };
            writeln!(out, ";;   server {:<24} {:<40} ({src})", s.name, s.addr)?;
        }
        for u in &cut.unresolved {
            writeln!(out, ";;   server {:<24} UNRESOLVED: {}", u.name, u.reason)?;
        }
    }
    writeln!(out)?;
    writeln!(out, ";; answers per server")?;
    for a in &l.server_answers {
        let mark = if a.chosen { "*" } else { " " };
        let latency = l
            .exchanges
            .iter()
            .rev()
            .find(|e| e.server == a.server.addr && e.qname == a.qname && e.qtype == a.qtype)
            // A server the policy refused was never sent a packet: no latency.
            .filter(|e| !matches!(e.result, ExchangeResult::NotQueried { .. }))
            .map(|e| {
                let ede: Vec<String> = match &e.result {
                    ExchangeResult::Response(r) => r
                        .extended_errors
                        .iter()
                        .map(|x| format!(" EDE {} {:?}", x.info_code, x.extra_text))
                        .collect(),
                    _ => Vec::new(),
                };
                format!(
                    " [{} {:.1} ms{}]",
                    e.protocol,
                    e.latency.as_secs_f64() * 1000.0,
                    ede.concat()
                )
            })
            .unwrap_or_default();
        let aa = if a.authoritative || matches!(a.verdict, ServerVerdict::Referral { .. }) {
            ""
        } else if a.verdict.is_usable() {
            " (no AA: lame)"
        } else {
            ""
        };
        writeln!(
            out,
            "{mark} {} {} @{} ({}): {}{aa}{latency}",
            a.qname,
            a.qtype,
            a.server.addr,
            a.server.name,
            verdict_text(&a.verdict)
        )?;
        if let ServerVerdict::Answer { records } = &a.verdict {
            for r in records {
                writeln!(
                    out,
                    "      {:<30} {:>6} {:<6} {}",
                    r.name, r.ttl, r.rtype, r.rdata
                )?;
            }
        }
    }
    if !l.validation.is_empty() {
        writeln!(out)?;
        writeln!(out, ";; chain of trust")?;
        for step in &l.validation {
            let ds: Vec<String> = step.ds.iter().map(ToString::to_string).collect();
            let source = match &step.parent {
                _ if step.anchored => "trust anchor".to_owned(),
                Some(p) => format!("DS in {p}"),
                None => "DS".to_owned(),
            };
            writeln!(
                out,
                ";; {:<20} {source} [{}] -> {}",
                step.zone,
                ds.join(", "),
                status(&step.security)
            )?;
            for k in &step.dnskeys {
                writeln!(
                    out,
                    ";;     DNSKEY {:>5} flags {} alg {}{}{}",
                    k.key_tag,
                    k.flags,
                    k.algorithm,
                    if k.matches_ds { " matches-DS" } else { "" },
                    if k.signs_dnskey_rrset {
                        " signs-DNSKEY"
                    } else {
                        ""
                    }
                )?;
            }
        }
    }
    if !l.chain.is_empty() {
        writeln!(out)?;
        writeln!(out, ";; aliases")?;
        for c in &l.chain {
            writeln!(
                out,
                ";; {} {:?} {} (zone {}, {})",
                c.owner,
                c.kind,
                c.target,
                c.zone,
                status(&c.security)
            )?;
        }
    }
    writeln!(out)?;
    match &l.outcome {
        Outcome::Answer { records } => {
            writeln!(out, ";; resolver view: answer")?;
            for r in records {
                writeln!(
                    out,
                    "{:<32} {:>6} {:<6} {}",
                    r.name, r.ttl, r.rtype, r.rdata
                )?;
            }
        }
        Outcome::ServFail { why } => writeln!(out, ";; resolver view: SERVFAIL ({why})")?,
        other => writeln!(out, ";; resolver view: {}", other.label())?,
    }
    writeln!(out, ";; DNSSEC: {}", l.security)?;
    if let Security::Bogus(r) = &l.security {
        writeln!(
            out,
            ";; EDE {} -> {}",
            r.ede_code(),
            r.boulder_problem(l.qtype, &l.qname)
        )?;
    }
    writeln!(out, ";; {} exchanges", l.exchanges.len())
}

fn status(s: &Security) -> String {
    match s {
        Security::Secure => "secure".into(),
        other => other.to_string(),
    }
}

fn verdict_text(v: &ServerVerdict) -> String {
    match v {
        ServerVerdict::Answer { records } => format!("answer ({} records)", records.len()),
        ServerVerdict::NxDomain => "NXDOMAIN".into(),
        ServerVerdict::NoData => "NODATA".into(),
        ServerVerdict::Referral { zone, ns } => {
            let ns: Vec<&str> = ns.iter().map(crate::types::DnsName::as_str).collect();
            format!("referral to {zone} ({})", ns.join(" "))
        }
        other => other.failure_text(),
    }
}

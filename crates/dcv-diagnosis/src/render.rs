//! The text report for people. Styles are ANSI escapes from `anstyle`; the
//! binary writes through `anstream`, which strips them when stdout is not a
//! terminal or `NO_COLOR` is set, so this module never checks the terminal.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Effects, Style};

use crate::evidence::{
    CaaEvidence, DnsLookupEvidence, DnsPathsEvidence, DnsTimingEvidence, HttpEvidence,
    UnfinishedEvidence, VantageEvidence,
};
use crate::model::{Evidence, Finding, Report, Severity, Verdict};

const BOLD: Style = Style::new().effects(Effects::BOLD);
const RED: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
    .effects(Effects::BOLD);
const YELLOW: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)))
    .effects(Effects::BOLD);
const GREEN: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)))
    .effects(Effects::BOLD);
const DIM: Style = Style::new().effects(Effects::DIMMED);

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// Renders a report. `verbose` adds the evidence behind every finding.
pub fn render_text(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    let (style, word) = match report.verdict {
        Verdict::Pass => (GREEN, "PASS"),
        Verdict::Warn => (YELLOW, "WARN"),
        Verdict::Fail => (RED, "FAIL"),
        Verdict::CouldNotCheck => (YELLOW, "COULD NOT CHECK"),
    };
    let methods: Vec<String> = report.method.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "{} {} (method: {})",
        paint(style, word),
        paint(BOLD, &report.hostname),
        methods.join("+")
    );
    for v in &report.ca_verdicts {
        let per_method: Vec<String> = v
            .methods
            .iter()
            .map(|m| {
                if m.would_validate {
                    format!("{}: ok", m.method)
                } else {
                    let codes: Vec<&str> = m.blocked_by.iter().map(|c| c.as_str()).collect();
                    format!("{}: blocked by {}", m.method, codes.join(", "))
                }
            })
            .collect();
        let mark = if v.would_validate {
            paint(GREEN, "would validate")
        } else {
            paint(RED, "would fail")
        };
        let _ = writeln!(
            out,
            "  {:<22} {mark}  ({})",
            v.ca.profile().name,
            per_method.join("; ")
        );
    }
    for severity in [Severity::Error, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        let (style, title) = match severity {
            Severity::Error => (RED, "Errors"),
            Severity::Warning => (YELLOW, "Warnings"),
            Severity::Info => (BOLD, "Info"),
        };
        let _ = writeln!(out, "\n{}", paint(style, title));
        for f in group {
            render_finding(&mut out, f, verbose);
        }
    }
    if !verbose && report.findings.iter().any(|f| !f.evidence.is_empty()) {
        let _ = writeln!(
            out,
            "\n{}",
            paint(DIM, "(run with -v to see the evidence behind each finding)")
        );
    }
    out
}

fn render_finding(out: &mut String, f: &Finding, verbose: bool) {
    let _ = writeln!(out, "  [{}] {}", paint(BOLD, f.code.as_str()), f.summary);
    if let Some(msg) = &f.ca_message {
        let _ = writeln!(out, "      CA says:    {msg}");
    }
    if let Some(detail) = &f.acme_detail {
        let _ = writeln!(out, "      ACME error: {detail}");
    }
    let _ = writeln!(out, "      Why:        {}", f.explanation);
    let _ = writeln!(out, "      Fix:        {}", indent_continuation(&f.fix, 18));
    let _ = writeln!(out, "      Who fixes:  {}", f.who_fixes);
    if !f.blocks.is_empty() {
        let cas: Vec<&str> = f.blocks.iter().map(|c| c.as_str()).collect();
        let _ = writeln!(out, "      Blocks:     {}", cas.join(", "));
    }
    let _ = writeln!(
        out,
        "      {}",
        paint(DIM, &format!("Rests on: {}", f.reference))
    );
    if verbose {
        for e in &f.evidence {
            render_evidence(out, e);
        }
    }
}

fn indent_continuation(text: &str, width: usize) -> String {
    text.replace('\n', &format!("\n{}", " ".repeat(width)))
}

fn render_evidence(out: &mut String, e: &Evidence) {
    match e {
        Evidence::DnsLookup(d) => render_dns(out, d),
        Evidence::DnsPaths(p) => render_paths(out, p),
        Evidence::Caa(c) => render_caa(out, c),
        Evidence::Http(h) => render_http(out, h),
        Evidence::Unfinished(u) => render_unfinished(out, u),
        Evidence::DnsTiming(t) => render_timing(out, t),
        Evidence::Vantage(v) => render_vantage(out, v),
        Evidence::Identifier { name, problem } => {
            let _ = writeln!(out, "      evidence: identifier {name}: {problem}");
        }
        Evidence::Address {
            address,
            range,
            reference,
            met_as,
        } => {
            let _ = writeln!(
                out,
                "      evidence: {address} ({met_as}) is in {range} [{reference}]"
            );
        }
        Evidence::CtLimit(c) => render_ct_limit(out, c),
        Evidence::CtFailure(c) => {
            let _ = writeln!(
                out,
                "      evidence: CT search {} failed ({}): {}",
                c.url, c.failure, c.detail
            );
        }
        Evidence::Acme(a) => render_acme(out, a),
    }
}

fn render_ct_limit(out: &mut String, c: &crate::evidence::CtLimitEvidence) {
    let _ = writeln!(
        out,
        "      evidence: {} for {}: {} of {} used, {} left, one back every {}{}",
        c.limit,
        c.key,
        c.used,
        c.burst,
        c.remaining,
        c.refill_every,
        c.next_possible
            .as_ref()
            .map_or_else(String::new, |t| format!("; next possible at {t}"))
    );
    for cert in &c.certificates {
        let ids: Vec<String> = cert.crtsh_ids.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "        {} {} [{}] serial {} (crt.sh {})",
            cert.issued_at,
            cert.issuer,
            cert.names.join(", "),
            cert.serial,
            ids.join(", ")
        );
    }
    if let Some(r) = &c.renewal_of {
        let _ = writeln!(out, "        renewal of {r}");
    }
    let _ = writeln!(
        out,
        "        {} Let's Encrypt and {} other certificates from {}",
        c.lets_encrypt_certificates, c.other_ca_certificates, c.source
    );
    for q in &c.queries {
        let _ = writeln!(out, "        asked {q}");
    }
}

fn render_acme(out: &mut String, a: &crate::acme::AcmeDryRun) {
    let _ = writeln!(
        out,
        "      evidence: ACME {} (compared as {}: {})",
        a.directory,
        a.ca.profile().name,
        a.ca_basis
    );
    if let Some(order) = &a.order {
        let _ = writeln!(
            out,
            "        order {order} for {}",
            a.identifiers.join(", ")
        );
    }
    for z in &a.authorizations {
        let _ = writeln!(
            out,
            "        authorization {}{}: {} (offers {})",
            if z.wildcard { "*." } else { "" },
            z.identifier,
            z.status,
            z.challenges.join(", ")
        );
    }
    if let (Some(step), Some(p)) = (a.failed_step, &a.problem) {
        let _ = writeln!(out, "        {step}: {}: {}", p.type_urn, p.detail);
    }
    if let Some(why) = &a.unavailable {
        let _ = writeln!(out, "        could not ask: {why}");
    }
    if let Some(v) = &a.validation {
        let _ = writeln!(
            out,
            "        validated {} by {} after publishing {}: {}",
            v.identifier,
            v.method.acme_label(),
            v.published,
            match &v.ca_problem {
                None if v.ca_valid => "valid".to_owned(),
                None => "invalid".to_owned(),
                Some(p) => format!("invalid: {}: {}", p.type_urn, p.detail),
            }
        );
    }
}

fn render_dns(out: &mut String, d: &DnsLookupEvidence) {
    let _ = writeln!(
        out,
        "      evidence: {} -> {} ({}){}",
        d.query,
        d.outcome,
        d.security,
        d.reason
            .as_ref()
            .map_or(String::new(), |r| format!(": {r}"))
    );
    for link in &d.chain {
        let _ = writeln!(out, "        via {link}");
    }
    for rr in &d.answer {
        let _ = writeln!(out, "        {rr}");
    }
    if let Some(zone) = &d.zone {
        let _ = writeln!(
            out,
            "        zone {zone} served by {}",
            d.zone_nameservers.join(", ")
        );
    }
    for s in &d.servers {
        let what = match (&s.rcode, &s.error) {
            (_, Some(err)) => err.clone(),
            (Some(rcode), None) => format!(
                "{rcode}{}{}",
                if s.authoritative {
                    " aa"
                } else {
                    " (not authoritative)"
                },
                if s.answer.is_empty() {
                    String::new()
                } else {
                    format!(": {}", s.answer.join(" | "))
                }
            ),
            (None, None) => "no answer".to_owned(),
        };
        let tries = match (s.tries, s.answered_try) {
            (0 | 1, _) => String::new(),
            (n, k) if k > 1 => format!(" (try {k} of {n} answered)"),
            (n, _) => format!(" ({n} tries)"),
        };
        let _ = writeln!(
            out,
            "        {} {} {}ms{tries}: {what}",
            s.server, s.protocol, s.latency_ms
        );
    }
}

fn render_timing(out: &mut String, t: &DnsTimingEvidence) {
    let _ = writeln!(
        out,
        "      evidence: servers of {} over the check (a resolver's first timeout {}ms, the CA's budget {}ms per lookup)",
        t.zone, t.initial_rto_ms, t.ca_budget_ms
    );
    for s in &t.servers {
        let times = match (s.median_ms, s.max_ms) {
            (Some(median), Some(max)) => format!("median {median}ms, slowest {max}ms"),
            _ => "no answer".to_owned(),
        };
        let cold = match (s.cold_resolver_timeouts, s.cold_resolver_wait_ms) {
            (Some(n), Some(ms)) if n > 0 => {
                format!("; a resolver without its history times out {n}x ({ms}ms) first")
            }
            (None, _) => "; slower than any try of a resolver's schedule".to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "        {}: {}/{} answered, {times}; {} tries, {} lost, {} late{cold}",
            s.server, s.answered, s.questions, s.tries, s.lost, s.late
        );
    }
    if let Some(c) = &t.cold_unbound {
        let answers: Vec<String> = c
            .fallback_answers
            .iter()
            .map(|n| n.map_or_else(|| "-".to_owned(), |n| n.to_string()))
            .collect();
        let _ = writeln!(
            out,
            "        a cold Unbound with 0x20 (Let's Encrypt), {} question(s): {}-{}ms, 0x20 fallback {} (answers, luckiest/unluckiest: {})",
            c.questions,
            c.best_ms,
            c.worst_ms,
            c.caps_fallback,
            answers.join("/")
        );
    }
}

fn render_paths(out: &mut String, p: &DnsPathsEvidence) {
    let expected = if p.expected.is_empty() {
        "no records".to_owned()
    } else {
        p.expected.join(" | ")
    };
    let role = p
        .role
        .as_deref()
        .map_or_else(String::new, |r| format!(" ({r})"));
    let _ = writeln!(
        out,
        "      evidence: {}{role} asked of every server of {} over every path; resolver view: {expected}",
        p.query, p.zone
    );
    for probe in &p.probes {
        let _ = writeln!(
            out,
            "        {} {} {}ms: {}{}",
            probe.server,
            probe.path,
            probe.latency_ms,
            probe.outcome,
            if probe.ok { "" } else { "  <- fails" }
        );
    }
}

fn render_caa(out: &mut String, c: &CaaEvidence) {
    let _ = writeln!(
        out,
        "      evidence: CAA {} at {}: {}",
        c.decision,
        c.relevant_name.as_deref().unwrap_or("(no relevant RRset)"),
        c.reason
    );
    for r in &c.records {
        let _ = writeln!(out, "        {r}");
    }
    for l in &c.lookups {
        let _ = writeln!(out, "        looked up {l}");
    }
}

fn render_http(out: &mut String, h: &HttpEvidence) {
    let _ = writeln!(
        out,
        "      evidence: HTTP from {}{}: {}{}",
        h.address,
        if h.ca_path { " (the CA's path)" } else { "" },
        h.outcome,
        h.token_scope
            .as_deref()
            .map_or_else(String::new, |s| format!(" (token scope: {s})"))
    );
    for hop in &h.hops {
        let status = hop.status.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let _ = writeln!(
            out,
            "        GET {} @{} -> {status}{}{} ({}ms)",
            hop.url,
            hop.address,
            hop.location
                .as_ref()
                .map_or(String::new(), |l| format!(" Location: {l}")),
            match (&hop.failed_phase, &hop.error) {
                (Some(p), Some(e)) => format!(" failed in {p}: {e}"),
                (None, Some(e)) => format!(" {e}"),
                _ => String::new(),
            },
            hop.elapsed_ms
        );
        let compared: Vec<String> = [
            hop.server.as_ref().map(|v| format!("Server: {v}")),
            hop.content_type
                .as_ref()
                .map(|v| format!("Content-Type: {v}")),
            hop.body_digest.as_ref().map(|v| format!("body {v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !compared.is_empty() {
            let _ = writeln!(out, "          {}", compared.join("; "));
        }
    }
    if let Some(body) = &h.body_excerpt {
        let _ = writeln!(out, "        body: {body}");
    }
}

fn render_unfinished(out: &mut String, u: &UnfinishedEvidence) {
    let _ = writeln!(
        out,
        "      evidence: stopped after {}ms with {} unfinished; {} DNS exchanges done, {} waiting",
        u.limit_ms,
        if u.unfinished.is_empty() {
            "nothing".to_owned()
        } else {
            u.unfinished.join(", ")
        },
        u.completed,
        u.in_flight.len() + u.in_flight_not_listed
    );
    for q in &u.in_flight {
        let zone = q
            .zone
            .as_deref()
            .map_or_else(String::new, |z| format!(" (zone {z})"));
        let _ = writeln!(
            out,
            "        waiting {}ms: {} {} attempt {} to {}{zone}",
            q.waited_ms, q.query, q.protocol, q.attempt, q.server
        );
    }
    if u.in_flight_not_listed > 0 {
        let _ = writeln!(
            out,
            "        ... and {} more waiting",
            u.in_flight_not_listed
        );
    }
    for e in &u.slowest {
        let _ = writeln!(
            out,
            "        done {}ms: {} {} attempt {} to {}: {}",
            e.latency_ms, e.query, e.protocol, e.attempt, e.server, e.outcome
        );
    }
    if let Some(http) = &u.http {
        let _ = writeln!(out, "        HTTP-01 probe: {http}");
    }
}

fn render_vantage(out: &mut String, v: &VantageEvidence) {
    let _ = writeln!(
        out,
        "      evidence: the root servers asked for {} (a TLD that does not exist) in {}ms",
        v.qname, v.elapsed_ms
    );
    for f in &v.families {
        let _ = writeln!(out, "        {}: UDP {}; TCP {}", f.family, f.udp, f.tcp);
    }
    for p in &v.probes {
        let _ = writeln!(
            out,
            "        {} {} {}ms: {}{}",
            p.server,
            p.path,
            p.latency_ms,
            p.outcome,
            if p.ok { "" } else { "  <- fails" }
        );
    }
}

/// The MPIC summary as text, appended to the text report.
pub fn render_mpic_text(mpic: &dcv_mpic::MpicReport) -> String {
    let mut out = String::new();
    let r = &mpic.requirements;
    let _ = writeln!(
        out,
        "\nMulti-perspective corroboration (BR 3.2.2.9 as of {}: >= {} remote perspectives, {} RIRs, quorum {}):",
        r.as_of,
        r.min_remotes,
        r.min_rirs,
        if r.quorum_enforced {
            "enforced"
        } else {
            "not enforced"
        }
    );
    for p in &mpic.perspectives {
        let _ = writeln!(
            out,
            "  perspective {} ({}, {}): {}",
            p.name,
            p.region,
            p.rir.map_or("RIR unknown", dcv_mpic::Rir::as_str),
            p.status
        );
    }
    for q in &mpic.quorums {
        let _ = writeln!(
            out,
            "  {:<11} {:<4} {:<3} {:<20} {}  {}",
            q.ca,
            q.method,
            q.check,
            crate::rules::mpic::outcome_label(q.outcome),
            q.quorum_result,
            q.reason
        );
    }
    out
}

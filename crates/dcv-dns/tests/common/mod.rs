//! Shared helpers: an engine configured for a running lab.
#![allow(dead_code)] // each test binary uses a subset

use std::time::Duration;

use dcv_dns::{EngineConfig, parse_root_hints, parse_trust_anchor};
use dcv_lab::Lab;

/// Lab hints, port and trust anchor; short timers so fault tests stay fast.
pub fn config(lab: &Lab) -> EngineConfig {
    EngineConfig {
        root_hints: parse_root_hints(&lab.root_hints_zone()).expect("lab hints parse"),
        port: lab.dns_port(),
        trust_anchors: lab
            .trust_anchor_ds()
            .map(|ds| parse_trust_anchor(&ds).expect("lab anchor parses"))
            .unwrap_or_default(),
        // Patience per server question, every try together: two tries
        // (the retry after the 376 ms RTO), 2 s in all.
        query_timeout: Duration::from_secs(2),
        retries: 1,
        ..EngineConfig::default()
    }
}

/// The lab scenarios the resolver differential tests (Unbound and delv)
/// compare.
pub fn differential_scenarios() -> Vec<dcv_lab::Scenario> {
    use dcv_lab::{Signing, ZoneFault, catalogue};
    vec![
        catalogue::unsigned(),
        catalogue::valid(),
        catalogue::valid_nsec3(),
        catalogue::insecure_delegation(),
        catalogue::no_ds(),
        catalogue::ds_bad_tag(),
        catalogue::ds_bogus_digest(),
        catalogue::rrsig_exp_a(),
        catalogue::rrsig_exp_all(),
        catalogue::rrsig_not_yet_a(),
        catalogue::rrsig_no_a(),
        catalogue::rrsig_no_all(),
        catalogue::bad_rrsig_a(),
        catalogue::no_rrsig_ksk(),
        catalogue::nsec3_missing(),
        catalogue::bad_nsec(),
        catalogue::bad_nsec3_next(),
        catalogue::nsec3_iter_200(),
        catalogue::nxdomain(),
        catalogue::servfail(),
        catalogue::refused(),
        catalogue::lame(),
        catalogue::tc_tcp(),
        catalogue::cname_cross_zone(),
        catalogue::cname_loop(),
        catalogue::out_of_bailiwick_ns(),
        catalogue::dname(),
        // stale-secondary is left out: which copy answers depends on the
        // resolver's server choice (random).
        catalogue::old_provider(),
        catalogue::servfail_one_zone(),
        catalogue::base(&Signing::Nsec3 {
            iterations: 5,
            salt: "aabbccdd".into(),
            opt_out: false,
        })
        .rename("nsec3-salted", "NSEC3 with salt and iterations"),
        catalogue::base(&Signing::Nsec3 {
            iterations: 0,
            salt: String::new(),
            opt_out: true,
        })
        .rename("nsec3-opt-out", "opt-out parent, unsigned child")
        .with_zone(catalogue::ZONE, |z| z.signing = Signing::Unsigned),
        catalogue::insecure_delegation()
            .rename("no-ds-proof", "unsigned child, parent omits the NSEC")
            .with_zone("lab.", |z| z.faults.push(ZoneFault::DenialMissing)),
        catalogue::insecure_delegation()
            .rename(
                "bad-ds-proof",
                "unsigned child, parent's NSEC proves nothing",
            )
            .with_zone("lab.", |z| z.faults.push(ZoneFault::DenialCorrupt)),
    ]
}

/// Zone cuts without a referral (issue #15 §1): parent and child on the same
/// servers, secure, insecure and bogus (`catalogue::cohosted_all`).
pub fn cohosted_scenarios() -> Vec<dcv_lab::Scenario> {
    dcv_lab::catalogue::cohosted_all()
}

/// The questions asked in scenario `name`: the common list, moved to the
/// registered domain of the three-level scenarios, plus the names of the
/// child zones some co-hosting scenarios add.
pub fn differential_questions_for(name: &str) -> Vec<(String, dcv_dns::RecordType)> {
    use dcv_dns::RecordType;
    let base = differential_questions()
        .into_iter()
        .map(|(q, t)| (q.to_owned(), t));
    if name.starts_with("suffix-") {
        let mut out: Vec<(String, RecordType)> = base
            .map(|(q, t)| (q.replace("example.lab.", "example.co.lab."), t))
            .collect();
        out.extend([
            ("co.lab.".to_owned(), RecordType::DS),
            ("co.lab.".to_owned(), RecordType::DNSKEY),
            ("nx.co.lab.".to_owned(), RecordType::A),
            ("co.lab.".to_owned(), RecordType::CAA),
        ]);
        return out;
    }
    let mut out: Vec<(String, RecordType)> = base.collect();
    let child = if name.starts_with("cohost-grandparent") {
        Some(dcv_lab::catalogue::CHILD)
    } else if name.starts_with("cohost-ent") {
        Some(dcv_lab::catalogue::ENT_CHILD)
    } else {
        None
    };
    if let Some(child) = child {
        for (prefix, t) in [
            ("www.", RecordType::A),
            ("nx.", RecordType::A),
            ("www.", RecordType::TXT),
            ("", RecordType::CAA),
            ("", RecordType::DS),
            ("", RecordType::DNSKEY),
            ("_acme-challenge.www.", RecordType::TXT),
        ] {
            out.push((format!("{prefix}{child}"), t));
        }
        if name.starts_with("cohost-ent") {
            out.push(("ent2.example.lab.".to_owned(), RecordType::A));
        }
    }
    out
}

/// The questions asked in every differential scenario (Unbound and delv).
pub fn differential_questions() -> Vec<(&'static str, dcv_dns::RecordType)> {
    use dcv_dns::RecordType;
    vec![
        ("www.example.lab.", RecordType::A),
        ("nx.example.lab.", RecordType::A),
        ("www.example.lab.", RecordType::TXT),
        ("x.wild.example.lab.", RecordType::A),
        ("example.lab.", RecordType::CAA),
        ("nothere.lab.", RecordType::A),
        ("example.lab.", RecordType::DS),
        ("example.lab.", RecordType::DNSKEY),
        ("sub.example.lab.", RecordType::A),
        ("deep.ent.sub.example.lab.", RecordType::A),
        ("x.wild.example.lab.", RecordType::TXT),
        ("_acme-challenge.www.example.lab.", RecordType::TXT),
        ("www.example.lab.", RecordType::AAAA),
    ]
}

/// What the CA would see from a resolver, coarsely: validated answer (AD),
/// unvalidated answer, failure (SERVFAIL, including bogus). The mapping the
/// Unbound differentials compare on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnboundVerdict {
    Secure(&'static str),
    Insecure(&'static str),
    Fail,
}

/// Unbound's answer (status and AD flag, as `dig` prints them) as a verdict.
pub fn unbound_verdict(status: &str, ad: bool) -> UnboundVerdict {
    let kind = match status {
        "NOERROR" => "NOERROR",
        "NXDOMAIN" => "NXDOMAIN",
        _ => return UnboundVerdict::Fail,
    };
    if ad {
        UnboundVerdict::Secure(kind)
    } else {
        UnboundVerdict::Insecure(kind)
    }
}

/// The engine's lookup as the verdict Unbound would give for it.
pub fn our_unbound_verdict(
    outcome: &dcv_dns::Outcome,
    security: &dcv_dns::Security,
) -> UnboundVerdict {
    use dcv_dns::{Outcome, Security};
    let kind = match outcome {
        Outcome::Answer { .. } | Outcome::NoData => "NOERROR",
        Outcome::NxDomain => "NXDOMAIN",
        Outcome::ServFail { .. } => return UnboundVerdict::Fail,
    };
    match security {
        Security::Secure => UnboundVerdict::Secure(kind),
        Security::Insecure(_) => UnboundVerdict::Insecure(kind),
        _ => UnboundVerdict::Fail,
    }
}

/// What `dig` printed for one question to a resolver on port 53, asked once
/// (`+tries=1`) with DO set, waiting `wait_secs`: the status (`NOERROR`,
/// `SERVFAIL`, ...) and whether the AD flag was set; `None` when dig
/// printed no header (no answer within the wait, or dig missing).
pub fn dig(
    server: std::net::IpAddr,
    name: &str,
    qtype: &str,
    wait_secs: u32,
) -> Option<(String, bool)> {
    let out = std::process::Command::new("/usr/bin/dig")
        .arg(format!("@{server}"))
        .args(["-p", "53", "+dnssec", "+tries=1"])
        .arg(format!("+time={wait_secs}"))
        .args([name, qtype])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text.split("status: ").nth(1)?.split(',').next()?.to_owned();
    let ad = text
        .split("flags: ")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .is_some_and(|f| f.split_whitespace().any(|f| f == "ad"));
    Some((status, ad))
}

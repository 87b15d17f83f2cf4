//! One end-to-end lab test per DNS-side finding code: real DNS servers on
//! loopback, the real engine, the real rules. Each asserts the code, the
//! severity, the CA message where the CA has one, and the key evidence.
//!
//! HTTP checks run only against scenarios whose names have no address or point
//! at lab responders: the catalogue's base records use documentation addresses
//! (`192.0.2.0/24`, `2001:db8::/32`) that must never be contacted.

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity};
use dcv_doctor::demo::check_in_lab;
use dcv_lab::catalogue::{self, NS1, NS2, ZONE};
use dcv_lab::{Scenario, ServerSpec, Signing, ZoneSpec};

fn run(scenario: Scenario, hostname: &str, tweak: impl FnOnce(&mut CheckConfig)) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(check_in_lab(scenario, hostname, tweak))
        .expect("lab starts")
}

fn dns_only(txt: &[&str]) -> impl FnOnce(&mut CheckConfig) {
    let txt: Vec<String> = txt.iter().map(|s| (*s).to_owned()).collect();
    move |cfg| {
        cfg.methods = vec![Method::Dns];
        cfg.cas = vec![CaId::Letsencrypt];
        cfg.txt_values = txt;
    }
}

fn http_only(cfg: &mut CheckConfig) {
    cfg.methods = vec![Method::Http];
    cfg.cas = vec![CaId::Letsencrypt];
}

fn find(report: &Report, code: FindingCode) -> &Finding {
    report.expect_finding(code)
}

fn dns_evidence(f: &Finding) -> &dcv_diagnosis::evidence::DnsLookupEvidence {
    f.evidence
        .iter()
        .find_map(|e| match e {
            Evidence::DnsLookup(d) => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no DNS evidence in {f:?}"))
}

#[test]
fn nxdomain_for_the_http_method() {
    let report = run(catalogue::nxdomain(), "nx.example.lab", http_only);
    let f = find(&report, FindingCode::Nxdomain);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert_eq!(
        f.acme_detail.as_deref(),
        Some(
            "DNS problem: NXDOMAIN looking up A for nx.example.lab - check that a DNS record exists for this domain"
        )
    );
    assert_eq!(dns_evidence(f).outcome, "NXDOMAIN");
    assert!(!report.ca_verdicts[0].would_validate);
}

#[test]
fn no_address_when_the_name_has_no_a_or_aaaa() {
    // `ent.sub.example.lab` is an empty non-terminal: it exists, with no data.
    let report = run(catalogue::valid(), "sub.example.lab", http_only);
    let f = find(&report, FindingCode::NoAddress);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.acme_detail
            .as_deref()
            .unwrap()
            .contains("no valid A records found for sub.example.lab")
    );
    assert_eq!(dns_evidence(f).outcome, "NODATA");
}

#[test]
fn servfail_timeout_refused_and_lame_are_told_apart() {
    for (scenario, code) in [
        (catalogue::servfail(), FindingCode::DnsServfail),
        (catalogue::timeout(), FindingCode::DnsTimeout),
        (catalogue::refused(), FindingCode::DnsRefused),
    ] {
        let name = scenario.name.clone();
        let report = run(scenario, "www.example.lab", dns_only(&["token"]));
        let f = find(&report, code);
        assert_eq!(f.severity, Severity::Error, "{name}");
        assert!(f.ca_message.is_some(), "{name}: no CA message");
        let ev = dns_evidence(f);
        assert_eq!(ev.outcome, "SERVFAIL", "{name}");
        assert_eq!(ev.zone.as_deref(), Some(ZONE), "{name}");
        // Every server of the failing zone is named with its own failure.
        assert_eq!(ev.servers.len(), 4, "{name}: {ev:?}");
    }
}

/// Servers that answer without AA: Unbound (and so the CA) still takes their
/// data, so validation passes, but each server is named as lame.
#[test]
fn lame_servers_are_named_but_do_not_block() {
    let report = run(catalogue::lame(), "www.example.lab", dns_only(&["token"]));
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let lame: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::DnsLameDelegation)
        .collect();
    assert_eq!(lame.len(), 1, "one finding for the zone: {lame:#?}");
    assert_eq!(lame[0].severity, Severity::Warning);
    assert!(
        lame[0].summary.contains("without the AA bit"),
        "{}",
        lame[0].summary
    );
    assert_eq!(
        lame[0].summary.matches("example.lab (").count(),
        4,
        "every server address named: {}",
        lame[0].summary
    );
    let ev = dns_evidence(lame[0]);
    assert!(ev.servers.iter().all(|s| !s.authoritative), "{ev:?}");
}

/// A listed server that serves only the parent answers with a referral to
/// the zone itself. The engine asks the other servers and finds the TXT;
/// Let's Encrypt's Unbound takes the referral as NODATA whenever it picks
/// that server (crates/dcv-worlds/known-divergences.toml, "lame server"), so
/// for Let's Encrypt it blocks, with Boulder's "No TXT record found", and
/// for a CA whose resolver is not known it is a warning.
#[test]
fn self_referral_from_a_parent_only_server_blocks_lets_encrypt() {
    let report = run(
        catalogue::lame_self_referral(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    assert!(!report.ca_verdicts[0].would_validate, "{report:#?}");
    let lame: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::DnsLameDelegation)
        .collect();
    assert_eq!(lame.len(), 1, "ns3 named once: {lame:#?}");
    let f = lame[0];
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert!(f.summary.contains("ns3.example.lab ("), "{}", f.summary);
    assert!(!f.summary.contains("ns1.example.lab"), "{}", f.summary);
    assert_eq!(
        f.acme_detail.as_deref(),
        Some("No TXT record found at _acme-challenge.www.example.lab")
    );
    let ev = dns_evidence(f);
    assert_eq!(ev.outcome, "NOERROR", "the engine itself found the TXT");
    let ns3: Vec<_> = ev
        .servers
        .iter()
        .filter(|s| s.server.starts_with("ns3.example.lab."))
        .collect();
    assert!(!ns3.is_empty(), "{ev:?}");
    assert!(
        ns3.iter().all(|s| s
            .error
            .as_deref()
            .is_some_and(|e| e.contains("referral to example.lab itself"))),
        "{ns3:?}"
    );

    let report = run(catalogue::lame_self_referral(), "www.example.lab", |cfg| {
        dns_only(&["token"])(cfg);
        cfg.cas = vec![CaId::Google];
    });
    // (The lab's CAA names only letsencrypt.org, so Google is refused by CAA.)
    let f = find(&report, FindingCode::DnsLameDelegation);
    assert_eq!(f.severity, Severity::Warning, "{f:#?}");
    assert!(f.blocks.is_empty(), "{f:#?}");
}

#[test]
fn one_failing_server_of_two_is_a_warning_naming_it() {
    let report = run(
        catalogue::one_server_timeout(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:?}");
    let f = find(&report, FindingCode::DnsTimeout);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.summary.contains("ns2.example.lab"), "{}", f.summary);
    assert!(f.blocks.is_empty());
}

#[test]
fn dnssec_bogus_names_the_broken_link() {
    let report = run(
        catalogue::rrsig_exp_all(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    let f = find(&report, FindingCode::DnssecBogus);
    assert_eq!(f.severity, Severity::Error);
    assert!(f.summary.contains("expired"), "{}", f.summary);
    assert_eq!(
        f.ca_message.as_deref(),
        Some(
            "the Certificate Authority had trouble performing a DNS lookup: dns problem: looking up txt for _acme-challenge.www.example.lab: dnssec: bogus"
        )
    );
    assert!(
        f.acme_detail
            .as_deref()
            .unwrap()
            .ends_with("DNSSEC: Signature Expired"),
        "{f:?}"
    );
    assert_eq!(dns_evidence(f).security, "bogus");
}

#[test]
fn insecure_delegation_is_info_not_a_failure() {
    let report = run(
        catalogue::insecure_delegation(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    assert!(report.ca_verdicts[0].would_validate);
    let f = find(&report, FindingCode::DnssecInsecure);
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(dns_evidence(f).security, "insecure");
}

/// `shop.example.lab` delegated from example.lab. to its own servers.
fn sub_delegated(with_txt: bool) -> Scenario {
    let mut zone = ZoneSpec::new("shop.example.lab.")
        .served_by("ns.shop-provider.lab.")
        .signed(Signing::Nsec)
        .record("@ A 192.0.2.50");
    if with_txt {
        zone = zone.record("_acme-challenge TXT \"token\"");
    }
    catalogue::base(&Signing::Nsec)
        .server(ServerSpec::new("ns.shop-provider.lab."))
        .zone(zone)
        // A stale copy at the parent's provider, which the CA never sees.
        .with_zone(ZONE, |z| {
            z.records.push("_acme-challenge.shop TXT \"token\"".into());
        })
}

#[test]
fn ns_delegated_names_the_zone_cut_and_its_servers() {
    let report = run(
        sub_delegated(true),
        "shop.example.lab",
        dns_only(&["token"]),
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::NsDelegated);
    assert_eq!(f.severity, Severity::Info);
    assert!(f.summary.contains("shop.example.lab"), "{}", f.summary);
    assert!(f.summary.contains("ns.shop-provider.lab"), "{}", f.summary);
    assert!(f.fix.contains("ns.shop-provider.lab"), "{}", f.fix);
}

#[test]
fn txt_missing_at_the_delegated_provider_is_blocking_and_says_where() {
    let report = run(
        sub_delegated(false),
        "shop.example.lab",
        dns_only(&["token"]),
    );
    let f = find(&report, FindingCode::TxtMissing);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.fix.contains("shop.example.lab (ns.shop-provider.lab)"),
        "{}",
        f.fix
    );
    assert_eq!(
        f.acme_detail.as_deref(),
        Some("No TXT record found at _acme-challenge.shop.example.lab")
    );
    find(&report, FindingCode::NsDelegated);
}

#[test]
fn txt_mismatch_quotes_what_is_there() {
    let report = run(
        catalogue::valid(),
        "www.example.lab",
        dns_only(&["fresh-token"]),
    );
    let f = find(&report, FindingCode::TxtMismatch);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(
        f.acme_detail.as_deref(),
        Some("Incorrect TXT record \"token\" found at _acme-challenge.www.example.lab")
    );
}

#[test]
fn apex_and_wildcard_need_both_values() {
    let report = run(
        catalogue::valid(),
        "www.example.lab",
        dns_only(&["token", "wildcard-token"]),
    );
    let f = find(&report, FindingCode::TxtMismatch);
    assert!(f.summary.contains("wildcard-token"), "{}", f.summary);
}

#[test]
fn txt_inconsistent_between_servers() {
    let report = run(
        catalogue::stale_secondary(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    let f = find(&report, FindingCode::TxtInconsistent);
    assert_eq!(f.severity, Severity::Error);
    assert!(f.summary.contains("ns2.example.lab"), "{}", f.summary);
    let ev = dns_evidence(f);
    assert!(
        ev.servers
            .iter()
            .any(|s| s.rcode.as_deref() == Some("NXDOMAIN")),
        "{ev:?}"
    );
}

#[test]
fn txt_doubled_label() {
    let scenario = catalogue::base(&Signing::Nsec).with_zone(ZONE, |z| {
        z.records.retain(|r| !r.starts_with("_acme-challenge"));
        z.records
            .push("_acme-challenge.www.example.lab.example.lab. TXT \"token\"".into());
    });
    let report = run(scenario, "www.example.lab", dns_only(&["token"]));
    find(&report, FindingCode::TxtMissing);
    let f = find(&report, FindingCode::TxtDoubledLabel);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.summary
            .contains("_acme-challenge.www.example.lab.example.lab"),
        "{}",
        f.summary
    );
}

/// `_acme-challenge.www` delegated by CNAME to a DCV provider's zone that
/// holds the token (Cloudflare's delegated DCV shape).
fn delegated_dcv(signing: &Signing) -> Scenario {
    catalogue::base(signing)
        .server(ServerSpec::new("ns.dcv-provider.lab."))
        .zone(
            ZoneSpec::new("dcv-provider.lab.")
                .served_by("ns.dcv-provider.lab.")
                .signed(signing.clone())
                .record("www.example.lab.0123456789abcdef TXT \"token\""),
        )
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("_acme-challenge"));
            z.records.push(
                "_acme-challenge.www CNAME www.example.lab.0123456789abcdef.dcv-provider.lab."
                    .into(),
            );
        })
}

#[test]
fn delegated_dcv_cname_is_followed() {
    let report = run(
        delegated_dcv(&Signing::Nsec),
        "www.example.lab",
        dns_only(&["token"]),
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
}

#[test]
fn delegated_dcv_conflict_with_a_leftover_txt() {
    // ns1 serves the delegation CNAME; ns2 still serves the old TXT.
    let mut scenario = delegated_dcv(&Signing::Unsigned);
    if let Some(z) = scenario.zone_mut(ZONE) {
        z.servers.retain(|n| n != NS2);
    }
    let scenario = scenario.zone(
        ZoneSpec::new(ZONE)
            .served_by(NS2)
            .record("www A 192.0.2.10")
            .record("_acme-challenge.www TXT \"leftover\""),
    );
    let report = run(scenario, "www.example.lab", dns_only(&["token"]));
    let f = find(&report, FindingCode::DelegatedDcvConflict);
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.summary.contains("ns1.example.lab") && f.summary.contains("ns2.example.lab"),
        "{}",
        f.summary
    );
}

#[test]
fn identifier_rejected_by_policy_per_ca() {
    // 11 labels: Let's Encrypt refuses (more than 10), Google does not.
    let report = run(
        catalogue::valid(),
        "a.b.c.d.e.f.g.h.www.example.lab",
        |cfg| {
            cfg.methods = vec![Method::Dns];
            cfg.cas = vec![CaId::Letsencrypt, CaId::Google];
        },
    );
    let f = find(&report, FindingCode::IdentifierRejected);
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert_eq!(
        f.ca_message.as_deref(),
        Some(
            "The certificate authority will not issue for this domain. Please check your input or try another authority."
        )
    );
    let le = report
        .ca_verdicts
        .iter()
        .find(|v| v.ca == CaId::Letsencrypt)
        .unwrap();
    assert!(!le.would_validate);
}

#[test]
fn servfail_for_one_zone_only_on_a_shared_server() {
    let report = run(
        catalogue::servfail_one_zone(),
        "www.example.lab",
        dns_only(&["token"]),
    );
    // ns2 still answers for example.lab., so the resolver view succeeds and
    // ns1's SERVFAIL is a warning that names it.
    let f = find(&report, FindingCode::DnsServfail);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.summary.contains(NS1.trim_end_matches('.')),
        "{}",
        f.summary
    );
}

/// RFC 6604 §3: after a CNAME, NXDOMAIN speaks of the CNAME's target. In a
/// signed zone the denial proof is for the target, so the answer is a
/// validated NXDOMAIN (what Unbound and Let's Encrypt see), not bogus. Found
/// by the interop suite.
#[test]
fn dangling_cname_in_a_signed_zone_is_nxdomain_not_bogus() {
    let scenario = catalogue::base(&Signing::Nsec).with_zone(ZONE, |z| {
        z.records.retain(|r| !r.starts_with("www "));
        z.records.push("www CNAME gone.example.lab.".into());
    });
    let report = run(scenario, "www.example.lab", http_only);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.code != FindingCode::DnssecBogus),
        "{report:#?}"
    );
    let f = find(&report, FindingCode::Nxdomain);
    let ev = dns_evidence(f);
    assert_eq!(ev.security, "secure", "{ev:?}");
    assert_eq!(ev.chain.len(), 1, "{ev:?}");
}

/// `example.lab.` servers that answer after `delay`, checked with a 1 s
/// whole-check limit and per-query timeouts that cannot fire first. Returns
/// the report and the addresses of the `example.lab.` servers.
fn timed_out_check(
    delay: std::time::Duration,
    methods: Vec<Method>,
) -> (Report, Vec<std::net::SocketAddr>) {
    use std::time::Duration;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let scenario = catalogue::base(&Signing::Unsigned)
            .with_server(NS1, |s| *s = s.clone().delay(delay))
            .with_server(NS2, |s| *s = s.clone().delay(delay));
        let lab = dcv_lab::Lab::start(scenario).await.expect("lab starts");
        let mut slow = lab.server_socket_addrs(NS1);
        slow.extend(lab.server_socket_addrs(NS2));
        let mut cfg = dcv_doctor::demo::lab_config(&lab, "www.example.lab").unwrap();
        cfg.cas = vec![CaId::Letsencrypt];
        cfg.methods = methods;
        cfg.txt_values = vec!["token".to_owned()];
        cfg.timeout = Duration::from_secs(1);
        // Per-query timeouts longer than the whole check: only it can fire.
        cfg.dns.query_timeout = Duration::from_secs(5);
        let started = std::time::Instant::now();
        let report = dcv_diagnosis::runner::run_check(cfg).await;
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "the check outlived its limit: {:?}",
            started.elapsed()
        );
        (report, slow)
    })
}

fn unfinished_evidence(f: &Finding) -> &dcv_diagnosis::evidence::UnfinishedEvidence {
    f.evidence
        .iter()
        .find_map(|e| match e {
            Evidence::Unfinished(u) => Some(u),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no unfinished-check evidence in {f:#?}"))
}

/// The whole-check timeout names the servers it was still waiting for, with
/// the questions and how long they had waited, instead of only "did not
/// finish".
#[test]
fn whole_check_timeout_names_the_servers_still_waited_on() {
    let (report, slow) = timed_out_check(std::time::Duration::from_secs(3), vec![Method::Dns]);
    let f = find(&report, FindingCode::DnsTimeout);
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert!(!report.ca_verdicts[0].would_validate);
    assert!(
        f.summary
            .starts_with("the check did not finish within 1s: still waiting for"),
        "{}",
        f.summary
    );
    // Both slow servers are named, with their addresses.
    for ns in [NS1, NS2] {
        assert!(f.summary.contains(ns), "{ns} not in: {}", f.summary);
    }
    assert!(
        slow.iter().all(|s| f.summary.contains(&s.ip().to_string())),
        "every slow address in: {} ({slow:?})",
        f.summary
    );
    let u = unfinished_evidence(f);
    assert_eq!(u.limit_ms, 1000);
    assert!(
        u.unfinished.iter().any(|p| p == "CAA lookups"),
        "{:?}",
        u.unfinished
    );
    assert!(!u.in_flight.is_empty(), "{u:#?}");
    for q in &u.in_flight {
        // Only the slow zone's servers are being waited on, each named.
        let addr = q.server.rsplit_once('@').map_or("", |(_, a)| a);
        assert!(
            slow.iter().any(|s| s.to_string() == addr),
            "{} is not an example.lab. server ({slow:?})",
            q.server
        );
        assert!(
            q.server.starts_with(NS1) || q.server.starts_with(NS2),
            "{q:?}"
        );
        assert_eq!(q.zone.as_deref(), Some(ZONE), "{q:?}");
        assert!(
            (500..3000).contains(&q.waited_ms),
            "sent after the fast referrals, unanswered at the limit: {q:?}"
        );
    }
    assert!(
        u.in_flight.iter().any(|q| q.query == "www.example.lab/CAA"),
        "{u:#?}"
    );
    // The root and lab. servers did answer, quickly; the journal shows it
    // (with the vantage preflight's NXDOMAIN for its never-existing TLD).
    assert!(u.completed > 0, "{u:#?}");
    assert!(
        u.slowest.iter().all(|e| e.latency_ms < 500
            && (e.outcome == "NOERROR"
                || (e.outcome == "NXDOMAIN" && e.query.starts_with("dcv-vantage-")))),
        "{u:#?}"
    );
    assert_eq!(u.http, None, "the DNS method only: no HTTP probe");
    // `-v` shows it.
    let text = dcv_diagnosis::render::render_text(&report, true);
    assert!(text.contains("waiting "), "{text}");
    assert!(
        text.contains("www.example.lab/CAA udp attempt 1 to"),
        "{text}"
    );
}

/// With the HTTP method the probe is still resolving the slow zone's
/// addresses, and the evidence says so.
#[test]
fn whole_check_timeout_says_the_http_probe_was_still_resolving() {
    let (report, _) = timed_out_check(std::time::Duration::from_secs(3), vec![Method::Http]);
    let f = find(&report, FindingCode::DnsTimeout);
    let u = unfinished_evidence(f);
    assert!(
        u.unfinished.iter().any(|p| p == "HTTP-01 probe"),
        "{:?}",
        u.unfinished
    );
    assert!(
        u.http
            .as_deref()
            .is_some_and(|h| h.starts_with("still resolving")),
        "{u:#?}"
    );
    assert!(
        u.in_flight
            .iter()
            .any(|q| q.query == "www.example.lab/A" || q.query == "www.example.lab/AAAA"),
        "{u:#?}"
    );
}

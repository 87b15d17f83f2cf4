//! A lookup this machine cannot make is not the domain's failure (issue #15
//! §4), in process: `v6only.lab.` is delegated to a nameserver whose only
//! address lies in `fd5c::/16`, which `scripts/lab-net-setup` routes as
//! unreachable, so every query to it fails on this machine before a packet
//! leaves (`EHOSTUNREACH`). The CAA, TXT and address lookups under it are
//! "not checked from here" (`vantage_not_checked`, the requester's), never
//! `dns_timeout` or `caa_lookup_failed` against the DNS provider, and the
//! verdict is "could not check" (exit 3), not a failure.

use dcv_diagnosis::{FindingCode, Severity, Verdict, WhoFixes};
use dcv_doctor::demo::{check_in_lab, healthy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_through_an_unreachable_nameserver_are_not_checked_from_here() {
    let scenario = healthy().with_zone("lab.", |z| {
        z.records.push("v6only NS ns.v6only".into());
        z.records.push("ns.v6only AAAA fd5c:dc7::53".into());
    });
    let report = check_in_lab(scenario, "www.v6only.lab", |_| {})
        .await
        .expect("lab starts");
    let json = serde_json::to_string_pretty(&report).unwrap();
    if std::env::var_os("DCV_SHOW_REPORT").is_some() {
        println!("{}", dcv_diagnosis::render::render_text(&report, false));
    }
    assert_eq!(report.verdict, Verdict::CouldNotCheck, "{json}");
    // Nothing blames the domain's DNS provider for this machine's routes.
    for f in &report.findings {
        assert!(
            !matches!(
                f.code,
                FindingCode::DnsTimeout
                    | FindingCode::DnsServfail
                    | FindingCode::CaaLookupFailed
                    | FindingCode::HttpUnreachable
            ),
            "{}: {}\n{json}",
            f.code,
            f.summary
        );
        assert!(f.blocks.is_empty(), "{}: {}", f.code, f.summary);
    }
    let unchecked: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.code == FindingCode::VantageNotChecked)
        .collect();
    assert!(!unchecked.is_empty(), "{json}");
    for f in &unchecked {
        assert_eq!(f.who_fixes, WhoFixes::Requester);
        assert!(
            f.summary.contains("not checked from here") && f.summary.contains("fd5c:dc7::53"),
            "{}",
            f.summary
        );
        // The lookup it could not make is the evidence.
        assert!(
            f.evidence
                .iter()
                .any(|e| matches!(e, dcv_diagnosis::Evidence::DnsLookup(_))),
            "{f:?}"
        );
    }
    // The CAA climb and the TXT lookup are among them.
    let queries: Vec<&str> = unchecked.iter().map(|f| f.summary.as_str()).collect();
    assert!(
        queries.iter().any(|s| s.starts_with("www.v6only.lab/CAA")),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|s| s.starts_with("_acme-challenge.www.v6only.lab/TXT")),
        "{queries:?}"
    );
    // Errors, so the verdict is "could not check": no CA verdict at all
    // (neither "would fail" nor a "would validate" resting on what is missing).
    assert!(unchecked.iter().any(|f| f.severity == Severity::Error));
    assert!(report.ca_verdicts.is_empty(), "{json}");
}

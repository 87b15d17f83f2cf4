//! Snapshots of the text and JSON reports for representative lab scenarios
//! (insta). What changes from run to run is filtered: lab addresses and ports,
//! DNSSEC key tags (fresh keys per lab), signature dates and timings.

use dcv_diagnosis::render::render_text;
use dcv_doctor::demo::{DemoCase, cases, run_case};

fn case(title: &str) -> DemoCase {
    cases()
        .into_iter()
        .find(|c| c.title == title)
        .unwrap_or_else(|| panic!("no demo case {title:?}"))
}

/// Filters for everything a fresh lab randomises.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.\d+\.\d+\.\d+", "127.x.x.x");
    s.add_filter(r"fd5c:dc5:[0-9a-f:]*[0-9a-f]", "fd5c:dc5::x");
    s.add_filter(r"(\]?):\d{4,5}\b", "$1:PORT");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "DATE");
    s.add_filter(r"\b(key|DS|tags?) \[?\d+", "$1 TAG");
    s.add_filter(r"\d+ms", "Nms");
    s.add_filter(
        r#""(latency_ms|elapsed_ms|total|probes|caa|txt|http|dns_queries)": \d+"#,
        r#""$1": N"#,
    );
    s.add_filter(r"\b\d{10} \d{10} \d+\b", "SIG-TIMES TAG");
    s
}

fn snapshot(title: &str, name: &str) {
    let case = case(title);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run_case(&case)).expect("lab starts");
    let settings = settings();
    settings.bind(|| {
        let text = render_text(&report, true);
        insta::assert_snapshot!(
            format!("{name}_text"),
            anstream::adapter::strip_str(&text).to_string()
        );
        insta::assert_json_snapshot!(format!("{name}_json"), report, {
            ".timings_ms" => "[timings]",
        });
    });
}

#[test]
fn healthy_report() {
    snapshot("healthy, DNSSEC-signed, TXT published", "healthy");
}

#[test]
fn dnssec_bogus_report() {
    snapshot("DS at the parent matches no DNSKEY", "ds_bad_tag");
}

#[test]
fn caa_forbids_report() {
    snapshot("CAA allows only another CA", "caa_forbids");
}

#[test]
fn stale_secondary_report() {
    snapshot("secondary nameserver is out of sync", "txt_inconsistent");
}

#[test]
fn ipv6_mismatch_report() {
    snapshot("AAAA points elsewhere than A", "ipv6_mismatch");
}

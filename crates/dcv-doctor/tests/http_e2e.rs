//! One end-to-end lab test per HTTP-01 finding code: the hostname resolves
//! through the lab's private root to lab web responders on 127.x and
//! `fd5c:dc5::/48`, and the real probe fetches from every address.

use dcv_diagnosis::config::CheckConfig;
use dcv_diagnosis::evidence::HttpEvidence;
use dcv_diagnosis::{CaId, Evidence, Finding, FindingCode, Method, Report, Severity, WhoFixes};
use dcv_doctor::demo::check_in_lab;
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN, WEB, ZONE};
use dcv_lab::http::{HttpBehaviour, ResponderSpec};
use dcv_lab::{Scenario, Signing};

fn run(scenario: Scenario, tweak: impl FnOnce(&mut CheckConfig)) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(check_in_lab(scenario, "www.example.lab", |cfg| {
        cfg.methods = vec![Method::Http];
        cfg.cas = vec![CaId::Letsencrypt];
        cfg.http_token = Some(TOKEN.to_owned());
        cfg.http_body = Some(KEY_AUTHZ.to_owned());
        tweak(cfg);
    }))
    .expect("lab starts")
}

/// The base lab with `www`'s responder replaced.
fn web(spec: ResponderSpec) -> Scenario {
    let mut s = catalogue::base(&Signing::Nsec);
    s.http.retain(|r| r.name != WEB);
    s.responder(ResponderSpec {
        name: WEB.to_owned(),
        ..spec
    })
}

fn serve(body: &str) -> HttpBehaviour {
    HttpBehaviour::ServeToken {
        token: TOKEN.to_owned(),
        body: body.to_owned(),
    }
}

/// `www` with different responders behind its A and AAAA records.
fn split(v4: HttpBehaviour, v6: HttpBehaviour) -> Scenario {
    let mut s = catalogue::base(&Signing::Nsec);
    s.http.retain(|r| r.name != WEB);
    s.responder(ResponderSpec::new("web4", v4))
        .responder(ResponderSpec::new("web6", v6))
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.starts_with("www "));
            z.records.push("www A {http4:web4}".into());
            z.records.push("www AAAA {http6:web6}".into());
        })
}

fn find(report: &Report, code: FindingCode) -> &Finding {
    report.expect_finding(code)
}

fn http_evidence(f: &Finding) -> Vec<&HttpEvidence> {
    f.evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Http(h) => Some(h),
            _ => None,
        })
        .collect()
}

fn assert_blocks(report: &Report, f: &Finding) {
    assert_eq!(f.severity, Severity::Error, "{f:#?}");
    assert_eq!(f.blocks, vec![CaId::Letsencrypt]);
    assert_eq!(f.method, Some(Method::Http));
    assert!(!report.ca_verdicts[0].would_validate);
}

#[test]
fn token_served_from_every_address_passes() {
    let report = run(catalogue::valid(), |_| {});
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity != Severity::Error),
        "{report:#?}"
    );
}

#[test]
fn without_a_token_a_404_from_the_right_server_is_healthy() {
    let report = run(catalogue::valid(), |cfg| {
        cfg.http_token = None;
        cfg.http_body = None;
    });
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpTokenNotPublished);
    assert_eq!(f.severity, Severity::Info);
}

#[test]
fn wrong_body_is_a_token_mismatch_with_boulders_text() {
    let report = run(
        web(ResponderSpec::new(WEB, serve("something-else"))),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpTokenMismatch);
    assert_blocks(&report, f);
    let detail = f.acme_detail.as_deref().unwrap();
    assert!(detail.contains("did not match"), "{detail}");
    assert!(detail.contains("something-else"), "{detail}");
    let ev = http_evidence(f);
    assert!(ev[0].ca_path);
    assert_eq!(ev[0].hops[0].status, Some(200));
}

#[test]
fn a_huge_body_is_capped_and_refused() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::HugeBody)),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpTokenMismatch);
    assert_blocks(&report, f);
}

#[test]
fn interactive_challenge_page() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::ChallengePage)),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpChallengePage);
    assert_blocks(&report, f);
    assert_eq!(f.who_fixes, WhoFixes::Cloudflare);
    assert!(f.fix.contains("Under Attack"), "{}", f.fix);
    assert_eq!(http_evidence(f)[0].hops[0].status, Some(403));
}

#[test]
fn firewall_block_page() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::BlockPage)),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpBlocked);
    assert_blocks(&report, f);
    assert!(f.acme_detail.as_deref().unwrap().contains("403"), "{f:#?}");
}

#[test]
fn working_redirect_to_https_is_a_warning_with_the_redirect_rule() {
    let report = run(
        web(ResponderSpec::http_to_https(WEB, TOKEN, KEY_AUTHZ)),
        |_| {},
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpRedirectToHttps);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.fix
            .contains(r#"not starts_with(http.request.uri.path, "/.well-known/")"#),
        "{}",
        f.fix
    );
    let hops = &http_evidence(f)[0].hops;
    assert_eq!(hops.len(), 2);
    assert!(hops[0].url.starts_with("http://") && hops[1].url.starts_with("https://"));
}

#[test]
fn redirect_to_https_where_the_token_is_missing_blocks() {
    // Partial setup: the origin would serve the token over http, but the
    // redirect sends the CA to an https endpoint that does not have it.
    let spec = ResponderSpec::new(WEB, HttpBehaviour::RedirectToHttps)
        .with_tls_behaviour(HttpBehaviour::NotFound);
    let report = run(web(spec), |_| {});
    let f = find(&report, FindingCode::HttpRedirectToHttps);
    assert_blocks(&report, f);
}

#[test]
fn redirect_loop_is_a_bad_redirect() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::RedirectLoop)),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpBadRedirect);
    assert_blocks(&report, f);
    assert!(
        f.acme_detail
            .as_deref()
            .unwrap()
            .contains("Redirect loop detected"),
        "{f:#?}"
    );
}

#[test]
fn redirect_to_a_forbidden_port_is_a_bad_redirect() {
    let spec = ResponderSpec::new(
        WEB,
        HttpBehaviour::Redirect {
            status: 302,
            location: "http://{host}:8080{path}".to_owned(),
        },
    );
    let report = run(web(spec), |_| {});
    let f = find(&report, FindingCode::HttpBadRedirect);
    assert_blocks(&report, f);
    assert!(
        f.acme_detail.as_deref().unwrap().contains("not 8080"),
        "{f:#?}"
    );
}

#[test]
fn a_silent_server_is_unreachable_with_the_phase() {
    let report = run(web(ResponderSpec::new(WEB, HttpBehaviour::Silent)), |_| {});
    let f = find(&report, FindingCode::HttpUnreachable);
    assert_blocks(&report, f);
    let hop = &http_evidence(f)[0].hops[0];
    assert!(hop.failed_phase.is_some(), "{hop:?}");
    assert!(
        f.acme_detail.as_deref().unwrap().contains("Timeout"),
        "{f:#?}"
    );
}

#[test]
fn other_status_is_not_200() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::Status(500))),
        |_| {},
    );
    let f = find(&report, FindingCode::HttpNot200);
    assert_blocks(&report, f);
    assert!(
        f.acme_detail.as_deref().unwrap().ends_with(": 500"),
        "{f:#?}"
    );
}

#[test]
fn plain_http_on_the_tls_port_after_a_redirect() {
    let report = run(web(ResponderSpec::http_on_tls_port(WEB)), |_| {});
    let f = find(&report, FindingCode::HttpOnHttpsPort);
    assert_blocks(&report, f);
    assert!(
        f.acme_detail
            .as_deref()
            .unwrap()
            .contains("Server only speaks HTTP, not TLS"),
        "{f:#?}"
    );
}

#[test]
fn tls_on_the_http_port() {
    let report = run(web(ResponderSpec::tls_on_http_port(WEB)), |_| {});
    let f = find(&report, FindingCode::TlsOnHttpPort);
    assert_blocks(&report, f);
}

#[test]
fn aaaa_to_a_server_without_the_token_is_ipv6_mismatch() {
    let report = run(split(serve(KEY_AUTHZ), HttpBehaviour::NotFound), |_| {});
    let f = find(&report, FindingCode::Ipv6Mismatch);
    assert_blocks(&report, f);
    let ev = http_evidence(f);
    assert_eq!(ev.len(), 2, "both addresses: {ev:#?}");
    assert!(ev[0].address.contains(':') && ev[0].ca_path, "{ev:#?}");
    assert!(!ev[1].address.contains(':') && !ev[1].ca_path, "{ev:#?}");
    assert_eq!(ev[0].outcome, "not_200");
    assert_eq!(ev[1].outcome, "token_served");
    assert!(
        f.summary.contains(&ev[0].address) && f.summary.contains(&ev[1].address),
        "{}",
        f.summary
    );
}

#[test]
fn a_dead_ipv6_address_falls_back_to_ipv4_like_the_ca() {
    // Nothing listens on this address of the lab's local /48: the connection
    // is refused (a dial error), so the CA retries on the first A.
    let scenario = catalogue::base(&Signing::Nsec).with_zone(ZONE, |z| {
        z.records.retain(|r| !r.starts_with("www AAAA"));
        z.records.push("www AAAA fd5c:dc5:0:ffff::dead".into());
    });
    let report = run(scenario, |_| {});
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpUnreachable);
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.summary.contains("fd5c:dc5:0:ffff::dead"), "{}", f.summary);
}

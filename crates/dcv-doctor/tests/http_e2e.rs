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

// Without a token (the usual first run): the probe fetches a random token.
// Every class that fails whatever the token blocks; the ones that depend on
// the token are warnings or info.

fn no_token(cfg: &mut CheckConfig) {
    cfg.http_token = None;
    cfg.http_body = None;
}

/// `www` served by `spec` on both families, checked without a token: the
/// class must block Let's Encrypt with `code`, say the CA's words for the
/// random token, and say why it holds for every token.
fn blocks_without_token(spec: ResponderSpec, code: FindingCode, acme_text: &str) -> Report {
    let report = run(web(spec), no_token);
    let f = find(&report, code);
    assert_blocks(&report, f);
    let detail = f.acme_detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("/.well-known/acme-challenge/") && detail.contains(acme_text),
        "{detail}"
    );
    assert!(
        f.explanation.contains("whatever the token"),
        "{}",
        f.explanation
    );
    assert!(f.summary.contains("fails for every token"), "{}", f.summary);
    let ev = http_evidence(f);
    assert!(ev[0].ca_path, "{ev:#?}");
    assert_eq!(ev[0].token_scope.as_deref(), Some("every_token"));
    report
}

#[test]
fn no_token_connection_refused_blocks() {
    // Nothing listens on www's addresses: refused on IPv6, then on IPv4.
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::PortClosed),
        FindingCode::HttpUnreachable,
        "Connection refused",
    );
}

#[test]
fn no_token_connection_reset_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::CloseImmediately),
        FindingCode::HttpUnreachable,
        "Connection reset by peer",
    );
}

#[test]
fn no_token_silence_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Silent),
        FindingCode::HttpUnreachable,
        "Timeout after connect",
    );
}

#[test]
fn no_token_slow_response_blocks() {
    // The lab's phase budget is 800 ms.
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Slow { delay_ms: 2000 }),
        FindingCode::HttpUnreachable,
        "Timeout after connect",
    );
}

#[test]
fn no_token_bare_403_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Status(403)),
        FindingCode::HttpBlocked,
        ": 403",
    );
}

#[test]
fn no_token_waf_block_page_blocks() {
    let report = blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::BlockPage),
        FindingCode::HttpBlocked,
        ": 403",
    );
    // One cause, both addresses: one finding naming both.
    assert_eq!(
        report
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::HttpBlocked)
            .count(),
        1
    );
    assert_eq!(
        http_evidence(find(&report, FindingCode::HttpBlocked)).len(),
        2
    );
}

#[test]
fn no_token_401_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Status(401)),
        FindingCode::HttpNot200,
        ": 401",
    );
}

#[test]
fn no_token_451_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Status(451)),
        FindingCode::HttpNot200,
        ": 451",
    );
}

#[test]
fn no_token_server_error_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Status(502)),
        FindingCode::HttpNot200,
        ": 502",
    );
}

#[test]
fn no_token_managed_challenge_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::ChallengePage),
        FindingCode::HttpChallengePage,
        ": 403",
    );
}

#[test]
fn no_token_under_attack_page_blocks() {
    let report = blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::UnderAttack),
        FindingCode::HttpChallengePage,
        ": 503",
    );
    let f = find(&report, FindingCode::HttpChallengePage);
    assert!(f.fix.contains("Under Attack"), "{}", f.fix);
}

#[test]
fn no_token_redirect_loop_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::RedirectLoop),
        FindingCode::HttpBadRedirect,
        "Redirect loop detected",
    );
}

#[test]
fn no_token_too_many_redirects_blocks() {
    blocks_without_token(
        ResponderSpec::new(
            WEB,
            HttpBehaviour::RedirectChain {
                count: 12,
                body: "x".into(),
            },
        ),
        FindingCode::HttpBadRedirect,
        "Too many redirects",
    );
}

#[test]
fn no_token_303_redirect_blocks() {
    blocks_without_token(
        ResponderSpec::new(
            WEB,
            HttpBehaviour::Redirect {
                status: 303,
                location: "https://{host}{path}".into(),
            },
        ),
        FindingCode::HttpBadRedirect,
        "received disallowed redirect status code",
    );
}

#[test]
fn no_token_redirect_to_another_port_blocks() {
    blocks_without_token(
        ResponderSpec::new(
            WEB,
            HttpBehaviour::Redirect {
                status: 301,
                location: "http://{host}:8443{path}".into(),
            },
        ),
        FindingCode::HttpBadRedirect,
        "not 8443",
    );
}

#[test]
fn no_token_redirect_to_another_scheme_blocks() {
    blocks_without_token(
        ResponderSpec::new(
            WEB,
            HttpBehaviour::Redirect {
                status: 302,
                location: "ftp://{host}{path}".into(),
            },
        ),
        FindingCode::HttpBadRedirect,
        "not \"ftp\"",
    );
}

#[test]
fn no_token_redirect_to_a_closed_https_port_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::PortClosed),
        FindingCode::HttpUnreachable,
        "Connection refused",
    );
}

#[test]
fn no_token_redirect_to_plain_http_on_443_blocks() {
    blocks_without_token(
        ResponderSpec::http_on_tls_port(WEB),
        FindingCode::HttpOnHttpsPort,
        "Server only speaks HTTP, not TLS",
    );
}

#[test]
fn no_token_tls_failure_after_redirect_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::TlsNoCertificate),
        FindingCode::HttpUnreachable,
        "remote error: tls:",
    );
}

#[test]
fn no_token_tls_on_port_80_blocks() {
    blocks_without_token(
        ResponderSpec::tls_on_http_port(WEB),
        FindingCode::TlsOnHttpPort,
        "Error getting validation data",
    );
}

#[test]
fn no_token_http2_on_port_80_blocks() {
    blocks_without_token(
        ResponderSpec::new(WEB, HttpBehaviour::Http2Settings),
        FindingCode::TlsOnHttpPort,
        "Server is speaking HTTP/2 over HTTP",
    );
}

/// A 200 for the random token: a catch-all warning, validation still possible.
fn catch_all(spec: ResponderSpec) -> Report {
    let report = run(web(spec), no_token);
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpCatchAll);
    assert_eq!(f.severity, Severity::Warning, "{f:#?}");
    assert!(f.blocks.is_empty());
    assert!(
        f.summary.contains("token that cannot exist"),
        "{}",
        f.summary
    );
    assert!(f.fix.contains("try_files"), "{}", f.fix);
    assert!(
        f.acme_detail
            .as_deref()
            .is_some_and(|d| d.contains("did not match") || d.contains("Invalid response")),
        "{f:#?}"
    );
    assert_eq!(
        http_evidence(f)[0].token_scope.as_deref(),
        Some("answered200")
    );
    report
}

#[test]
fn no_token_small_200_is_a_catch_all() {
    let report = catch_all(ResponderSpec::new(
        WEB,
        HttpBehaviour::Fixed {
            status: 200,
            headers: vec![],
            body: "OK".into(),
        },
    ));
    let f = find(&report, FindingCode::HttpCatchAll);
    assert!(
        f.acme_detail.as_deref().unwrap().ends_with("(got \"OK\")"),
        "{f:#?}"
    );
}

#[test]
fn no_token_large_200_is_a_catch_all_not_a_mismatch() {
    let report = catch_all(ResponderSpec::new(
        WEB,
        HttpBehaviour::Fixed {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: format!(
                "<!doctype html><title>app</title>{}",
                "<div></div>".repeat(40)
            ),
        },
    ));
    assert!(report.finding(FindingCode::HttpTokenMismatch).is_none());
}

#[test]
fn no_token_missing_files_redirected_home_is_a_catch_all() {
    catch_all(ResponderSpec::new(
        WEB,
        HttpBehaviour::Routes {
            routes: vec![(
                "/.well-known/acme-challenge/".into(),
                HttpBehaviour::Redirect {
                    status: 302,
                    location: "/".into(),
                },
            )],
            otherwise: Box::new(HttpBehaviour::Fixed {
                status: 200,
                headers: vec![],
                body: "home ".repeat(40),
            }),
        },
    ));
}

#[test]
fn no_token_410_is_a_warning_that_cannot_be_placed() {
    let report = run(
        web(ResponderSpec::new(WEB, HttpBehaviour::Status(410))),
        no_token,
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpNot200);
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.explanation.contains("cannot be told"),
        "{}",
        f.explanation
    );
    assert_eq!(
        http_evidence(f)[0].token_scope.as_deref(),
        Some("undetermined")
    );
}

#[test]
fn no_token_one_server_behind_both_families_is_no_mismatch() {
    let report = run(catalogue::valid(), no_token);
    assert!(
        report.finding(FindingCode::Ipv6Mismatch).is_none(),
        "{report:#?}"
    );
    assert_eq!(
        find(&report, FindingCode::HttpTokenNotPublished).severity,
        Severity::Info
    );
}

fn not_found_from(server: &str) -> HttpBehaviour {
    HttpBehaviour::Fixed {
        status: 404,
        headers: vec![("server".into(), server.into())],
        body: format!("<h1>404 Not Found</h1><hr>{server}"),
    }
}

#[test]
fn no_token_a_and_aaaa_on_different_servers_is_ipv6_mismatch_warning() {
    let report = run(
        split(not_found_from("nginx"), not_found_from("Apache")),
        no_token,
    );
    // Both answer 404: healthy for the CA today, but they are two servers.
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::Ipv6Mismatch);
    assert_eq!(f.severity, Severity::Warning, "{f:#?}");
    assert!(f.blocks.is_empty());
    assert!(
        f.summary.contains("Server nginx") || f.summary.contains("Server Apache"),
        "{}",
        f.summary
    );
    let ev = http_evidence(f);
    // The first A, the first A again, the AAAA: each with the same requests.
    assert_eq!(ev.len(), 3, "{ev:#?}");
    assert!(!ev[0].address.contains(':') && !ev[1].address.contains(':'));
    assert!(ev[2].address.contains(':') && ev[2].ca_path, "{ev:#?}");
    for e in &ev {
        assert_eq!(e.hops.len(), 2, "token path and site root: {e:#?}");
        assert!(e.hops[0].url.contains("/.well-known/acme-challenge/"));
        assert!(e.hops[1].url.ends_with('/'));
        assert!(
            e.hops
                .iter()
                .all(|h| h.status == Some(404) && h.body_digest.is_some())
        );
    }
    assert_eq!(ev[0].hops[0].server.as_deref(), Some("nginx"));
    assert_eq!(ev[2].hops[0].server.as_deref(), Some("Apache"));
    assert!(
        ev[2].outcome.contains("Server") && ev[2].outcome.contains("body"),
        "{}",
        ev[2].outcome
    );
}

#[test]
fn no_token_aaaa_blocked_while_a_answers_404_is_ipv6_mismatch_error() {
    let report = run(
        split(HttpBehaviour::NotFound, HttpBehaviour::BlockPage),
        no_token,
    );
    let f = find(&report, FindingCode::Ipv6Mismatch);
    assert_blocks(&report, f);
    let ev = http_evidence(f);
    assert_eq!(ev[0].token_scope.as_deref(), Some("every_token"));
}

#[test]
fn no_token_aaaa_410_while_a_answers_404_is_ipv6_mismatch_warning() {
    let report = run(
        split(HttpBehaviour::NotFound, HttpBehaviour::Status(410)),
        no_token,
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::Ipv6Mismatch);
    assert_eq!(f.severity, Severity::Warning, "{f:#?}");
}

/// `dcv-doctor check --method http` on the lab, without a token: the exit
/// status and the JSON report.
fn cli_without_token(scenario: Scenario) -> (Option<i32>, serde_json::Value) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = rt
        .block_on(dcv_lab::Lab::start(scenario))
        .expect("lab starts");
    let dir = tempfile::tempdir().unwrap();
    let files = lab.write_files(dir.path()).unwrap();
    let output = assert_cmd::Command::cargo_bin("dcv-doctor")
        .expect("binary builds")
        .env("NO_COLOR", "1")
        .args(["check", "www.example.lab", "--allow-private"])
        .args(dcv_doctor::demo::lab_flags(&lab, &files))
        .args([
            "--method",
            "http",
            "--ca",
            "letsencrypt",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    drop(lab);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code(), report)
}

#[test]
fn cli_without_a_token_exits_1_on_a_block_page_and_0_on_a_404() {
    let (code, report) = cli_without_token(web(ResponderSpec::new(WEB, HttpBehaviour::BlockPage)));
    assert_eq!(code, Some(1), "{report:#}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "http_blocked")
        .unwrap_or_else(|| panic!("no http_blocked: {report:#}"));
    assert_eq!(f["severity"], "error");
    assert_eq!(f["evidence"][0]["kind"], "http");
    assert_eq!(f["evidence"][0]["token_scope"], "every_token");

    let (code, report) = cli_without_token(catalogue::valid());
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn no_token_a_blocked_ipv4_behind_a_working_ipv6_is_a_warning() {
    // Let's Encrypt stays on IPv6 (404: healthy); other CAs may use IPv4.
    let report = run(
        split(HttpBehaviour::BlockPage, HttpBehaviour::NotFound),
        no_token,
    );
    assert!(report.ca_verdicts[0].would_validate, "{report:#?}");
    let f = find(&report, FindingCode::HttpBlocked);
    assert_eq!(f.severity, Severity::Warning, "{f:#?}");
    assert!(
        f.explanation.contains("whatever the token"),
        "{}",
        f.explanation
    );
    assert!(f.explanation.contains("other CAs"), "{}", f.explanation);
    let ev = http_evidence(f);
    assert!(!ev[0].ca_path && !ev[0].address.contains(':'), "{ev:#?}");
}

//! Lab tests: real hyper/rustls servers from `dcv_lab::http` on loopback
//! (127.x and `fd5c:dc5::/48`, made local by `scripts/lab-net-setup`), probed
//! through a fixed-table resolver (a resolver stub; the servers are real).
//!
//! Address plan: 127.A.B.n and `fd5c:dc5:0:AABB::n` with A in 2..=15, apart
//! from `dcv_lab`'s own blocks (A >= 16), so these tests never share a
//! listening address with a lab running in parallel.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dcv_http::{
    AddressResolver, BadRedirectReason, Classification, ComparedField, ErrorKind, Family,
    HttpProbeReport, Phase, ProbeConfig, ProbeError, ProblemType, ResolveError, ResolveFuture,
    ResolvedAddrs, Scheme, Target, TldPolicy, TokenScope, fetch_once, probe,
};
use dcv_lab::http::{HttpBehaviour, ResponderSpec, RunningResponder, spawn_responder};

const TOKEN: &str = "tok_LAB-123";
const KA: &str = "tok_LAB-123.thumbprint-xyz";
const HOST: &str = "www.example.lab";

/// Fixed answers; an unknown name is NXDOMAIN.
#[derive(Debug, Default)]
struct Table(HashMap<String, ResolvedAddrs>);

impl AddressResolver for Table {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            self.0.get(host).cloned().ok_or_else(|| {
                ResolveError::new(format!(
                    "DNS problem: NXDOMAIN looking up A for {host} - check that a DNS record exists for this domain"
                ))
            })
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(0);

struct TestLab {
    fam: Fam,
    a: u8,
    b: u8,
    ports: Option<(u16, u16)>,
    table: Table,
    running: Vec<RunningResponder>,
    config: ProbeConfig,
}

impl TestLab {
    fn new(fam: Fam) -> Self {
        let n = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed);
        let base = std::process::id().wrapping_mul(2_654_435_761) >> 8;
        let index = base.wrapping_add(n) % (14 * 256);
        let a = 2 + u8::try_from(index / 256).expect("a");
        let b = u8::try_from(index % 256).expect("b");
        let config = ProbeConfig {
            allow_private: true,
            tld_policy: TldPolicy::Predicate(|t| t == "lab"),
            connect_timeout: Duration::from_secs(2),
            tls_timeout: Duration::from_secs(2),
            response_headers_timeout: Duration::from_millis(800),
            body_timeout: Duration::from_secs(1),
            total_deadline: Duration::from_secs(8),
            ..ProbeConfig::default()
        };
        Self {
            fam,
            a,
            b,
            ports: None,
            table: Table::default(),
            running: Vec::new(),
            config,
        }
    }

    fn v4(&self, n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, self.a, self.b, n))
    }

    fn v6(&self, n: u8) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(
            0xfd5c,
            0x0dc5,
            0,
            u16::from(self.a) << 8 | u16::from(self.b),
            0,
            0,
            0,
            u16::from(n),
        ))
    }

    fn addr(&self, n: u8) -> IpAddr {
        match self.fam {
            Fam::V4 => self.v4(n),
            Fam::V6 => self.v6(n),
        }
    }

    async fn serve_on(&mut self, ip: IpAddr, spec: ResponderSpec) -> IpAddr {
        let (h, s) = self.ports.unwrap_or((0, 0));
        let r = spawn_responder(&spec, &[ip], h, s)
            .await
            .unwrap_or_else(|e| panic!("spawn {} on {ip}: {e}", spec.name));
        self.ports = Some((r.http_port(), r.https_port()));
        self.config.http_port = r.http_port();
        self.config.https_port = r.https_port();
        self.running.push(r);
        ip
    }

    async fn serve(&mut self, n: u8, behaviour: HttpBehaviour) -> IpAddr {
        let ip = self.addr(n);
        self.serve_on(ip, ResponderSpec::new(format!("r{n}"), behaviour))
            .await
    }

    fn name(&mut self, host: &str, ips: &[IpAddr]) {
        let mut addrs = ResolvedAddrs::default();
        for ip in ips {
            if ip.is_ipv6() {
                addrs.v6.push(*ip);
            } else {
                addrs.v4.push(*ip);
            }
        }
        self.table.0.insert(host.to_owned(), addrs);
    }

    async fn probe(&self, host: &str, expected: Option<&str>) -> HttpProbeReport {
        probe(&self.config, host, TOKEN, expected, &self.table)
            .await
            .expect("probe input is valid")
    }

    /// One-address probe of `HOST` served by `behaviour` (or `spec`).
    async fn single(
        fam: Fam,
        spec: ResponderSpec,
        expected: Option<&str>,
    ) -> (Self, IpAddr, HttpProbeReport) {
        let mut lab = Self::new(fam);
        let ip = lab.addr(1);
        lab.serve_on(ip, spec).await;
        lab.name(HOST, &[ip]);
        let report = lab.probe(HOST, expected).await;
        (lab, ip, report)
    }
}

fn url() -> String {
    format!("http://{HOST}/.well-known/acme-challenge/{TOKEN}")
}

fn spec(b: HttpBehaviour) -> ResponderSpec {
    ResponderSpec::new("web", b)
}

fn only(report: &HttpProbeReport) -> &dcv_http::AddressAttempt {
    assert_eq!(report.attempts.len(), 1, "{report:#?}");
    &report.attempts[0]
}

fn detail(report: &HttpProbeReport) -> String {
    report
        .ca_view
        .problem
        .as_ref()
        .map(|p| p.detail.clone())
        .unwrap_or_default()
}

const FAMS: [Fam; 2] = [Fam::V4, Fam::V6];

#[tokio::test]
async fn token_served() {
    for fam in FAMS {
        let (lab, ip, report) = TestLab::single(
            fam,
            spec(HttpBehaviour::ServeToken {
                token: TOKEN.into(),
                body: format!("{KA}\r\n"),
            }),
            Some(KA),
        )
        .await;
        let att = only(&report);
        assert_eq!(att.address, ip);
        assert!(
            matches!(&att.classification, Classification::TokenServed { url: u, .. } if *u == url()),
            "{:#?}",
            att.classification
        );
        assert_eq!(att.hops.len(), 1);
        let hop = &att.hops[0];
        assert_eq!(
            (hop.status, hop.address, hop.port, hop.scheme),
            (Some(200), Some(ip), 80, Scheme::Http)
        );
        assert!(hop.timings.connect_ms.is_some() && hop.timings.headers_ms.is_some());
        assert_eq!(report.ca_view.validates, Some(true));
        assert_eq!(report.ca_view.addresses_tried, vec![ip]);
        assert!(report.ca_view.problem.is_none());
        // What the server saw: Host without port, LE's user agent.
        let seen = lab.running[0].requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].host.as_deref(), Some(HOST));
        assert_eq!(seen[0].path, format!("/.well-known/acme-challenge/{TOKEN}"));
        assert_eq!(
            seen[0].user_agent.as_deref(),
            Some(dcv_http::limits::LETS_ENCRYPT_USER_AGENT)
        );
    }
}

#[tokio::test]
async fn token_mismatch() {
    for fam in FAMS {
        let (_lab, _ip, report) = TestLab::single(
            fam,
            spec(HttpBehaviour::ServeToken {
                token: TOKEN.into(),
                body: "wrong\"body".into(),
            }),
            Some(KA),
        )
        .await;
        let att = only(&report);
        match &att.classification {
            Classification::TokenMismatch { expected, got, .. } => {
                assert_eq!(expected, &format!("\"{KA}\""));
                assert_eq!(got, "\"wrong\\\"body\"");
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "The key authorization file from the server did not match this challenge. Expected \"{KA}\" (got \"wrong\\\"body\")"
            )
        );
        assert_eq!(report.ca_view.validates, Some(false));
    }
}

#[tokio::test]
async fn token_not_published_is_healthy_for_probe_token() {
    for fam in FAMS {
        let (_lab, ip, report) = TestLab::single(fam, spec(HttpBehaviour::NotFound), None).await;
        let att = only(&report);
        assert!(
            matches!(att.classification, Classification::TokenNotPublished { .. }),
            "{:#?}",
            att.classification
        );
        assert!(att.classification.is_healthy());
        assert_eq!(
            detail(&report),
            format!("{ip}: Invalid response from {}: 404", url())
        );
        assert_eq!(report.ca_view.validates, None);
    }
}

#[tokio::test]
async fn not_200() {
    for fam in FAMS {
        let (_lab, ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Status(500)), Some(KA)).await;
        assert!(matches!(
            only(&report).classification,
            Classification::Not200 { status: 500, .. }
        ));
        assert_eq!(
            detail(&report),
            format!("{ip}: Invalid response from {}: 500", url())
        );
        assert_eq!(
            report.ca_view.problem.as_ref().map(|p| p.problem_type),
            Some(ProblemType::Unauthorized)
        );
    }
}

#[tokio::test]
async fn challenge_page() {
    for fam in FAMS {
        let (_lab, ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::ChallengePage), Some(KA)).await;
        match &only(&report).classification {
            Classification::ChallengePage {
                status,
                vendor,
                markers,
                ..
            } => {
                assert_eq!(*status, 403);
                assert_eq!(vendor.as_deref(), Some("cloudflare"));
                assert!(
                    markers.iter().any(|m| m == "cf-mitigated: challenge"),
                    "{markers:?}"
                );
                assert!(
                    markers.iter().any(|m| m == "Just a moment..."),
                    "{markers:?}"
                );
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!("{ip}: Invalid response from {}: 403", url())
        );
    }
}

#[tokio::test]
async fn blocked_pages() {
    for fam in FAMS {
        for (behaviour, want_vendor, want_status) in [
            (HttpBehaviour::BlockPage, "cloudflare", 403),
            (HttpBehaviour::FirewallBlock, "palo-alto", 503),
            (HttpBehaviour::TestCookie, "nginx-testcookie", 200),
        ] {
            let (_lab, ip, report) = TestLab::single(fam, spec(behaviour), Some(KA)).await;
            match &only(&report).classification {
                Classification::Blocked { status, vendor, .. } => {
                    assert_eq!(
                        (*status, vendor.as_deref()),
                        (want_status, Some(want_vendor))
                    );
                }
                other => panic!("{other:#?}"),
            }
            let d = detail(&report);
            assert!(
                d.starts_with(&format!("{ip}: Invalid response from {}: ", url())),
                "{d}"
            );
        }
    }
}

#[tokio::test]
async fn redirect_to_https_serving_token() {
    for fam in FAMS {
        let (lab, ip, report) = TestLab::single(
            fam,
            ResponderSpec::http_to_https("web", TOKEN, KA),
            Some(KA),
        )
        .await;
        let att = only(&report);
        match &att.classification {
            Classification::RedirectToHttps {
                from,
                to,
                hops,
                outcome,
            } => {
                assert_eq!(from, &url());
                assert_eq!(
                    to,
                    &format!("https://{HOST}/.well-known/acme-challenge/{TOKEN}")
                );
                assert_eq!(hops.len(), 2);
                assert!(
                    matches!(**outcome, Classification::TokenServed { .. }),
                    "{outcome:#?}"
                );
            }
            other => panic!("{other:#?}"),
        }
        assert!(att.classification.is_healthy());
        let https = &att.hops[1];
        assert_eq!(
            (https.scheme, https.port, https.address, https.status),
            (Scheme::Https, 443, Some(ip), Some(200))
        );
        let tls = https.tls.as_ref().expect("tls info");
        assert_eq!(tls.sni.as_deref(), Some(HOST));
        assert_eq!(tls.presented_chain.len(), 1);
        assert!(https.timings.tls_ms.is_some());
        assert_eq!(att.hops[0].status, Some(301));
        assert_eq!(report.ca_view.validates, Some(true));
        let seen = lab.running[0].requests();
        assert!(
            seen.iter().any(|r| r.tls && r.sni.as_deref() == Some(HOST)),
            "{seen:?}"
        );
    }
}

#[tokio::test]
async fn tls_failure_after_redirect() {
    for fam in FAMS {
        let s = ResponderSpec::new("web", HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::CloseImmediately);
        let (_lab, _ip, report) = TestLab::single(fam, s, Some(KA)).await;
        let c = &only(&report).classification;
        assert!(
            matches!(c, Classification::RedirectToHttps { .. }),
            "{c:#?}"
        );
        match c.outcome() {
            Classification::Unreachable {
                phase,
                error_kind,
                after_redirect,
                ..
            } => {
                assert_eq!(*phase, Phase::Tls);
                assert!(
                    matches!(error_kind, ErrorKind::Reset | ErrorKind::Closed),
                    "{error_kind:?}"
                );
                assert!(after_redirect);
            }
            other => panic!("{other:#?}"),
        }
    }
}

#[tokio::test]
async fn http_on_https_port() {
    for fam in FAMS {
        let (_lab, ip, report) =
            TestLab::single(fam, ResponderSpec::http_on_tls_port("web"), Some(KA)).await;
        match only(&report).classification.outcome() {
            Classification::HttpOnHttpsPort { address, url } => {
                assert_eq!(*address, ip);
                assert!(url.starts_with("https://"));
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching https://{HOST}/.well-known/acme-challenge/{TOKEN}: Server only speaks HTTP, not TLS"
            )
        );
        assert_eq!(
            report.ca_view.problem.as_ref().map(|p| p.problem_type),
            Some(ProblemType::Malformed)
        );
    }
}

#[tokio::test]
async fn tls_on_http_port() {
    for fam in FAMS {
        let (_lab, ip, report) =
            TestLab::single(fam, ResponderSpec::tls_on_http_port("web"), Some(KA)).await;
        assert!(
            matches!(only(&report).classification, Classification::TlsOnHttpPort { address, .. } if address == ip),
            "{:#?}",
            only(&report)
        );
        assert_eq!(
            detail(&report),
            format!("{ip}: Fetching {}: Error getting validation data", url())
        );
    }
}

#[tokio::test]
async fn http2_on_http_port() {
    for fam in FAMS {
        let (_lab, ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Http2Settings), Some(KA)).await;
        assert!(
            matches!(
                only(&report).classification,
                Classification::Http2OnHttpPort { .. }
            ),
            "{:#?}",
            only(&report)
        );
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching {}: Server is speaking HTTP/2 over HTTP",
                url()
            )
        );
    }
}

#[tokio::test]
async fn refused() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        lab.serve(1, HttpBehaviour::NotFound).await; // fixes the ports
        let dead = lab.addr(2);
        lab.name(HOST, &[dead]);
        let report = lab.probe(HOST, Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase,
                error_kind,
                address,
                after_redirect,
                ..
            } => {
                assert_eq!(
                    (*phase, *error_kind, *address, *after_redirect),
                    (Phase::Connect, ErrorKind::Refused, Some(dead), false)
                );
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!("{dead}: Fetching {}: Connection refused", url())
        );
    }
}

#[tokio::test]
async fn silent_server_times_out() {
    for fam in FAMS {
        let started = Instant::now();
        let (_lab, ip, report) = TestLab::single(fam, spec(HttpBehaviour::Silent), Some(KA)).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
        match &only(&report).classification {
            Classification::Unreachable {
                phase, error_kind, ..
            } => {
                assert_eq!((*phase, *error_kind), (Phase::Response, ErrorKind::Timeout));
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching {}: Timeout after connect (your server may be slow or overloaded)",
                url()
            )
        );
    }
}

#[tokio::test]
async fn slow_server_times_out_and_reset_is_reported() {
    for fam in FAMS {
        let (_lab, _ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Slow { delay_ms: 5_000 }), Some(KA)).await;
        assert!(matches!(
            only(&report).classification,
            Classification::Unreachable {
                error_kind: ErrorKind::Timeout,
                ..
            }
        ));

        let (_lab, _ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::CloseImmediately), Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase, error_kind, ..
            } => {
                assert_eq!(*phase, Phase::Response);
                assert!(
                    matches!(error_kind, ErrorKind::Reset | ErrorKind::Closed),
                    "{error_kind:?}"
                );
            }
            other => panic!("{other:#?}"),
        }
    }
}

#[tokio::test]
async fn body_too_large_is_quoted_like_boulder() {
    for fam in FAMS {
        let body = format!("{}{}", "x".repeat(120), "é".repeat(20));
        let (_lab, ip, report) = TestLab::single(
            fam,
            spec(HttpBehaviour::Fixed {
                status: 200,
                headers: vec![],
                body: body.clone(),
            }),
            Some(KA),
        )
        .await;
        match &only(&report).classification {
            Classification::BodyTooLarge {
                bytes_read,
                complete,
                limit,
                ..
            } => {
                assert_eq!((*bytes_read, *complete, *limit), (body.len(), true, 128));
            }
            other => panic!("{other:#?}"),
        }
        // 128 bytes: 120 'x' and four 'é' (8 bytes).
        let quoted = format!("\"{}{}\"", "x".repeat(120), "é".repeat(4));
        assert_eq!(
            detail(&report),
            format!("{ip}: Invalid response from {}: {quoted}", url())
        );
    }
}

#[tokio::test]
async fn endless_body_is_capped_in_bounded_time() {
    for fam in FAMS {
        let started = Instant::now();
        let (_lab, _ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::HugeBody), Some(KA)).await;
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        match &only(&report).classification {
            Classification::BodyTooLarge {
                bytes_read,
                complete,
                ..
            } => {
                assert_eq!(*bytes_read, dcv_http::limits::BODY_EXCERPT_LIMIT);
                assert!(!complete);
            }
            other => panic!("{other:#?}"),
        }
        let resp = only(&report).hops[0].response.as_ref().expect("response");
        assert_eq!(
            resp.body.excerpt.len(),
            dcv_http::limits::BODY_EXCERPT_LIMIT
        );
    }
}

#[tokio::test]
async fn bad_redirects() {
    for fam in FAMS {
        let cases: Vec<(HttpBehaviour, &str)> = vec![
            (
                HttpBehaviour::Redirect {
                    status: 302,
                    location: "http://{host}:8080{path}".into(),
                },
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080",
            ),
            (
                HttpBehaviour::Redirect {
                    status: 303,
                    location: "https://{host}{path}".into(),
                },
                "received disallowed redirect status code",
            ),
            (
                HttpBehaviour::Redirect {
                    status: 302,
                    location: "https://{host}.well-known/acme-challenge/x".into(),
                },
                "Invalid host in redirect target \"www.example.lab.well-known\". Check webserver config for missing '/' in redirect target.",
            ),
            (
                HttpBehaviour::Redirect {
                    status: 301,
                    location: "ftp://{host}/x".into(),
                },
                "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"ftp\"",
            ),
            (
                HttpBehaviour::Redirect {
                    status: 301,
                    location: "http://intranet.corp/x".into(),
                },
                "Invalid host in redirect target, must end in IANA registered TLD",
            ),
            (HttpBehaviour::RedirectLoop, "Redirect loop detected"),
        ];
        for (behaviour, text) in cases {
            let (_lab, ip, report) = TestLab::single(fam, spec(behaviour.clone()), Some(KA)).await;
            let att = only(&report);
            assert!(
                matches!(att.classification, Classification::BadRedirect { .. }),
                "{behaviour:?}: {:#?}",
                att.classification
            );
            assert_eq!(att.hops.len(), 1, "{behaviour:?}");
            let d = detail(&report);
            assert!(d.starts_with(&format!("{ip}: Fetching ")), "{d}");
            assert!(d.ends_with(text), "{behaviour:?}: {d}");
            assert!(att.refused_redirect.is_some());
        }
    }
}

#[tokio::test]
async fn reserved_redirect_target_refused_unless_allowed() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        let target = lab.addr(2);
        lab.serve(
            2,
            HttpBehaviour::ServeToken {
                token: TOKEN.into(),
                body: KA.into(),
            },
        )
        .await;
        let lit = match target {
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        let ip = lab
            .serve(
                1,
                HttpBehaviour::Redirect {
                    status: 302,
                    location: format!("http://{lit}{{path}}"),
                },
            )
            .await;
        lab.name(HOST, &[ip]);
        let allowed = lab.probe(HOST, Some(KA)).await;
        assert!(
            matches!(
                only(&allowed).classification,
                Classification::TokenServed { .. }
            ),
            "{:#?}",
            only(&allowed)
        );
        assert_eq!(only(&allowed).hops[1].address, Some(target));

        lab.config.allow_private = false;
        let refused = lab.probe(HOST, Some(KA)).await;
        match &only(&refused).classification {
            Classification::BadRedirect {
                reason: BadRedirectReason::ReservedTarget { ip: r, range },
                ..
            } => {
                assert_eq!(*r, target);
                assert!(
                    range
                        .rfc
                        .contains(if fam == Fam::V4 { "RFC1122" } else { "RFC4193" }),
                    "{range:?}"
                );
            }
            other => panic!("{other:#?}"),
        }
        assert!(detail(&refused).contains(
            "Invalid host in redirect target: IP address is in a reserved address block"
        ));
    }
}

#[tokio::test]
async fn redirect_count_follows_boulder() {
    for fam in FAMS {
        for (count, ok) in [(10u32, true), (11, true), (12, false)] {
            let (_lab, ip, report) = TestLab::single(
                fam,
                spec(HttpBehaviour::RedirectChain {
                    count,
                    body: KA.into(),
                }),
                Some(KA),
            )
            .await;
            let att = only(&report);
            if ok {
                assert!(
                    matches!(att.classification, Classification::TokenServed { .. }),
                    "{count}: {:#?}",
                    att.classification
                );
                assert_eq!(att.hops.len(), count as usize + 1);
            } else {
                match &att.classification {
                    Classification::BadRedirect {
                        reason: BadRedirectReason::TooManyRedirects { followed },
                        ..
                    } => {
                        assert_eq!(*followed, 11);
                    }
                    other => panic!("{count}: {other:#?}"),
                }
                assert_eq!(att.hops.len(), 12);
                assert_eq!(
                    detail(&report),
                    format!("{ip}: Fetching {}/hop-12: Too many redirects", url())
                );
            }
        }
    }
}

#[tokio::test]
async fn redirect_to_other_host_is_re_resolved() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        let other = lab
            .serve(
                2,
                HttpBehaviour::ServeToken {
                    token: TOKEN.into(),
                    body: KA.into(),
                },
            )
            .await;
        let ip = lab
            .serve(
                1,
                HttpBehaviour::Redirect {
                    status: 307,
                    location: "http://cdn.example.lab{path}".into(),
                },
            )
            .await;
        lab.name(HOST, &[ip]);
        lab.name("cdn.example.lab", &[other]);
        let report = lab.probe(HOST, Some(KA)).await;
        let att = only(&report);
        assert!(
            matches!(att.classification, Classification::TokenServed { .. }),
            "{:#?}",
            att.classification
        );
        assert_eq!(att.hops[1].host, "cdn.example.lab");
        assert_eq!(att.hops[1].address, Some(other));
        assert!(att.hops[1].addresses_resolved.is_some());

        // A target that does not resolve: a DNS problem named after the hop.
        let mut lab = TestLab::new(fam);
        let ip = lab
            .serve(
                1,
                HttpBehaviour::Redirect {
                    status: 302,
                    location: "http://missing.example.lab/x".into(),
                },
            )
            .await;
        lab.name(HOST, &[ip]);
        let report = lab.probe(HOST, Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase: Phase::Dns,
                error_kind: ErrorKind::DnsFailure,
                after_redirect: true,
                ..
            } => {}
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching http://missing.example.lab/x: DNS problem: NXDOMAIN looking up A for missing.example.lab - check that a DNS record exists for this domain"
            )
        );
        assert_eq!(
            report.ca_view.problem.as_ref().map(|p| p.problem_type),
            Some(ProblemType::Dns)
        );
    }
}

#[tokio::test]
async fn ipv6_404_while_ipv4_serves_token() {
    let mut lab = TestLab::new(Fam::V6);
    let v4 = lab.v4(1);
    let v6 = lab.v6(1);
    lab.serve_on(v6, spec(HttpBehaviour::NotFound)).await;
    lab.serve_on(
        v4,
        spec(HttpBehaviour::ServeToken {
            token: TOKEN.into(),
            body: KA.into(),
        }),
    )
    .await;
    lab.name(HOST, &[v4, v6]);
    let report = lab.probe(HOST, Some(KA)).await;

    assert_eq!(report.attempts.len(), 2);
    let a6 = report.first_ipv6().expect("v6 attempt");
    let a4 = report.first_ipv4().expect("v4 attempt");
    assert_eq!((a6.address, a6.family), (v6, Family::Ipv6));
    assert!(matches!(
        a6.classification,
        Classification::Not200 { status: 404, .. }
    ));
    assert!(matches!(
        a4.classification,
        Classification::TokenServed { .. }
    ));
    assert!(report.families_disagree());

    // The CA stays on IPv6: a bad status is not a dial error.
    let ca = &report.ca_view;
    assert_eq!(ca.addresses_tried, vec![v6]);
    assert!(!ca.fell_back_to_ipv4);
    assert_eq!(ca.validates, Some(false));
    assert!(matches!(
        ca.classification,
        Classification::Not200 { status: 404, .. }
    ));
    assert_eq!(
        detail(&report),
        format!("{v6}: Invalid response from {}: 404", url())
    );
    assert_eq!(report.attempts[ca.attempt.expect("attempt")].address, v6);
}

#[tokio::test]
async fn ipv6_dial_failure_falls_back_to_ipv4() {
    let mut lab = TestLab::new(Fam::V6);
    let v4 = lab.v4(1);
    let v6 = lab.v6(1); // nothing listens here: connection refused
    lab.serve_on(
        v4,
        spec(HttpBehaviour::ServeToken {
            token: TOKEN.into(),
            body: KA.into(),
        }),
    )
    .await;
    lab.name(HOST, &[v4, v6]);
    let report = lab.probe(HOST, Some(KA)).await;

    let a6 = report.first_ipv6().expect("v6 attempt");
    assert!(a6.ended_in_dial_error());
    assert!(matches!(
        a6.classification,
        Classification::Unreachable {
            phase: Phase::Connect,
            error_kind: ErrorKind::Refused,
            ..
        }
    ));
    let ca = &report.ca_view;
    assert!(ca.fell_back_to_ipv4);
    assert_eq!(ca.addresses_tried, vec![v6, v4]);
    assert_eq!(ca.validates, Some(true));
    assert!(matches!(
        ca.classification,
        Classification::TokenServed { .. }
    ));
}

#[tokio::test]
async fn wildcard_and_bad_input_refused() {
    let lab = TestLab::new(Fam::V4);
    let err = probe(&lab.config, "*.example.lab", TOKEN, Some(KA), &lab.table)
        .await
        .expect_err("wildcard");
    assert!(matches!(err, ProbeError::WildcardNotAllowed { .. }));
    assert!(err.to_string().contains("RFC 8555 §8.3"));
    let err = probe(&lab.config, HOST, "bad/token", Some(KA), &lab.table)
        .await
        .expect_err("token");
    assert!(matches!(err, ProbeError::InvalidTokenPath(_)));
}

#[tokio::test]
async fn unresolvable_name() {
    let lab = TestLab::new(Fam::V4);
    let report = probe(
        &lab.config,
        "nowhere.example.lab",
        TOKEN,
        Some(KA),
        &lab.table,
    )
    .await
    .expect("report");
    assert!(report.attempts.is_empty());
    assert!(report.resolve_error.is_some());
    assert_eq!(
        report.ca_view.problem.as_ref().map(|p| p.problem_type),
        Some(ProblemType::Dns)
    );
    assert!(detail(&report).starts_with("DNS problem: NXDOMAIN"));
}

#[tokio::test]
async fn fetch_once_over_tls_records_phases() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        let ip = lab
            .serve(
                1,
                HttpBehaviour::ServeToken {
                    token: TOKEN.into(),
                    body: KA.into(),
                },
            )
            .await;
        let target = Target {
            host: HOST.into(),
            ip,
            port: lab.config.https_port,
            scheme: Scheme::Https,
            path: format!("/.well-known/acme-challenge/{TOKEN}"),
            logical_port: Some(443),
        };
        let out = fetch_once(&lab.config, &target).await;
        assert!(out.error.is_none(), "{out:#?}");
        let resp = out.response.expect("response");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.excerpt, KA.as_bytes());
        assert!(resp.body.complete);
        let tls = out.tls.expect("tls");
        assert!(tls.version.is_some() && tls.cipher_suite.is_some());
        assert!(!tls.presented_chain.is_empty());
        assert!(
            out.timings.connect_ms.is_some()
                && out.timings.tls_ms.is_some()
                && out.timings.body_ms.is_some()
        );
        let json = serde_json::to_value(&tls).expect("serialises");
        assert!(
            json["presented_chain"][0]
                .as_str()
                .is_some_and(|s| s.starts_with("30"))
        );
    }
}

#[tokio::test]
async fn redirect_without_location_and_unparsable_location() {
    for fam in FAMS {
        let (_lab, ip, report) = TestLab::single(
            fam,
            spec(HttpBehaviour::Fixed {
                status: 301,
                headers: vec![("location".into(), " ".into())],
                body: String::new(),
            }),
            Some(KA),
        )
        .await;
        assert!(
            matches!(
                only(&report).classification,
                Classification::Not200 { status: 301, .. }
            ),
            "{:#?}",
            only(&report)
        );
        assert_eq!(
            detail(&report),
            format!("{ip}: Invalid response from {}: 301", url())
        );

        let (_lab, ip, report) = TestLab::single(
            fam,
            spec(HttpBehaviour::Redirect {
                status: 302,
                location: "http://[zz/x".into(),
            }),
            Some(KA),
        )
        .await;
        match &only(&report).classification {
            Classification::BadRedirect {
                reason: BadRedirectReason::InvalidLocation { status: 302, .. },
                ..
            } => {}
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching {}: Invalid Location header in 302 redirect",
                url()
            )
        );
    }
}

#[tokio::test]
async fn redirect_name_with_only_reserved_addresses() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        let other = lab
            .serve(
                2,
                HttpBehaviour::ServeToken {
                    token: TOKEN.into(),
                    body: KA.into(),
                },
            )
            .await;
        let ip = lab
            .serve(
                1,
                HttpBehaviour::Redirect {
                    status: 302,
                    location: "http://internal.example.lab{path}".into(),
                },
            )
            .await;
        lab.name(HOST, &[ip]);
        lab.name("internal.example.lab", &[other]);
        lab.config.allow_private = false;
        let report = lab.probe(HOST, Some(KA)).await;
        let att = only(&report);
        match &att.classification {
            Classification::Unreachable {
                phase: Phase::Dns, ..
            } => {}
            other => panic!("{other:#?}"),
        }
        let last = att.hops.last().expect("hop");
        assert_eq!(last.address, None);
        assert!(
            last.addresses_resolved
                .as_ref()
                .is_some_and(|r| r.all().any(|a| a == other))
        );
        assert!(detail(&report).ends_with(
            "no valid A records found for internal.example.lab; no valid AAAA records found for internal.example.lab"
        ));
    }
}

#[tokio::test]
async fn report_serialises_with_stable_names() {
    let mut lab = TestLab::new(Fam::V6);
    let v4 = lab.v4(1);
    let v6 = lab.v6(1);
    lab.serve_on(
        v6,
        spec(HttpBehaviour::Redirect {
            status: 302,
            location: "http://{host}:8080/".into(),
        }),
    )
    .await;
    lab.serve_on(v4, ResponderSpec::http_to_https("web", TOKEN, KA))
        .await;
    lab.name(HOST, &[v4, v6]);
    let report = lab.probe(HOST, Some(KA)).await;
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["ca_view"]["classification"]["kind"], "bad_redirect");
    assert_eq!(json["ca_view"]["classification"]["reason"]["code"], "port");
    assert_eq!(json["ca_view"]["classification"]["reason"]["port"], 8080);
    assert_eq!(json["ca_view"]["problem"]["type"], "connection");
    assert_eq!(json["attempts"][0]["family"], "ipv6");
    assert_eq!(
        json["attempts"][1]["classification"]["kind"],
        "redirect_to_https"
    );
    assert_eq!(
        json["attempts"][1]["classification"]["outcome"]["kind"],
        "bad_redirect"
    );
    // Like the CA, the https hop re-resolves the name and takes its first
    // AAAA: the IPv4 chain lands on the IPv6 server and its bad redirect.
    assert_eq!(json["attempts"][1]["hops"][1]["scheme"], "https");
    assert_eq!(json["attempts"][1]["hops"][1]["address"], v6.to_string());
    assert_eq!(json["attempts"][1]["hops"][0]["status"], 301);
    assert!(!report.families_disagree());
}

/// A listener whose accept queue is full: further SYNs are dropped, so a
/// connect really times out (no packet leaves loopback).
async fn blackhole(ip: IpAddr, port: u16) -> (tokio::net::TcpListener, Vec<tokio::net::TcpStream>) {
    let socket = if ip.is_ipv6() {
        tokio::net::TcpSocket::new_v6()
    } else {
        tokio::net::TcpSocket::new_v4()
    }
    .expect("socket");
    socket
        .bind(std::net::SocketAddr::new(ip, port))
        .expect("bind blackhole");
    let listener = socket.listen(0).expect("listen");
    let mut held = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect((ip, port)),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    (listener, held)
}

#[tokio::test]
async fn connect_timeout_and_dial_timeout_fallback() {
    for fam in FAMS {
        let mut lab = TestLab::new(fam);
        lab.serve(1, HttpBehaviour::NotFound).await; // fixes the ports
        let dead = lab.addr(2);
        let _hole = blackhole(dead, lab.config.http_port).await;
        lab.config.connect_timeout = Duration::from_millis(400);
        lab.name(HOST, &[dead]);
        let report = lab.probe(HOST, Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase, error_kind, ..
            } => {
                assert_eq!((*phase, *error_kind), (Phase::Connect, ErrorKind::Timeout));
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!(
                "{dead}: Fetching {}: Timeout during connect (likely firewall problem)",
                url()
            )
        );
    }

    // A dial timeout on the first AAAA is a fallback error too.
    let mut lab = TestLab::new(Fam::V6);
    let v4 = lab.v4(1);
    let v6 = lab.v6(1);
    lab.serve_on(
        v4,
        spec(HttpBehaviour::ServeToken {
            token: TOKEN.into(),
            body: KA.into(),
        }),
    )
    .await;
    let _hole = blackhole(v6, lab.config.http_port).await;
    lab.config.connect_timeout = Duration::from_millis(400);
    lab.name(HOST, &[v6, v4]);
    let report = lab.probe(HOST, Some(KA)).await;
    assert!(report.ca_view.fell_back_to_ipv4);
    assert_eq!(report.ca_view.addresses_tried, vec![v6, v4]);
    assert_eq!(report.ca_view.validates, Some(true));
}

#[tokio::test]
async fn tls_alert_after_redirect() {
    for fam in FAMS {
        let s = ResponderSpec::new("web", HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::TlsNoCertificate);
        let (_lab, ip, report) = TestLab::single(fam, s, Some(KA)).await;
        let att = only(&report);
        match att.classification.outcome() {
            Classification::Unreachable {
                phase,
                error_kind,
                after_redirect,
                ..
            } => {
                assert_eq!(
                    (*phase, *error_kind, *after_redirect),
                    (Phase::Tls, ErrorKind::TlsAlert, true)
                );
            }
            other => panic!("{other:#?}"),
        }
        let err = att.hops[1].error.as_ref().expect("error");
        assert_eq!(err.tls_alert.as_deref(), Some("access denied"));
        assert_eq!(
            detail(&report),
            format!(
                "{ip}: Fetching https://{HOST}/.well-known/acme-challenge/{TOKEN}: remote error: tls: access denied"
            )
        );
        assert_eq!(
            report.ca_view.problem.as_ref().map(|p| p.problem_type),
            Some(ProblemType::Tls)
        );
    }
}

#[tokio::test]
async fn truncated_and_garbage_responses() {
    for fam in FAMS {
        // The head promises 100 bytes, 5 come, then the connection closes.
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec();
        let (_lab, ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Raw(raw)), Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase, error_kind, ..
            } => {
                assert_eq!((*phase, *error_kind), (Phase::Body, ErrorKind::Closed));
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            only(&report).hops[0]
                .response
                .as_ref()
                .map(|r| r.body.excerpt.clone()),
            Some(b"short".to_vec())
        );
        assert_eq!(
            detail(&report),
            format!("{ip}: Error reading HTTP response body: unexpected EOF")
        );

        // Not HTTP at all.
        let raw = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec();
        let (_lab, ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Raw(raw)), Some(KA)).await;
        match &only(&report).classification {
            Classification::Unreachable {
                phase, error_kind, ..
            } => {
                assert_eq!(
                    (*phase, *error_kind),
                    (Phase::Response, ErrorKind::MalformedResponse)
                );
            }
            other => panic!("{other:#?}"),
        }
        assert_eq!(
            detail(&report),
            format!("{ip}: Fetching {}: Error getting validation data", url())
        );

        // Closed without a byte.
        let (_lab, _ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Raw(Vec::new())), Some(KA)).await;
        assert!(
            matches!(
                only(&report).classification,
                Classification::Unreachable {
                    phase: Phase::Response,
                    error_kind: ErrorKind::Closed,
                    ..
                }
            ),
            "{:#?}",
            only(&report).classification
        );

        // An HTTP/1.0 answer without Content-Length, body until close: fine.
        let raw = format!("HTTP/1.0 200 OK\r\n\r\n{KA}\n").into_bytes();
        let (_lab, _ip, report) =
            TestLab::single(fam, spec(HttpBehaviour::Raw(raw)), Some(KA)).await;
        assert!(
            matches!(
                only(&report).classification,
                Classification::TokenServed { .. }
            ),
            "{:#?}",
            only(&report)
        );
    }
}

// What a random token says about every token (`TokenScope`): the first run
// has no token, and the verdict must still say which failures hold for the
// CA's real one.

/// A random-looking probe token, as the runner generates (RFC 8555 §8.1).
const PROBE_TOKEN: &str = "Zq8rX2mYt0b5LkP1wVn3sA";

/// `HOST` on one fresh IPv4 address serving `spec`, probed with the probe
/// token and no expected body; the lab is tweaked first by `tweak`.
async fn no_token(spec: ResponderSpec, tweak: impl FnOnce(&mut TestLab)) -> HttpProbeReport {
    let mut lab = TestLab::new(Fam::V4);
    let ip = lab.addr(1);
    lab.serve_on(ip, spec).await;
    lab.name(HOST, &[ip]);
    tweak(&mut lab);
    probe(&lab.config, HOST, PROBE_TOKEN, None, &lab.table)
        .await
        .expect("probe input is valid")
}

fn redirect(status: u16, location: &str) -> HttpBehaviour {
    HttpBehaviour::Redirect {
        status,
        location: location.to_owned(),
    }
}

#[tokio::test]
async fn failures_before_the_token_matters_hold_for_every_token() {
    let cases: Vec<(&str, ResponderSpec, &str)> = vec![
        (
            "reset",
            spec(HttpBehaviour::CloseImmediately),
            "Connection reset by peer",
        ),
        (
            "no answer",
            spec(HttpBehaviour::Silent),
            "Timeout after connect",
        ),
        (
            "slow head",
            spec(HttpBehaviour::Slow { delay_ms: 1500 }),
            "Timeout after connect",
        ),
        ("bare 403", spec(HttpBehaviour::Status(403)), ": 403"),
        ("401", spec(HttpBehaviour::Status(401)), ": 401"),
        ("429", spec(HttpBehaviour::Status(429)), ": 429"),
        ("451", spec(HttpBehaviour::Status(451)), ": 451"),
        ("500", spec(HttpBehaviour::Status(500)), ": 500"),
        ("502", spec(HttpBehaviour::Status(502)), ": 502"),
        ("503", spec(HttpBehaviour::Status(503)), ": 503"),
        ("WAF block page", spec(HttpBehaviour::BlockPage), ": 403"),
        ("firewall page", spec(HttpBehaviour::FirewallBlock), ": 503"),
        (
            "test cookie",
            spec(HttpBehaviour::TestCookie),
            "Invalid response from",
        ),
        (
            "managed challenge",
            spec(HttpBehaviour::ChallengePage),
            ": 403",
        ),
        ("under attack", spec(HttpBehaviour::UnderAttack), ": 503"),
        (
            "loop",
            spec(HttpBehaviour::RedirectLoop),
            "Redirect loop detected",
        ),
        (
            "too many",
            spec(HttpBehaviour::RedirectChain {
                count: 12,
                body: "x".into(),
            }),
            "Too many redirects",
        ),
        (
            "303",
            spec(redirect(303, "http://{host}{path}/next")),
            "received disallowed redirect status code",
        ),
        (
            "port 8080",
            spec(redirect(302, "http://{host}:8080{path}")),
            "not 8080",
        ),
        (
            "ftp",
            spec(redirect(301, "ftp://{host}{path}")),
            "not \"ftp\"",
        ),
        (
            "https port closed",
            ResponderSpec::new("web", HttpBehaviour::RedirectToHttps)
                .with_tls_behaviour(HttpBehaviour::PortClosed),
            "Connection refused",
        ),
        (
            "plain http on 443",
            ResponderSpec::http_on_tls_port("web"),
            "Server only speaks HTTP, not TLS",
        ),
        (
            "tls alert on 443",
            ResponderSpec::new("web", HttpBehaviour::RedirectToHttps)
                .with_tls_behaviour(HttpBehaviour::TlsNoCertificate),
            "remote error: tls:",
        ),
        (
            "tls on 80",
            ResponderSpec::tls_on_http_port("web"),
            "Error getting validation data",
        ),
        (
            "h2 on 80",
            spec(HttpBehaviour::Http2Settings),
            "Server is speaking HTTP/2 over HTTP",
        ),
    ];
    let reports =
        futures::future::join_all(cases.iter().map(|(_, s, _)| no_token(s.clone(), |_| {}))).await;
    for ((name, _, text), report) in cases.iter().zip(&reports) {
        let att = only(report);
        assert_eq!(att.token_scope, TokenScope::EveryToken, "{name}: {att:#?}");
        let ca = &report.ca_view;
        assert_eq!(ca.token_scope, TokenScope::EveryToken, "{name}");
        assert_eq!(ca.validates, Some(false), "{name}: no token, still fails");
        let d = detail(report);
        assert!(d.contains(PROBE_TOKEN) && d.contains(text), "{name}: {d}");
        assert!(report.comparison.is_none(), "{name}: one family only");
    }
}

#[tokio::test]
async fn refused_and_reserved_redirect_hold_for_every_token() {
    // Nothing listens on the address: refused.
    let mut lab = TestLab::new(Fam::V4);
    lab.serve(1, HttpBehaviour::NotFound).await;
    let dead = lab.addr(2);
    lab.name(HOST, &[dead]);
    let report = probe(&lab.config, HOST, PROBE_TOKEN, None, &lab.table)
        .await
        .expect("valid");
    assert_eq!(only(&report).token_scope, TokenScope::EveryToken);
    assert_eq!(report.ca_view.validates, Some(false));
    let err = only(&report).final_error().expect("typed error");
    assert_eq!((err.phase, err.kind), (Phase::Connect, ErrorKind::Refused));

    // A redirect carrying the token to a private address (Boulder refuses it).
    let report = no_token(spec(redirect(302, "http://10.1.2.3{path}")), |lab| {
        lab.config.allow_private = false;
    })
    .await;
    let att = only(&report);
    assert!(
        matches!(
            &att.classification,
            Classification::BadRedirect {
                reason: BadRedirectReason::ReservedTarget { .. },
                ..
            }
        ),
        "{att:#?}"
    );
    assert_eq!(att.token_scope, TokenScope::EveryToken);
}

#[tokio::test]
async fn answers_that_depend_on_the_token_are_told_apart() {
    let big_home = HttpBehaviour::Fixed {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        body: format!("<html>{}</html>", "home ".repeat(60)),
    };
    let cases: Vec<(&str, ResponderSpec, TokenScope, &str)> = vec![
        (
            "404",
            spec(HttpBehaviour::NotFound),
            TokenScope::ThisToken,
            "token_not_published",
        ),
        (
            "410",
            spec(HttpBehaviour::Status(410)),
            TokenScope::Undetermined,
            "not_200",
        ),
        (
            "204",
            spec(HttpBehaviour::Status(204)),
            TokenScope::Undetermined,
            "not_200",
        ),
        (
            "catch-all, small",
            spec(HttpBehaviour::Fixed {
                status: 200,
                headers: vec![],
                body: "OK".into(),
            }),
            TokenScope::Answered200,
            "reachable",
        ),
        (
            "catch-all, large",
            spec(big_home.clone()),
            TokenScope::Answered200,
            "body_too_large",
        ),
        (
            "catch-all, endless",
            spec(HttpBehaviour::HugeBody),
            TokenScope::Answered200,
            "body_too_large",
        ),
        (
            // A not-found handler that sends missing files home: the real
            // file would be served, so the 200 at `/` is a catch-all.
            "missing files redirect home",
            spec(HttpBehaviour::Routes {
                routes: vec![("/.well-known/acme-challenge/".into(), redirect(302, "/"))],
                otherwise: Box::new(big_home.clone()),
            }),
            TokenScope::Answered200,
            "body_too_large",
        ),
        (
            // The same handler sending to a port the CA refuses: refused
            // only for files that do not exist, maybe.
            "missing files redirect to a bad port",
            spec(HttpBehaviour::Routes {
                routes: vec![(
                    "/.well-known/acme-challenge/".into(),
                    redirect(302, "http://{host}:8080/404.html"),
                )],
                otherwise: Box::new(HttpBehaviour::NotFound),
            }),
            TokenScope::Undetermined,
            "bad_redirect",
        ),
        (
            "https serving 404",
            ResponderSpec::new("web", HttpBehaviour::RedirectToHttps)
                .with_tls_behaviour(HttpBehaviour::NotFound),
            TokenScope::ThisToken,
            "redirect_to_https",
        ),
    ];
    let reports =
        futures::future::join_all(cases.iter().map(|(_, s, _, _)| no_token(s.clone(), |_| {})))
            .await;
    for ((name, _, scope, code), report) in cases.iter().zip(&reports) {
        let att = only(report);
        assert_eq!(att.token_scope, *scope, "{name}: {att:#?}");
        assert_eq!(att.classification.code(), *code, "{name}");
        assert_eq!(
            report.ca_view.validates, None,
            "{name}: depends on the token"
        );
    }
}

#[tokio::test]
async fn with_the_expected_body_the_scope_is_still_reported() {
    let (_lab, _ip, report) =
        TestLab::single(Fam::V4, spec(HttpBehaviour::Status(403)), Some(KA)).await;
    assert_eq!(report.ca_view.token_scope, TokenScope::EveryToken);
    assert_eq!(report.ca_view.validates, Some(false));
    let (_lab, _ip, report) =
        TestLab::single(Fam::V4, spec(HttpBehaviour::NotFound), Some(KA)).await;
    assert_eq!(report.ca_view.token_scope, TokenScope::ThisToken);
    assert_eq!(report.ca_view.validates, Some(false));
    // No comparison when the body tells the servers apart.
    assert!(report.comparison.is_none());
}

/// `HOST` with an A address served by `v4` and an AAAA by `v6`, no token.
async fn dual(v4: HttpBehaviour, v6: HttpBehaviour) -> (TestLab, HttpProbeReport) {
    let mut lab = TestLab::new(Fam::V6);
    let (a, aaaa) = (lab.v4(1), lab.v6(1));
    lab.serve_on(a, ResponderSpec::new("web4", v4)).await;
    lab.serve_on(aaaa, ResponderSpec::new("web6", v6)).await;
    lab.name(HOST, &[a, aaaa]);
    let report = probe(&lab.config, HOST, PROBE_TOKEN, None, &lab.table)
        .await
        .expect("valid");
    (lab, report)
}

fn not_found_from(server: &str, body: &str) -> HttpBehaviour {
    HttpBehaviour::Fixed {
        status: 404,
        headers: vec![
            ("server".into(), server.into()),
            ("content-type".into(), "text/html".into()),
        ],
        body: body.into(),
    }
}

#[tokio::test]
async fn a_and_aaaa_on_different_servers_are_told_apart_without_a_token() {
    let (lab, report) = dual(
        not_found_from("nginx", "<h1>404 Not Found</h1>"),
        not_found_from("Apache", "<h1>Not Found</h1>"),
    )
    .await;
    // The verdicts alone cannot tell: both 404.
    assert!(!report.families_disagree());
    let cmp = report.comparison.as_ref().expect("both families");
    assert_eq!(
        cmp.paths,
        vec![
            format!("/.well-known/acme-challenge/{PROBE_TOKEN}"),
            "/".to_owned()
        ]
    );
    assert_eq!(cmp.reference.address, lab.v4(1));
    assert_eq!(cmp.others.len(), 1);
    let fields: Vec<(String, ComparedField)> = cmp
        .differences
        .iter()
        .map(|d| (d.path.clone(), d.field))
        .collect();
    for path in &cmp.paths {
        assert!(
            fields.contains(&(path.clone(), ComparedField::Server)),
            "{fields:?}"
        );
        assert!(
            fields.contains(&(path.clone(), ComparedField::Body)),
            "{fields:?}"
        );
    }
    assert!(
        !fields.iter().any(|(_, f)| *f == ComparedField::Status),
        "{fields:?}"
    );
    let server = cmp
        .differences
        .iter()
        .find(|d| d.field == ComparedField::Server)
        .expect("server differs");
    assert_eq!(
        (
            server.reference.as_deref(),
            server.other.as_deref(),
            server.address
        ),
        (Some("nginx"), Some("Apache"), lab.v6(1))
    );
    // Both servers saw the same requests, the first A twice.
    let seen4: Vec<String> = lab.running[0]
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let seen6: Vec<String> = lab.running[1]
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(seen4.iter().filter(|p| *p == "/").count(), 2, "{seen4:?}");
    assert_eq!(seen6.iter().filter(|p| *p == "/").count(), 1, "{seen6:?}");
}

#[tokio::test]
async fn one_server_behind_both_families_shows_no_difference() {
    let mut lab = TestLab::new(Fam::V6);
    let (a, aaaa) = (lab.v4(1), lab.v6(1));
    // One responder on both addresses: one server.
    let r = spawn_responder(
        &ResponderSpec::new("web", not_found_from("nginx", "<h1>404</h1>")),
        &[a, aaaa],
        0,
        0,
    )
    .await
    .expect("spawn");
    lab.config.http_port = r.http_port();
    lab.config.https_port = r.https_port();
    lab.name(HOST, &[a, aaaa]);
    let report = probe(&lab.config, HOST, PROBE_TOKEN, None, &lab.table)
        .await
        .expect("valid");
    let cmp = report.comparison.as_ref().expect("both families");
    assert!(cmp.differences.is_empty(), "{cmp:#?}");
    assert_eq!(cmp.reference.answers[0].status, Some(404));
    assert!(cmp.reference.answers[0].body_sha256.is_some());
}

#[tokio::test]
async fn a_dynamic_page_is_not_a_second_server() {
    // The same dynamic application behind both: the root's body changes on
    // every request, so only what the first A repeats is compared.
    let (_lab, report) = dual(HttpBehaviour::Dynamic, HttpBehaviour::Dynamic).await;
    let cmp = report.comparison.as_ref().expect("both families");
    assert_ne!(
        cmp.reference.answers[1].body_sha256, cmp.reference_again.answers[1].body_sha256,
        "the lab page changes"
    );
    assert!(cmp.differences.is_empty(), "{cmp:#?}");
}

#[tokio::test]
async fn a_slow_site_root_does_not_hold_the_probe_up() {
    let mut lab = TestLab::new(Fam::V6);
    lab.config.response_headers_timeout = Duration::from_secs(10);
    lab.config.total_deadline = Duration::from_secs(12);
    let (a, aaaa) = (lab.v4(1), lab.v6(1));
    let slow_root = HttpBehaviour::Routes {
        routes: vec![("/.well-known/".into(), HttpBehaviour::NotFound)],
        otherwise: Box::new(HttpBehaviour::Slow { delay_ms: 8000 }),
    };
    let r = spawn_responder(&ResponderSpec::new("web", slow_root), &[a, aaaa], 0, 0)
        .await
        .expect("spawn");
    lab.config.http_port = r.http_port();
    lab.name(HOST, &[a, aaaa]);
    let started = Instant::now();
    let report = probe(&lab.config, HOST, PROBE_TOKEN, None, &lab.table)
        .await
        .expect("valid");
    let took = started.elapsed();
    // The token path answers at once; the comparison gets COMPARISON_GRACE more.
    assert!(
        took >= dcv_http::limits::COMPARISON_GRACE && took < Duration::from_secs(5),
        "{took:?}"
    );
    let cmp = report.comparison.as_ref().expect("both families");
    assert_eq!(cmp.reference.answers[0].status, Some(404));
    assert_eq!(cmp.reference.answers[1].status, None);
    assert_eq!(cmp.reference.answers[1].error, Some(ErrorKind::Timeout));
    assert!(cmp.differences.is_empty(), "{cmp:#?}");
}

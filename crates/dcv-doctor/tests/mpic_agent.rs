//! The perspective agent's front door: TLS plus bearer token, body cap,
//! malformed requests, private targets, concurrency. Every refusal is a JSON
//! `{"error": ...}` with a status that says what is wrong.

mod mpic_common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dcv_doctor::mpic::{AgentResponse, CheckRequest, MAX_REQUEST_BYTES, post_raw, start_agent};
use dcv_lab::Lab;
use dcv_lab::silent::SilentServer;
use dcv_mpic::Rir;
use hyper::StatusCode;
use mpic_common::{TOKEN, agent_config, agent_ip, certs};

const WAIT: Duration = Duration::from_secs(20);

fn request() -> Vec<u8> {
    serde_json::to_vec(&CheckRequest {
        hostname: "www.example.lab".into(),
        ca: vec![dcv_diagnosis::CaId::Letsencrypt],
        method: vec![dcv_diagnosis::Method::Dns],
        http_token: None,
        http_body: None,
        txt_values: vec!["token".into()],
        account_uri: None,
        dcv_delegation: None,
    })
    .unwrap()
}

fn error_of(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("JSON error body");
    v["error"].as_str().expect("error field").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_size_and_shape_are_enforced() {
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let agent = start_agent(
        SocketAddr::new(ip, 0),
        agent_config(&lab, "ripe-1", Rir::Ripe, &certs, true),
    )
    .await
    .unwrap();
    let url = agent.url();
    let pem = &certs.cert_pem;

    // No token, wrong token, token of another length: 401.
    for token in [
        None,
        Some("mpic-test-token-0123456789abcdeX"),
        Some("short"),
    ] {
        let (status, body) = post_raw(&url, token, pem, request(), WAIT).await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(error_of(&body), "missing or wrong bearer token");
    }

    // Oversized: 413, whether declared or not.
    let big = vec![b' '; MAX_REQUEST_BYTES + 1];
    let (status, body) = post_raw(&url, Some(TOKEN), pem, big, WAIT).await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(&body).contains("larger than 65536 bytes"));

    // Malformed JSON, unknown fields, invalid values: 400 with the reason.
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "malformed check request (JSON)"),
        (
            br#"{"hostname":"www.example.lab","dns_port":53}"#,
            "unknown field `dns_port`",
        ),
        (
            br#"{"hostname":"www..example.lab"}"#,
            "invalid check request: invalid hostname",
        ),
        (
            br#"{"hostname":"www.example.lab","http_token":"../etc/passwd"}"#,
            "invalid check request: http_token \"../etc/passwd\" is not a token: ACME tokens use base64url characters only",
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = post_raw(&url, Some(TOKEN), pem, body.to_vec(), WAIT)
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        let err = error_of(&answer);
        assert!(err.contains(want), "{err}");
    }

    // The right token: a report, and who made it.
    let (status, body) = post_raw(&url, Some(TOKEN), pem, request(), WAIT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let answer: AgentResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer.perspective.name, "ripe-1");
    assert_eq!(answer.perspective.region, "region-of-ripe-1");
    assert_eq!(answer.perspective.rir, Rir::Ripe);
    assert_eq!(answer.report.hostname, "www.example.lab");
    assert!(answer.report.ca_verdicts[0].would_validate);

    // Only TLS with the pinned certificate: another certificate is refused by the client.
    let other = mpic_common::certs(&[ip]);
    let err = post_raw(&url, Some(TOKEN), &other.cert_pem, request(), WAIT)
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("TLS"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_without_allow_private() {
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let agent = start_agent(
        SocketAddr::new(ip, 0),
        agent_config(&lab, "arin-1", Rir::Arin, &certs, false),
    )
    .await
    .unwrap();
    let (status, body) = post_raw(&agent.url(), Some(TOKEN), &certs.cert_pem, request(), WAIT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let err = error_of(&body);
    assert!(
        err.contains("private, loopback or reserved") && err.contains("--allow-private"),
        "{err}"
    );
    // The lab's root servers are themselves on loopback/ULA addresses: the
    // agent's engine refused to query them and says which, with the block,
    // instead of reporting the domain as broken.
    assert!(err.contains("name servers"), "{err}");
    for hint in lab.root_hints() {
        let ip = hint.ip();
        let block = if ip.is_ipv4() {
            "127.0.0.0/8 (Loopback"
        } else {
            "fc00::/7 (Unique-Local"
        };
        assert!(
            err.contains(&format!("name server {ip} is in {block}")),
            "{ip}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_name_servers_are_never_queried_without_allow_private() {
    // The agent's root is a silent server on 127.0.0.1: were it queried, each
    // lookup would wait out its timeout and the spy would count the packets.
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let spy = SilentServer::start().await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let mut cfg = agent_config(&lab, "lacnic-1", Rir::Lacnic, &certs, false);
    cfg.policy.dns.root_hints = dcv_dns::parse_root_hints(&spy.root_hints_zone()).unwrap();
    cfg.policy.dns.port = spy.addr().port();
    cfg.policy.dns.query_timeout = Duration::from_secs(3);
    let agent = start_agent(SocketAddr::new(ip, 0), cfg).await.unwrap();
    let started = Instant::now();
    let (status, body) = post_raw(&agent.url(), Some(TOKEN), &certs.cert_pem, request(), WAIT)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let err = error_of(&body);
    assert!(
        err.contains("name server 127.0.0.1 is in 127.0.0.0/8 (Loopback")
            && err.contains("--allow-private"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "no query timeout: {took:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(spy.packets(), 0, "the spy saw no query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_with_503() {
    // Every example.lab. server is silent, so one check takes its full DNS timeout.
    let lab = Lab::start(dcv_lab::catalogue::timeout()).await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let mut cfg = agent_config(&lab, "apnic-1", Rir::Apnic, &certs, true);
    cfg.max_concurrent = 1;
    cfg.max_queued = 0;
    cfg.policy.dns.query_timeout = Duration::from_secs(2);
    let agent = start_agent(SocketAddr::new(ip, 0), cfg).await.unwrap();
    let url = agent.url();
    let first = {
        let (url, pem) = (url.clone(), certs.cert_pem.clone());
        tokio::spawn(async move { post_raw(&url, Some(TOKEN), &pem, request(), WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, body) = post_raw(&url, Some(TOKEN), &certs.cert_pem, request(), WAIT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(&body).contains("busy"));
    let (status, _) = first.await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_agent_queues_then_answers_503_with_retry_after() {
    // Every example.lab. server is silent, so one check takes its DNS patience.
    let lab = Lab::start(dcv_lab::catalogue::timeout()).await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let mut cfg = agent_config(&lab, "apnic-1", Rir::Apnic, &certs, true);
    cfg.max_concurrent = 1;
    cfg.max_queued = 1;
    cfg.policy.dns.query_timeout = Duration::from_secs(2);
    let agent = start_agent(SocketAddr::new(ip, 0), cfg).await.unwrap();
    let post = |pause: u64| {
        let (url, pem) = (agent.url(), certs.cert_pem.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            post_raw(&url, Some(TOKEN), &pem, request(), WAIT).await
        })
    };
    let (running, queued) = (post(0), post(300));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body) = post_raw(&agent.url(), Some(TOKEN), &certs.cert_pem, request(), WAIT)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(&body).contains("1 waiting"), "{}", error_of(&body));
    // The queued one waited for the slot instead of being refused.
    assert_eq!(running.await.unwrap().unwrap().0, StatusCode::OK);
    assert_eq!(queued.await.unwrap().unwrap().0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinators_ask_a_busy_agent_again_within_their_deadline() {
    use dcv_doctor::mpic::{MpicOptions, run_mpic_check};
    // One slot, no queue: of three checks at once, two are first told 503
    // with Retry-After; the coordinator waits and asks again.
    let lab = Lab::start(dcv_doctor::demo::healthy()).await.unwrap();
    let ip = agent_ip();
    let certs = certs(&[ip]);
    let mut cfg = agent_config(&lab, "ripe-1", Rir::Ripe, &certs, true);
    cfg.max_concurrent = 1;
    cfg.max_queued = 0;
    let agent = start_agent(SocketAddr::new(ip, 0), cfg).await.unwrap();
    let specs = [mpic_common::spec(&agent, "ripe-1", Rir::Ripe, &certs)];
    let opts = MpicOptions {
        as_of: dcv_mpic::parse_date("2026-12-02").unwrap(),
        perspective_timeout: WAIT,
    };
    let checks = (0..3).map(|_| run_mpic_check(mpic_common::primary_config(&lab), &specs, &opts));
    let mut retried = 0;
    for report in futures::future::join_all(checks).await {
        let mpic = report.mpic.as_ref().expect("mpic summary");
        let status = &mpic.perspectives[0].status;
        // The busy answers are evidence: the status says how many it took.
        if status.starts_with("ok (after ") && status.contains(" busy answer") {
            retried += 1;
        } else {
            assert_eq!(status, "ok", "{mpic:?}");
        }
        // One remote is too few for the BR quorum (a finding of its own),
        // but the agent itself answered: it is not named unavailable.
        assert!(
            !report.findings.iter().any(|f| f.code
                == dcv_diagnosis::FindingCode::PerspectiveUnavailable
                && f.summary.contains("ripe-1")),
            "{:?}",
            report.findings
        );
    }
    assert!(
        retried >= 1,
        "one slot and no queue: at least one of three checks met a busy agent"
    );
}

#[test]
fn perspectives_file_is_validated() {
    use dcv_doctor::mpic::load_perspectives;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(d.join("short"), "abc").unwrap();
    std::fs::write(
        d.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let entry = |name: &str, url: &str, rir: &str, token: &str| {
        format!(
            "[[perspective]]\nname = \"{name}\"\nurl = \"{url}\"\nregion = \"r\"\nrir = \"{rir}\"\ntoken_file = \"{token}\"\nca_cert_file = \"ca.pem\"\n"
        )
    };
    let url = "https://127.0.0.1:8443/v1/check";
    let cases = [
        (entry("a", url, "RIPE", "token"), None),
        (entry("a", url, "EU", "token"), Some("unknown RIR")),
        (
            entry("a", "http://127.0.0.1/v1/check", "RIPE", "token"),
            Some("must be https://"),
        ),
        (
            entry("a", "https://agent.example/v1/check", "RIPE", "token"),
            Some("must name an IP address"),
        ),
        (entry("a", url, "RIPE", "short"), Some("at least 16")),
        (entry("a", url, "RIPE", "missing"), Some("token file")),
        (
            entry("a", url, "RIPE", "token") + &entry("a", url, "ARIN", "token"),
            Some("listed twice"),
        ),
        (
            format!("{}colour = \"red\"\n", entry("a", url, "RIPE", "token")),
            Some("unknown field"),
        ),
        (String::new(), Some("no [[perspective]]")),
    ];
    for (text, want) in cases {
        let path = d.join("p.toml");
        std::fs::write(&path, &text).unwrap();
        match (load_perspectives(&path), want) {
            (Ok(p), None) => {
                assert_eq!(p.len(), 1);
                assert_eq!(p[0].rir, Some(Rir::Ripe));
                assert_eq!(p[0].token, TOKEN);
            }
            (Err(e), Some(want)) => assert!(format!("{e:#}").contains(want), "{e:#}\n{text}"),
            (got, want) => panic!("{text}: got {got:?}, wanted {want:?}"),
        }
    }
}

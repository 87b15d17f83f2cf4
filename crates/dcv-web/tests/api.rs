//! The JSON API against the lab, on `SQLite` and on `PostgreSQL`: every
//! endpoint, a restart in the middle of queued work, and the refusals
//! (private targets, rate limits, bad and oversized bodies). The same
//! scenario functions run on both stores.

mod common;

use std::time::{Duration, Instant};

use common::schema::{documents_status, response_schema, validate};
use common::*;
use dcv_lab::Lab;
use dcv_web::ratelimit::Rate;
use hyper::StatusCode;
use serde_json::{Value, json};

/// Bound on one lab check through the service.
const CHECK_WAIT: Duration = Duration::from_secs(40);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `(event, data)` pairs of a whole event stream.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event: ") {
                event = Some(e.to_owned());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = serde_json::from_str(d).ok();
            }
        }
        if let (Some(e), Some(d)) = (event, data) {
            out.push((e, d));
        }
    }
    out
}

/// Every endpoint once, on a broken DNSSEC chain and a WAF-blocked token.
async fn endpoints(backend: &Backend) {
    let lab = Lab::start(web_lab()).await.unwrap();
    let server = start(serve_config(&lab, &backend.url())).await;
    let base = server.url();

    let health = get(&format!("{base}/healthz")).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text());
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["database"], server.backend());

    // A broken chain of trust, DNS-01, Let's Encrypt.
    let id = submit(
        &base,
        &json!({"hostname": BROKEN_HOST, "ca": ["letsencrypt"], "method": ["dns"], "txt_values": ["token"]}),
    )
    .await;

    // The event stream: every probe that started also finished, then the
    // final status, which ends the stream.
    let stream = get(&format!("{base}/api/v1/checks/{id}/events")).await;
    assert_eq!(stream.status, StatusCode::OK);
    assert_eq!(
        stream.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    let events = sse_events(&stream.text());
    let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(kinds.last(), Some(&"status"), "{kinds:?}");
    assert_eq!(events.last().unwrap().1["status"], "done");
    assert_eq!(events.last().unwrap().1["verdict"], "fail");
    for probe in ["tld", "caa", "txt"] {
        let started = events
            .iter()
            .any(|(e, d)| e == "probe_started" && d["probe"] == probe);
        let finished = events
            .iter()
            .any(|(e, d)| e == "probe_finished" && d["probe"] == probe);
        assert!(started && finished, "{probe}: {events:?}");
    }
    let http_probe = events.iter().any(|(_, d)| d["probe"] == "http");
    assert!(
        !http_probe,
        "no HTTP-01 probe for a DNS-01 check: {events:?}"
    );

    let check = wait_final(&base, &id, CHECK_WAIT).await;
    assert_eq!(check["status"], "done", "{check:#}");
    assert_eq!(check["attempts"], 1);
    assert_eq!(check["verdict"], "fail");
    assert!(
        codes(&check).contains(&"dnssec_bogus".to_owned()),
        "{check:#}"
    );
    // The report is the model of `check --format json`: it parses as one
    // and serialises back to the same JSON.
    let report: dcv_diagnosis::Report =
        serde_json::from_value(check["report"].clone()).expect("a Report");
    assert_eq!(serde_json::to_value(&report).unwrap(), check["report"]);
    assert_eq!(report.hostname, BROKEN_HOST);
    // The picture's data: broken.lab. is the bogus zone.
    let zones = check["views"]["dnssec"]["zones"].as_array().unwrap();
    let broken = zones
        .iter()
        .find(|z| z["zone"] == "broken.lab.")
        .unwrap_or_else(|| panic!("no broken.lab. in {zones:#?}"));
    assert_eq!(broken["status"], "bogus", "{broken:#}");
    assert!(
        zones
            .iter()
            .any(|z| z["zone"] == "lab." && z["status"] == "secure"),
        "{zones:#?}"
    );
    // A finished check replays its events.
    let replay = sse_events(
        &get(&format!("{base}/api/v1/checks/{id}/events"))
            .await
            .text(),
    );
    assert_eq!(replay, events);

    // The WAF host twice: DNS-01 first, then HTTP-01 with the token, so the
    // history has something to compare.
    let (token, body) = lab_token();
    let first = submit(
        &base,
        &json!({"hostname": WAF_HOST, "ca": ["letsencrypt"], "method": ["dns"]}),
    )
    .await;
    wait_final(&base, &first, CHECK_WAIT).await;
    let second = submit(
        &base,
        &json!({"hostname": WAF_HOST, "ca": ["letsencrypt"], "method": ["http"], "http_token": token, "http_body": body}),
    )
    .await;
    let blocked = wait_final(&base, &second, CHECK_WAIT).await;
    assert!(
        codes(&blocked).contains(&"http_blocked".to_owned()),
        "{blocked:#}"
    );
    let attempts = blocked["views"]["http"]["attempts"].as_array().unwrap();
    assert!(!attempts.is_empty());
    assert!(
        attempts
            .iter()
            .any(|a| a["ca_path"] == true && a["outcome"] == "blocked"),
        "{attempts:#?}"
    );

    // History: newest first, one per page, with what changed.
    let page1 = get(&format!("{base}/api/v1/hosts/{WAF_HOST}/checks?limit=1")).await;
    assert_eq!(page1.status, StatusCode::OK, "{}", page1.text());
    let page1 = page1.json();
    assert_eq!(page1["checks"].as_array().unwrap().len(), 1);
    assert_eq!(page1["checks"][0]["id"], second.as_str());
    let changes = &page1["checks"][0]["changes"];
    assert_eq!(changes["since"], first.as_str(), "{page1:#}");
    assert!(
        changes["added"]
            .as_array()
            .unwrap()
            .contains(&json!("http_blocked")),
        "{changes:#}"
    );
    let next = page1["next"].as_str().expect("a next page").to_owned();
    let page2 = get(&format!("{base}{next}")).await.json();
    assert_eq!(page2["checks"][0]["id"], first.as_str(), "{page2:#}");
    assert!(page2["next"].is_null(), "{page2:#}");
    let bad = get(&format!("{base}/api/v1/hosts/{WAF_HOST}/checks?limit=0")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = get(&format!(
        "{base}/api/v1/hosts/{WAF_HOST}/checks?cursor=nope"
    ))
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Unknown and malformed ids.
    for id in ["0123456789abcdef0123456789abcdef", "..%2F..", "x"] {
        let r = get(&format!("{base}/api/v1/checks/{id}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(r.json()["error"], "no such check");
    }

    // explain: a known message, an unknown one, one too long.
    let known = post_json(
        &format!("{base}/api/v1/explain"),
        &json!({"message": "DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning"}),
    )
    .await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.text());
    assert_eq!(known.json()["recognised"], true, "{}", known.text());
    let unknown = post_json(
        &format!("{base}/api/v1/explain"),
        &json!({"message": "the moon is in the wrong phase"}),
    )
    .await;
    assert_eq!(unknown.json()["recognised"], false);
    assert!(unknown.json()["explanation"].is_null());
    let long = post_json(
        &format!("{base}/api/v1/explain"),
        &json!({"message": "x".repeat(5000)}),
    )
    .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);

    // Metrics count what happened.
    let metrics = get(&format!("{base}/metrics")).await.text();
    let done: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("dcv_checks_total{status=\"done\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(done, 3, "{metrics}");
    assert!(
        metrics.contains("dcv_checks_total{status=\"done\",verdict=\"fail\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dcv_findings_total{code=\"dnssec_bogus\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dcv_checks_submitted_total 3"),
        "{metrics}"
    );
    assert!(metrics.contains("dcv_queue_depth 0"), "{metrics}");
    assert!(
        metrics.contains("dcv_check_duration_seconds_count 3"),
        "{metrics}"
    );
    let queries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dcv_dns_queries_total "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(queries > 0, "{metrics}");

    server.shutdown().await;
}

/// A crash with work queued and running loses nothing: the next start
/// re-runs the interrupted check and runs the queued ones.
async fn restart_loses_nothing(backend: &Backend) {
    // example.lab.'s servers answer after 400 ms: a check takes seconds.
    let scenario = web_lab()
        .with_server(dcv_lab::catalogue::NS1, |s| s.behaviour.delay_ms = 400)
        .with_server(dcv_lab::catalogue::NS2, |s| s.behaviour.delay_ms = 400);
    let lab = Lab::start(scenario).await.unwrap();
    let mut cfg = serve_config(&lab, &backend.url());
    cfg.workers = 1;
    cfg.policy.dns.query_timeout = Duration::from_millis(1500);
    let server = start(cfg.clone()).await;
    let base = server.url();
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            submit(
                &base,
                &json!({"hostname": HEALTHY_HOST, "ca": ["letsencrypt"], "method": ["dns"], "txt_values": ["token"]}),
            )
            .await,
        );
    }
    let started = Instant::now();
    loop {
        let c = get(&format!("{base}/api/v1/checks/{}", ids[0]))
            .await
            .json();
        if c["status"] == "running" {
            break;
        }
        assert_eq!(
            c["status"], "queued",
            "the first check finished too soon: {c:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for id in &ids[1..] {
        let c = get(&format!("{base}/api/v1/checks/{id}")).await.json();
        assert_eq!(c["status"], "queued", "{c:#}");
    }
    server.abort();

    let server = start(cfg).await;
    let base = server.url();
    for (i, id) in ids.iter().enumerate() {
        let c = wait_final(&base, id, CHECK_WAIT).await;
        assert_eq!(c["status"], "done", "{c:#}");
        assert!(c["report"].is_object(), "{c:#}");
        let expected_attempts = if i == 0 { 2 } else { 1 };
        assert_eq!(c["attempts"], expected_attempts, "check {i}: {c:#}");
    }
    let history = get(&format!(
        "{base}/api/v1/hosts/{HEALTHY_HOST}/checks?limit=50"
    ))
    .await
    .json();
    assert_eq!(
        history["checks"].as_array().unwrap().len(),
        4,
        "{history:#}"
    );
    server.shutdown().await;
}

/// Private targets, rate limits, malformed and oversized requests.
async fn refusals(backend: &Backend) {
    let lab = Lab::start(web_lab()).await.unwrap();

    // Public targets only: the lab's name servers are on loopback, so the
    // check is refused and no packet was sent to them.
    let mut cfg = serve_config(&lab, &backend.url());
    cfg.policy = lab_policy(&lab, false);
    cfg.client_rate = Rate {
        per_minute: 2,
        burst: 2,
    };
    let server = start(cfg).await;
    let base = server.url();
    let body = json!({"hostname": HEALTHY_HOST, "ca": ["letsencrypt"], "method": ["dns"]});
    let id = submit(&base, &body).await;
    let c = wait_final(&base, &id, CHECK_WAIT).await;
    assert_eq!(c["status"], "refused", "{c:#}");
    let why = c["error"].as_str().unwrap();
    assert!(
        why.contains("private, loopback or reserved") && why.contains("--allow-private"),
        "{why}"
    );
    assert!(why.contains("127."), "names the refused server: {why}");
    assert!(
        c["report"].is_null(),
        "a refused check shows no report: {c:#}"
    );

    // Per client: the burst of 2 is spent after one more.
    submit(&base, &body).await;
    let limited = post_json(&format!("{base}/api/v1/checks"), &body).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text()
    );
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(
        limited.json()["error"]
            .as_str()
            .unwrap()
            .contains("your address")
    );
    let metrics = get(&format!("{base}/metrics")).await.text();
    assert!(
        metrics.contains("dcv_refused_total{reason=\"client\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dcv_refused_total{reason=\"private\"}"),
        "{metrics}"
    );
    server.shutdown().await;

    // Per registered domain: another name of example.lab is the same budget.
    let mut cfg = serve_config(&lab, &backend.url());
    cfg.host_rate = Rate {
        per_minute: 1,
        burst: 1,
    };
    let server = start(cfg).await;
    let base = server.url();
    submit(&base, &json!({"hostname": HEALTHY_HOST, "method": ["dns"]})).await;
    let limited = post_json(
        &format!("{base}/api/v1/checks"),
        &json!({"hostname": MARKUP_HOST, "method": ["dns"]}),
    )
    .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text()
    );
    assert!(
        limited.json()["error"]
            .as_str()
            .unwrap()
            .contains("example.lab"),
        "{}",
        limited.text()
    );
    // Another domain is not affected.
    submit(&base, &json!({"hostname": BROKEN_HOST, "method": ["dns"]})).await;

    // Bad requests: each refused with a JSON reason, none queued.
    let url = format!("{base}/api/v1/checks");
    let cases: [(&[u8], Option<&str>, StatusCode, &str); 6] = [
        (
            b"{not json",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "malformed check request",
        ),
        (
            br#"{"hostname":"www.example.lab","dns_port":53}"#,
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "unknown field `dns_port`",
        ),
        (
            br#"{"hostname":"www..example.lab"}"#,
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid check request: invalid hostname",
        ),
        (
            br#"{"hostname":"www.example.lab","http_token":"not/a/token"}"#,
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "http_token",
        ),
        (
            br#"{"hostname":"www.example.lab","perspectives":"nowhere"}"#,
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "no perspectives profiles",
        ),
        (
            br#"{"hostname":"www.example.lab"}"#,
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
    ];
    for (body, ct, status, want) in cases {
        let r = request(hyper::Method::POST, &url, ct, body.to_vec()).await;
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        let err = r.json()["error"].as_str().unwrap().to_owned();
        assert!(err.contains(want), "{err}");
    }
    // Oversized, declared or not: 413 before anything is parsed.
    let big = vec![b' '; dcv_web::server::MAX_BODY_BYTES + 1];
    let r = request(
        hyper::Method::POST,
        &url,
        Some("application/json"),
        big.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(r.json()["error"].is_string());
    let r = request(
        hyper::Method::POST,
        &format!("{base}/api/v1/explain"),
        Some("application/json"),
        big,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let health = get(&format!("{base}/healthz")).await.json();
    assert!(health["queued"].as_u64().unwrap() <= 2, "{health:#}");
    server.shutdown().await;
}

#[test]
fn endpoints_on_sqlite() {
    let backend = Backend::sqlite();
    rt().block_on(endpoints(&backend));
}

#[test]
fn restart_on_sqlite() {
    let backend = Backend::sqlite();
    rt().block_on(restart_loses_nothing(&backend));
}

#[test]
fn refusals_on_sqlite() {
    let backend = Backend::sqlite();
    rt().block_on(refusals(&backend));
}

/// The same three on `PostgreSQL`, one cluster, a database each.
#[test]
fn everything_on_postgres() {
    let cluster = PgCluster::start();
    rt().block_on(async {
        let b = Backend::Postgres(cluster.database("endpoints").await);
        endpoints(&b).await;
        let b = Backend::Postgres(cluster.database("restart").await);
        restart_loses_nothing(&b).await;
        let b = Backend::Postgres(cluster.database("refusals").await);
        refusals(&b).await;
    });
}

/// The `OpenAPI` document and the handlers agree: every documented operation
/// answers (with a documented status), real responses match the documented
/// schemas (reports included), and the request schema has exactly the
/// fields the handler reads.
#[test]
fn openapi_document_and_handlers_agree() {
    rt().block_on(async {
        let backend = Backend::sqlite();
        let lab = Lab::start(web_lab()).await.unwrap();
        let server = start(serve_config(&lab, &backend.url())).await;
        let base = server.url();
        let doc = get(&format!("{base}/api/v1/openapi.json")).await;
        assert_eq!(doc.status, StatusCode::OK);
        let doc = doc.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

        let paths: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (p.clone(), m.clone()))
            })
            .collect();
        let mut expected = vec![
            ("/api/v1/checks".to_owned(), "post".to_owned()),
            ("/api/v1/checks/{id}".to_owned(), "get".to_owned()),
            ("/api/v1/checks/{id}/events".to_owned(), "get".to_owned()),
            ("/api/v1/explain".to_owned(), "post".to_owned()),
            ("/api/v1/hosts/{hostname}/checks".to_owned(), "get".to_owned()),
        ];
        expected.sort();
        let mut documented = paths.clone();
        documented.sort();
        assert_eq!(documented, expected);

        // Request schema <-> the handler's request type.
        let full = dcv_web::api::WebCheckRequest {
            check: dcv_diagnosis::request::CheckRequest {
                hostname: "a.example".into(),
                ca: vec![dcv_diagnosis::CaId::Letsencrypt],
                method: vec![dcv_diagnosis::Method::Dns],
                http_token: Some("t".into()),
                http_body: Some("b".into()),
                txt_values: vec!["v".into()],
                account_uri: Some("https://acme.example/acct/1".into()),
                dcv_delegation: Some("x.example".into()),
            },
            perspectives: Some("p".into()),
        };
        let fields: Vec<String> = serde_json::to_value(&full)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut documented_fields: Vec<String> = doc["components"]["schemas"]["CheckRequest"]
            ["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented_fields.sort();
        let mut fields_sorted = fields.clone();
        fields_sorted.sort();
        assert_eq!(documented_fields, fields_sorted);

        let check_against = |path: &str, method: &str, reply: &Reply| {
            let status = reply.status.as_u16();
            assert!(
                documents_status(&doc, path, method, status),
                "{method} {path} answered {status}, not documented: {}",
                reply.text()
            );
            if let Some(schema) = response_schema(&doc, path, method, status) {
                validate(&doc, schema, &reply.json(), "$")
                    .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}\n{}", reply.text()));
            }
        };

        // POST /api/v1/checks: 202, 400, 415.
        let (token, body) = lab_token();
        let r = post_json(
            &format!("{base}/api/v1/checks"),
            &json!({"hostname": WAF_HOST, "method": ["http", "dns"], "ca": ["letsencrypt", "google"], "http_token": token, "http_body": body, "txt_values": ["x"]}),
        )
        .await;
        check_against("/api/v1/checks", "post", &r);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let r = post_json(&format!("{base}/api/v1/checks"), &json!({"hostname": 7})).await;
        check_against("/api/v1/checks", "post", &r);
        let r = request(
            hyper::Method::POST,
            &format!("{base}/api/v1/checks"),
            Some("text/plain"),
            b"{}".to_vec(),
        )
        .await;
        check_against("/api/v1/checks", "post", &r);

        // GET the check while queued or running, then done with a report.
        let r = get(&format!("{base}/api/v1/checks/{id}")).await;
        check_against("/api/v1/checks/{id}", "get", &r);
        wait_final(&base, &id, CHECK_WAIT).await;
        let broken = submit(&base, &json!({"hostname": BROKEN_HOST, "method": ["dns"]})).await;
        wait_final(&base, &broken, CHECK_WAIT).await;
        for id in [&id, &broken] {
            let r = get(&format!("{base}/api/v1/checks/{id}")).await;
            assert!(r.json()["report"]["findings"].as_array().is_some_and(|f| !f.is_empty()));
            check_against("/api/v1/checks/{id}", "get", &r);
        }
        let r = get(&format!("{base}/api/v1/checks/ffffffffffffffffffffffffffffffff")).await;
        check_against("/api/v1/checks/{id}", "get", &r);

        let r = get(&format!("{base}/api/v1/checks/{id}/events")).await;
        check_against("/api/v1/checks/{id}/events", "get", &r);
        let r = get(&format!("{base}/api/v1/checks/ffffffffffffffffffffffffffffffff/events")).await;
        check_against("/api/v1/checks/{id}/events", "get", &r);

        let r = get(&format!("{base}/api/v1/hosts/{WAF_HOST}/checks")).await;
        check_against("/api/v1/hosts/{hostname}/checks", "get", &r);
        let r = get(&format!("{base}/api/v1/hosts/a..b/checks")).await;
        check_against("/api/v1/hosts/{hostname}/checks", "get", &r);

        let r = post_json(
            &format!("{base}/api/v1/explain"),
            &json!({"message": "DNS problem: NXDOMAIN looking up A for www.example.com - check that a DNS record exists for this domain"}),
        )
        .await;
        check_against("/api/v1/explain", "post", &r);
        let r = post_json(&format!("{base}/api/v1/explain"), &json!({"msg": "x"})).await;
        check_against("/api/v1/explain", "post", &r);
        server.shutdown().await;
    });
}

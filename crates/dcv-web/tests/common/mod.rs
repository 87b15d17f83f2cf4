//! Shared by the service's tests: a lab scenario with one name per thing the
//! page must show, the service started on it, a small HTTP client, and a
//! private `PostgreSQL` cluster in a temporary directory.

#![allow(dead_code)]

pub mod pg;
pub mod schema;

#[allow(unused_imports)] // not every test uses both
pub use pg::{Backend, PgCluster};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dcv_diagnosis::request::ServerCheckPolicy;
use dcv_lab::catalogue::{self, KEY_AUTHZ, TOKEN, WEB, ZONE};
use dcv_lab::http::{HttpBehaviour, ResponderSpec};
use dcv_lab::{Lab, Scenario, ServerSpec, Signing, ZoneFault, ZoneSpec};
use dcv_web::ratelimit::Rate;
use dcv_web::{RunningServer, ServeConfig};
use http_body_util::{BodyExt as _, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The markup a CAA value and a TXT record carry in the lab.
pub const CAA_MARKUP: &str = "<script>alert(1)</script>";
pub const TXT_MARKUP: &str = "<img src=x onerror=alert(2)>";
/// The WAF-blocked name, the broken-chain name, the markup name.
pub const WAF_HOST: &str = "waf.example.lab";
pub const BROKEN_HOST: &str = "www.broken.lab";
pub const MARKUP_HOST: &str = "markup.example.lab";
pub const HEALTHY_HOST: &str = "www.example.lab";

/// Root, `lab.` and `example.lab.` signed, CAA allowing every partner CA:
/// `www` healthy (token served), `waf` behind a firewall block page,
/// `markup` with markup in a CAA value and its TXT, and `broken.lab.`, a
/// signed zone whose DS in `lab.` matches no key (a broken chain).
pub fn web_lab() -> Scenario {
    catalogue::base(&Signing::Nsec)
        .rename("web", "names for the web face")
        .responder(ResponderSpec::new("waf", HttpBehaviour::BlockPage))
        .server(ServerSpec::new("ns.broken.lab."))
        .with_zone(ZONE, |z| {
            z.records.retain(|r| !r.contains("CAA"));
            for ca in dcv_diagnosis::CaId::ALL {
                z.records.push(format!(
                    "@ CAA 0 issue \"{}\"",
                    ca.profile().caa_value_to_add
                ));
            }
            z.records.push("waf A {http4:waf}".into());
            z.records.push("waf AAAA {http6:waf}".into());
            z.records.push("markup A {http4:web}".into());
            z.records.push("markup CAA 0 issue \"pki.goog\"".into());
            z.records.push(format!("markup CAA 0 tbs \"{CAA_MARKUP}\""));
            z.records
                .push(format!("_acme-challenge.markup TXT \"{TXT_MARKUP}\""));
        })
        .zone(
            ZoneSpec::new("broken.lab.")
                .served_by("ns.broken.lab.")
                .signed(Signing::Nsec)
                .fault(ZoneFault::DsBadTag)
                .record(format!("www A {{http4:{WEB}}}"))
                .record("_acme-challenge.www TXT \"token\""),
        )
}

/// The token and key authorisation the lab's `web` responder serves.
pub fn lab_token() -> (&'static str, &'static str) {
    (TOKEN, KEY_AUTHZ)
}

/// The check policy for `lab`: its root and anchor, its ports, short
/// timeouts (lab servers that never answer should not make a test crawl).
pub fn lab_policy(lab: &Lab, allow_private: bool) -> ServerCheckPolicy {
    let mut dns = dcv_dns::EngineConfig {
        root_hints: dcv_dns::parse_root_hints(&lab.root_hints_zone()).unwrap(),
        trust_anchors: match lab.trust_anchor_ds() {
            Some(ds) => dcv_dns::parse_trust_anchor(&ds).unwrap(),
            None => Vec::new(),
        },
        port: lab.dns_port(),
        ..dcv_dns::EngineConfig::default()
    };
    dns.query_timeout = Duration::from_millis(700);
    dns.retries = 0;
    ServerCheckPolicy {
        dns,
        http_port: lab.http_port(),
        https_port: lab.https_port(),
        http_phase_timeout: Some(Duration::from_millis(800)),
        allow_private,
        check_timeout: Duration::from_secs(20),
    }
}

/// Generous limits: tests that are not about rate limits must not hit them.
pub const NO_LIMIT: Rate = Rate {
    per_minute: 10_000,
    burst: 10_000,
};

/// The service on `lab` with `database_url`, on a loopback port.
pub fn serve_config(lab: &Lab, database_url: &str) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        policy: lab_policy(lab, true),
        workers: 2,
        max_queued: 64,
        client_rate: NO_LIMIT,
        host_rate: NO_LIMIT,
        profiles: dcv_web::Profiles::new(),
    }
}

pub async fn start(cfg: ServeConfig) -> RunningServer {
    dcv_web::start(cfg).await.expect("the service starts")
}

/// A response: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Bound on any one request in tests.
const REQUEST_WAIT: Duration = Duration::from_secs(60);

pub async fn request(
    method: Method,
    url: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let fut = async {
        let resp = client.request(req).await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(REQUEST_WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("{url}: no answer within {REQUEST_WAIT:?}"))
}

pub async fn get(url: &str) -> Reply {
    request(Method::GET, url, None, Vec::new()).await
}

pub async fn post_json(url: &str, body: &serde_json::Value) -> Reply {
    request(
        Method::POST,
        url,
        Some("application/json"),
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

pub async fn post_form(url: &str, fields: &[(&str, &str)]) -> Reply {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    request(
        Method::POST,
        url,
        Some("application/x-www-form-urlencoded"),
        body.into_bytes(),
    )
    .await
}

/// Starts a check and returns its id, asserting the 202 and `Location`.
pub async fn submit(base: &str, body: &serde_json::Value) -> String {
    let r = post_json(&format!("{base}/api/v1/checks"), body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/api/v1/checks/{id}").as_str())
    );
    assert_eq!(created["status"], "queued");
    id
}

/// Polls a check until its status is final (bounded).
pub async fn wait_final(base: &str, id: &str, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let r = get(&format!("{base}/api/v1/checks/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let v = r.json();
        let status = v["status"].as_str().unwrap_or_default().to_owned();
        if matches!(status.as_str(), "done" | "refused" | "failed") {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "check {id} still {status} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The codes of a check's findings.
pub fn codes(check: &serde_json::Value) -> Vec<String> {
    check["report"]["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The address a client connects from in these tests.
pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

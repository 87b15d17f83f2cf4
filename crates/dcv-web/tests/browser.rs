//! A real browser (headless Chromium through chromedriver, Debian's
//! `chromium` and `chromium-driver`) submits lab hostnames through the form
//! and reads the report as a person would: a broken DNSSEC chain (the red
//! link in the picture) and a WAF-blocked token (the HTTP timeline), and
//! markup from DNS that must stay text. Screenshots go to
//! `target/test-artifacts/`.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dcv_lab::Lab;
use fantoccini::{ClientBuilder, Locator};

/// Debian's binaries (packages `chromium` and `chromium-driver`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Time for a lab check to finish and the page to show it.
const REPORT_WAIT: Duration = Duration::from_secs(60);

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's {package} (`apt-get install -y chromium chromium-driver`) to run the browser test"
    );
}

/// chromedriver on a loopback port, killed on drop.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child, port);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    driver
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,1600",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a Chromium session")
}

/// Fills and submits the form, then waits for the report (the page follows
/// the check and reloads when it is done).
async fn check_via_form(
    c: &fantoccini::Client,
    base: &str,
    hostname: &str,
    method: &str,
    token: Option<(&str, &str)>,
    txt: Option<&str>,
) {
    c.goto(&format!("{base}/")).await.unwrap();
    c.find(Locator::Id("hostname"))
        .await
        .unwrap()
        .send_keys(hostname)
        .await
        .unwrap();
    c.find(Locator::Id("ca"))
        .await
        .unwrap()
        .select_by_value("letsencrypt")
        .await
        .unwrap();
    c.find(Locator::Id("method"))
        .await
        .unwrap()
        .select_by_value(method)
        .await
        .unwrap();
    if token.is_some() || txt.is_some() {
        c.find(Locator::Css("#check-form details summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    if let Some((t, b)) = token {
        c.find(Locator::Id("http_token"))
            .await
            .unwrap()
            .send_keys(t)
            .await
            .unwrap();
        c.find(Locator::Id("http_body"))
            .await
            .unwrap()
            .send_keys(b)
            .await
            .unwrap();
    }
    if let Some(v) = txt {
        c.find(Locator::Id("txt_values"))
            .await
            .unwrap()
            .send_keys(v)
            .await
            .unwrap();
    }
    c.find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(REPORT_WAIT)
        .for_element(Locator::Id("verdict"))
        .await
        .unwrap_or_else(|e| panic!("{hostname}: no report within {REPORT_WAIT:?}: {e}"));
}

async fn screenshot(c: &fantoccini::Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// One section of the page, whole (the README shows these): Chromium
/// clips an element's screenshot to the window, so the window grows first.
async fn screenshot_of(c: &fantoccini::Client, css: &str, name: &str) {
    c.set_window_size(1400, 3000).await.unwrap();
    let section = c.find(Locator::Css(css)).await.unwrap();
    let png = section.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{css}: not a PNG");
    std::fs::write(artifacts().join(name), png).unwrap();
    c.set_window_size(1280, 1600).await.unwrap();
}

#[test]
fn a_person_with_a_browser_sees_the_cause() {
    require(CHROMIUM, "chromium");
    require(CHROMEDRIVER, "chromium-driver");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let backend = Backend::sqlite();
        let lab = Lab::start(web_lab()).await.unwrap();
        let server = start(serve_config(&lab, &backend.url())).await;
        let base = server.url();
        let driver = start_driver();
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;

        // A broken chain of trust.
        check_via_form(&c, &base, BROKEN_HOST, "dns", None, None).await;
        c.find(Locator::Id("finding-dnssec_bogus"))
            .await
            .expect("the dnssec_bogus finding");
        let red = c
            .find_all(Locator::Css("#chain g.link.bogus.broken"))
            .await
            .unwrap();
        assert_eq!(red.len(), 1, "one highlighted red link");
        let colour: String = c
            .execute(
                "return getComputedStyle(document.querySelector('#chain g.link.broken line')).stroke;",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(colour, "rgb(207, 34, 46)", "the broken link is drawn red");
        let caption = c.find(Locator::Id("broken-link")).await.unwrap().text().await.unwrap();
        assert!(caption.contains("broken.lab."), "{caption}");
        let evidence = c.find(Locator::Css("#finding-dnssec_bogus details.evidence")).await.unwrap();
        assert_eq!(evidence.attr("open").await.unwrap(), None, "evidence folded");
        screenshot(&c, "serve-broken-chain.png").await;
        screenshot_of(&c, "#dnssec", "serve-broken-chain-picture.png").await;

        // A WAF blocks the token: the timeline shows the CA's pick blocked.
        let (token, body) = lab_token();
        check_via_form(&c, &base, WAF_HOST, "http", Some((token, body)), None).await;
        c.find(Locator::Id("finding-http_blocked"))
            .await
            .expect("the http_blocked finding");
        let timeline = c.find(Locator::Id("http-timeline")).await.unwrap().text().await.unwrap();
        assert!(timeline.contains("the CA's pick"), "{timeline}");
        assert!(timeline.contains("blocked"), "{timeline}");
        assert!(timeline.contains("403"), "{timeline}");
        let bars = c.find_all(Locator::Css("#http-timeline svg.bar rect")).await.unwrap();
        assert!(!bars.is_empty(), "timeline bars");
        screenshot(&c, "serve-waf-blocked.png").await;
        screenshot_of(&c, "#http", "serve-waf-timeline.png").await;

        // Markup from DNS stays text: nothing ran, no element was made.
        check_via_form(&c, &base, MARKUP_HOST, "dns", None, Some("the-expected-value")).await;
        let injected = c
            .execute(
                "return document.querySelectorAll('img[src=\"x\"]').length + document.querySelectorAll('main script').length;",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(injected, serde_json::json!(0));
        assert!(c.get_alert_text().await.is_err(), "no alert was raised");
        let text = c.find(Locator::Id("finding-caa_forbids")).await.unwrap().html(false).await.unwrap();
        assert!(text.contains("&lt;script&gt;alert(1)"), "{text}");
        screenshot(&c, "serve-markup-inert.png").await;

        // The explain box on the report page.
        c.find(Locator::Id("message"))
            .await
            .unwrap()
            .send_keys("DNS problem: NXDOMAIN looking up A for www.example.com - check that a DNS record exists for this domain")
            .await
            .unwrap();
        c.find(Locator::Id("explain")).await.unwrap().click().await.unwrap();
        let explained = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("explanation"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(explained.contains("Recognised"), "{explained}");

        c.close().await.unwrap();
        server.shutdown().await;
    });
}

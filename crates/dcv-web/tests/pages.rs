//! The HTML face without a browser: the form's redirect, the report page's
//! sections, markup from DNS rendered inert, the strict headers, bounded
//! form bodies, and the explain box.

mod common;

use std::time::Duration;

use common::*;
use dcv_lab::Lab;
use hyper::StatusCode;

const CHECK_WAIT: Duration = Duration::from_secs(40);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Submits the form; returns the permalink path after the 303.
async fn submit_form(base: &str, fields: &[(&str, &str)]) -> String {
    let r = post_form(&format!("{base}/checks"), fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.header("location").expect("Location");
    assert!(location.starts_with("/checks/"), "{location}");
    location
}

async fn finished_page(base: &str, path: &str) -> Reply {
    let id = path.trim_start_matches("/checks/");
    wait_final(base, id, CHECK_WAIT).await;
    let page = get(&format!("{base}{path}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page
}

/// Every page carries the strict headers, and no inline script or style.
fn assert_strict(page: &Reply) {
    assert_eq!(
        page.header("content-security-policy").as_deref(),
        Some(dcv_web::server::CSP)
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    let html = page.text();
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=\"/static/app.js\" defer></script>")
            .count(),
        "only the script file, never inline script"
    );
    assert!(!html.contains(" style="), "no inline style");
    assert!(!html.contains("<style"), "no inline style");
}

/// Whether `html` holds `raw` with its angle brackets escaped, by name
/// (`&lt;`) or by number (`&#60;`, as askama writes them).
fn shown_as_text(html: &str, raw: &str) -> bool {
    let named = raw.replace('<', "&lt;").replace('>', "&gt;");
    let numeric = raw.replace('<', "&#60;").replace('>', "&#62;");
    html.contains(&named) || html.contains(&numeric)
}

#[test]
fn markup_from_dns_is_inert() {
    rt().block_on(async {
        let backend = Backend::sqlite();
        let lab = Lab::start(web_lab()).await.unwrap();
        let server = start(serve_config(&lab, &backend.url())).await;
        let base = server.url();
        let path = submit_form(
            &base,
            &[
                ("hostname", MARKUP_HOST),
                ("ca", "letsencrypt"),
                ("method", "dns"),
                ("txt_values", "the-expected-value"),
            ],
        )
        .await;
        let page = finished_page(&base, &path).await;
        assert_strict(&page);
        let html = page.text();
        // The findings that show the CAA records and the TXT as served.
        assert!(html.contains("id=\"finding-caa_forbids\""), "{html}");
        assert!(html.contains("id=\"finding-txt_mismatch\""), "{html}");
        // The markup is there, as text.
        assert!(!html.contains(CAA_MARKUP), "raw CAA markup in the page");
        assert!(!html.contains(TXT_MARKUP), "raw TXT markup in the page");
        assert!(shown_as_text(&html, "<script>alert(1)"), "{html}");
        assert!(
            shown_as_text(&html, "<img src=x onerror=alert(2)>"),
            "{html}"
        );
        server.shutdown().await;
    });
}

#[test]
fn report_page_sections_and_form_flow() {
    rt().block_on(async {
        let backend = Backend::sqlite();
        let lab = Lab::start(web_lab()).await.unwrap();
        let server = start(serve_config(&lab, &backend.url())).await;
        let base = server.url();

        let index = get(&format!("{base}/")).await;
        assert_eq!(index.status, StatusCode::OK);
        assert_strict(&index);
        assert!(index.text().contains("id=\"check-form\""));
        let prefilled = get(&format!("{base}/?hostname=%3Cb%3Ex")).await.text();
        assert!(
            shown_as_text(&prefilled, "value=\"<b>x\""),
            "{prefilled}"
        );

        // A broken chain: the chain picture with the red link.
        let path = submit_form(
            &base,
            &[("hostname", BROKEN_HOST), ("ca", "letsencrypt"), ("method", "dns")],
        )
        .await;
        let page = finished_page(&base, &path).await;
        assert_strict(&page);
        let html = page.text();
        assert!(html.contains("id=\"finding-dnssec_bogus\""), "{html}");
        assert!(html.contains("<svg class=\"chain\" id=\"chain\""), "{html}");
        assert!(html.contains("<g class=\"link bogus broken\">"), "{html}");
        assert!(html.contains("<g class=\"zone bogus broken\">"), "{html}");
        assert!(html.contains("id=\"broken-link\""), "{html}");
        assert!(html.contains("broken.lab."), "{html}");

        // A WAF-blocked token: the HTTP timeline.
        let (token, body) = lab_token();
        let path = submit_form(
            &base,
            &[
                ("hostname", WAF_HOST),
                ("ca", "letsencrypt"),
                ("method", "http"),
                ("http_token", token),
                ("http_body", body),
            ],
        )
        .await;
        let page = finished_page(&base, &path).await;
        let html = page.text();
        assert!(html.contains("id=\"finding-http_blocked\""), "{html}");
        assert!(html.contains("id=\"http-timeline\""), "{html}");
        assert!(html.contains("the CA&#39;s pick") || html.contains("the CA's pick"), "{html}");
        assert!(html.contains("class=\"bad\">blocked</td>"), "{html}");
        // The history lists it.
        assert!(html.contains("id=\"history\""), "{html}");

        // Form errors come back on the form, escaped.
        let r = post_form(&format!("{base}/checks"), &[("hostname", "<b>bad..name")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let html = r.text();
        assert!(html.contains("id=\"form-error\""), "{html}");
        assert!(!html.contains("<b>bad"), "{html}");
        // Oversized form: 413.
        let big = "x".repeat(dcv_web::server::MAX_BODY_BYTES + 10);
        let r = post_form(&format!("{base}/checks"), &[("hostname", big.as_str())]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

        // The explain box.
        let r = post_form(
            &format!("{base}/explain"),
            &[("message", "DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning")],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.text().contains("id=\"explanation\""));
        assert!(r.text().contains("Recognised"));

        // Static files with their types; unknown pages.
        let js = get(&format!("{base}/static/app.js")).await;
        assert_eq!(js.header("content-type").as_deref(), Some("text/javascript; charset=utf-8"));
        assert!(js.text().contains("EventSource"));
        let css = get(&format!("{base}/static/style.css")).await;
        assert_eq!(css.header("content-type").as_deref(), Some("text/css; charset=utf-8"));
        let missing = get(&format!("{base}/checks/ffffffffffffffffffffffffffffffff")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_strict(&missing);
        let missing = get(&format!("{base}/nowhere")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        server.shutdown().await;
    });
}

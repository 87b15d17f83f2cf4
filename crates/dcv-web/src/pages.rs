//! The web page, rendered on the server (askama templates, which escape
//! every value: CAA values and TXT records can carry markup). The form
//! starts a check and redirects to its permalink; the permalink follows
//! the check (a small script reads the event stream) and then shows the
//! report, the chain of trust, the HTTP timeline and the host's history.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use dcv_diagnosis::request::CheckRequest;
use dcv_diagnosis::{CaId, Method, Report, Severity};
use serde::Deserialize;

use crate::api::{ApiError, WebCheckRequest, rfc3339};
use crate::jobs::{CheckEvent, EventKind};
use crate::picture::{ChainPicture, TimelinePicture};
use crate::server::AppState;
use crate::store::CheckRecord;
use crate::views::{HttpTimeline, Views};

const SCRIPT: &str = include_str!("../static/app.js");
const STYLE: &str = include_str!("../static/style.css");
/// Checks listed in the history on a report page.
const HISTORY_SHOWN: u32 = 8;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route("/checks", post(submit_form))
        .route("/checks/{id}", get(check_page))
        .route("/explain", post(explain_form).get(explain_get))
        .route("/static/app.js", get(script))
        .route("/static/style.css", get(style))
}

fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error (logged)").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: String,
    message: &'a str,
}

/// An HTML error page.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            status: status.to_string(),
            message,
        },
    )
}

fn api_error_page(e: &ApiError) -> Response {
    let mut resp = error_page(e.status, &e.message);
    if let Some(d) = e.retry_after {
        let secs = d.as_secs().max(1);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    profiles: Vec<String>,
    hostname: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct IndexQuery {
    hostname: Option<String>,
}

async fn index(State(state): State<Arc<AppState>>, Query(q): Query<IndexQuery>) -> Response {
    render(
        StatusCode::OK,
        &IndexPage {
            profiles: state.jobs.profile_names(),
            hostname: q.hostname.unwrap_or_default(),
            error: None,
        },
    )
}

/// The form's fields (strings, as browsers send them).
#[derive(Debug, Deserialize)]
pub struct CheckForm {
    hostname: String,
    #[serde(default)]
    ca: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    http_token: String,
    #[serde(default)]
    http_body: String,
    #[serde(default)]
    txt_values: String,
    #[serde(default)]
    dcv_delegation: String,
    #[serde(default)]
    perspectives: String,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl CheckForm {
    fn into_request(self) -> Result<WebCheckRequest, String> {
        let ca = match self.ca.as_str() {
            "" | "all" => Vec::new(),
            one => vec![
                serde_json::from_value::<CaId>(serde_json::Value::String(one.to_owned()))
                    .map_err(|_| format!("unknown CA {one:?}"))?,
            ],
        };
        let method = match self.method.as_str() {
            "" | "all" => Vec::new(),
            "http" => vec![Method::Http],
            "dns" => vec![Method::Dns],
            other => return Err(format!("unknown method {other:?}")),
        };
        Ok(WebCheckRequest {
            check: CheckRequest {
                hostname: self.hostname.trim().to_owned(),
                ca,
                method,
                http_token: non_empty(&self.http_token),
                http_body: non_empty(&self.http_body),
                txt_values: self.txt_values.lines().filter_map(non_empty).collect(),
                account_uri: None,
                dcv_delegation: non_empty(&self.dcv_delegation),
            },
            perspectives: non_empty(&self.perspectives),
        })
    }
}

async fn submit_form(
    State(state): State<Arc<AppState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    form: Result<Form<CheckForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return error_page(e.status(), &e.body_text()),
    };
    let hostname = form.hostname.clone();
    let request = match form.into_request() {
        Ok(r) => r,
        Err(e) => {
            return render(
                StatusCode::BAD_REQUEST,
                &IndexPage {
                    profiles: state.jobs.profile_names(),
                    hostname,
                    error: Some(e),
                },
            );
        }
    };
    match crate::api::submit(&state, client, request).await {
        Ok(created) => Redirect::to(&created.page).into_response(),
        Err(e) if e.status == StatusCode::BAD_REQUEST => render(
            StatusCode::BAD_REQUEST,
            &IndexPage {
                profiles: state.jobs.profile_names(),
                hostname,
                error: Some(e.message),
            },
        ),
        Err(e) => api_error_page(&e),
    }
}

/// One probe line of the progress list.
struct ProgressLine {
    key: String,
    state: &'static str,
    text: String,
}

fn progress_lines(events: &[CheckEvent]) -> Vec<ProgressLine> {
    let mut lines: Vec<ProgressLine> = Vec::new();
    for e in events {
        let (Some(key), Some(label)) = (&e.probe, &e.label) else {
            continue;
        };
        let (state, text) = match e.kind {
            EventKind::ProbeStarted => ("running", format!("{label}: running")),
            EventKind::ProbeFinished => ("finished", format!("{label}: done at {} ms", e.at_ms)),
            EventKind::Status => continue,
        };
        match lines.iter_mut().find(|l| &l.key == key) {
            Some(l) => {
                l.state = state;
                l.text = text;
            }
            None => lines.push(ProgressLine {
                key: key.clone(),
                state,
                text,
            }),
        }
    }
    lines
}

/// A finding as the page shows it.
struct FindingView {
    code: String,
    severity: &'static str,
    summary: String,
    ca_message: Option<String>,
    acme_detail: Option<String>,
    explanation: String,
    fix: String,
    who_fixes: String,
    blocks: String,
    method: String,
    reference: String,
    /// Each piece of evidence as indented JSON (escaped by the template).
    evidence: Vec<String>,
}

struct SeverityGroup {
    title: &'static str,
    class: &'static str,
    findings: Vec<FindingView>,
}

struct Cell {
    ok: bool,
    blocked_by: String,
}

struct CaRow {
    ca: String,
    cells: Vec<Cell>,
}

struct ReportView {
    verdict: String,
    verdict_text: &'static str,
    methods: Vec<String>,
    cas: Vec<CaRow>,
    groups: Vec<SeverityGroup>,
}

fn plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl ReportView {
    fn new(r: &Report) -> ReportView {
        let methods: Vec<Method> = r.method.clone();
        let cas = r
            .ca_verdicts
            .iter()
            .map(|v| CaRow {
                ca: v.ca.profile().name.to_owned(),
                cells: methods
                    .iter()
                    .map(|m| match v.methods.iter().find(|mv| mv.method == *m) {
                        Some(mv) => Cell {
                            ok: mv.would_validate,
                            blocked_by: mv
                                .blocked_by
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                        },
                        None => Cell {
                            ok: false,
                            blocked_by: "(method not offered by this CA)".to_owned(),
                        },
                    })
                    .collect(),
            })
            .collect();
        let groups = [
            (Severity::Error, "Errors: the CA would refuse", "error"),
            (Severity::Warning, "Warnings", "warning"),
            (Severity::Info, "Notes", "info"),
        ]
        .into_iter()
        .filter_map(|(severity, title, class)| {
            let findings: Vec<FindingView> = r
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .map(|f| FindingView {
                    code: f.code.to_string(),
                    severity: class,
                    summary: f.summary.clone(),
                    ca_message: f.ca_message.clone(),
                    acme_detail: f.acme_detail.clone(),
                    explanation: f.explanation.clone(),
                    fix: f.fix.clone(),
                    who_fixes: f.who_fixes.to_string(),
                    blocks: f
                        .blocks
                        .iter()
                        .map(|c| c.profile().name)
                        .collect::<Vec<_>>()
                        .join(", "),
                    method: f
                        .method
                        .map(|m| m.acme_label().to_owned())
                        .unwrap_or_default(),
                    reference: f.reference.clone(),
                    evidence: f
                        .evidence
                        .iter()
                        .map(|e| serde_json::to_string_pretty(e).unwrap_or_default())
                        .collect(),
                })
                .collect();
            (!findings.is_empty()).then_some(SeverityGroup {
                title,
                class,
                findings,
            })
        })
        .collect();
        ReportView {
            verdict: plain(&r.verdict),
            verdict_text: match r.verdict {
                dcv_diagnosis::Verdict::Pass => "every CA checked would validate",
                dcv_diagnosis::Verdict::Warn => "every CA checked would validate, with warnings",
                dcv_diagnosis::Verdict::Fail => "a CA checked would refuse",
                dcv_diagnosis::Verdict::CouldNotCheck => {
                    "could not be checked from this server (its network, not your domain)"
                }
            },
            methods: methods.iter().map(|m| m.acme_label().to_owned()).collect(),
            cas,
            groups,
        }
    }
}

/// The HTTP timeline with its bars.
struct TimelineView {
    url: String,
    error: Option<String>,
    ca_addresses: String,
    fell_back: bool,
    ca_outcome: String,
    ca_healthy: bool,
    ca_problem: Option<String>,
    picture: TimelinePicture,
}

impl TimelineView {
    fn new(t: &HttpTimeline) -> TimelineView {
        TimelineView {
            url: t.url.clone(),
            error: t.error.clone(),
            ca_addresses: if t.ca_addresses.is_empty() {
                "no address".to_owned()
            } else {
                t.ca_addresses.join(", then ")
            },
            fell_back: t.ca_fell_back_to_ipv4,
            ca_outcome: t.ca_outcome.clone().unwrap_or_else(|| "-".to_owned()),
            ca_healthy: t.ca_healthy,
            ca_problem: t.ca_problem.clone(),
            picture: TimelinePicture::layout(t),
        }
    }
}

struct HistoryRow {
    when: String,
    page: String,
    status: String,
    verdict: String,
    changes: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    id: String,
    hostname: String,
    status: String,
    is_final: bool,
    created_at: String,
    finished_at: String,
    attempts: i64,
    error: Option<String>,
    progress: Vec<ProgressLine>,
    report: Option<ReportView>,
    chain: Option<ChainPicture>,
    chain_notes: Vec<String>,
    timeline: Option<TimelineView>,
    history: Vec<HistoryRow>,
}

async fn check_page(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let record = match crate::api::load(&state, &id).await {
        Ok(r) => r,
        Err(e) => return api_error_page(&e),
    };
    let history =
        match crate::api::history(&state, &record.hostname, Some(HISTORY_SHOWN), None).await {
            Ok(page) => page
                .checks
                .iter()
                .map(|s| HistoryRow {
                    when: s.created_at.clone(),
                    page: s.page.clone(),
                    status: s.status.as_str().to_owned(),
                    verdict: s.verdict.clone().unwrap_or_else(|| "-".to_owned()),
                    changes: describe_changes(s.changes.as_ref()),
                    current: s.id == record.id,
                })
                .collect(),
            Err(_) => Vec::new(),
        };
    render(StatusCode::OK, &page_for(&state, record, history))
}

fn describe_changes(c: Option<&crate::api::Changes>) -> String {
    let Some(c) = c else {
        return "-".to_owned();
    };
    let mut parts: Vec<String> = Vec::new();
    parts.extend(c.added.iter().map(|code| format!("+{code}")));
    parts.extend(c.removed.iter().map(|code| format!("−{code}")));
    if parts.is_empty() {
        parts.push("same findings".to_owned());
    }
    if let Some(v) = &c.verdict_before {
        parts.push(format!("(was {v})"));
    }
    parts.join(" ")
}

fn page_for(state: &AppState, record: CheckRecord, history: Vec<HistoryRow>) -> CheckPage {
    let events: Vec<CheckEvent> = match state.jobs.follow(&record.id) {
        Some((log, _)) => log,
        None => record
            .events
            .as_deref()
            .and_then(|e| serde_json::from_str(e).ok())
            .unwrap_or_default(),
    };
    let report: Option<Report> = record
        .report
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let views: Option<Views> = record
        .views
        .as_deref()
        .and_then(|v| serde_json::from_str(v).ok());
    let (chain, chain_notes) = match &views {
        Some(v) if !v.dnssec.zones.is_empty() || !v.dnssec.answers.is_empty() => {
            let mut notes: Vec<String> = v
                .dnssec
                .zones
                .iter()
                .filter_map(|z| {
                    z.reason
                        .as_ref()
                        .map(|r| format!("{} ({}): {r}", z.zone, z.status.label()))
                })
                .collect();
            notes.extend(v.dnssec.answers.iter().filter_map(|a| {
                a.reason
                    .as_ref()
                    .map(|r| format!("{} ({}): {r}", a.query, a.status.label()))
            }));
            notes.dedup();
            if v.dnssec.truncated {
                notes.push(format!(
                    "the picture stops after {} zones",
                    crate::views::MAX_CHAIN_ZONES
                ));
            }
            (Some(ChainPicture::layout(&v.dnssec)), notes)
        }
        _ => (None, Vec::new()),
    };
    CheckPage {
        hostname: record.hostname.clone(),
        status: record.status.as_str().to_owned(),
        is_final: record.status.is_final(),
        created_at: rfc3339(record.created_ms),
        finished_at: record.finished_ms.map(rfc3339).unwrap_or_default(),
        attempts: record.attempts,
        error: record.error.clone(),
        progress: progress_lines(&events),
        report: report.as_ref().map(ReportView::new),
        chain,
        chain_notes,
        timeline: views
            .as_ref()
            .and_then(|v| v.http.as_ref())
            .map(TimelineView::new),
        history,
        id: record.id,
    }
}

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    message: String,
    explanation: Option<dcv_diagnosis::explain::Explanation>,
}

#[derive(Deserialize)]
struct ExplainForm {
    message: String,
}

async fn explain_form(
    form: Result<Form<ExplainForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return error_page(e.status(), &e.body_text()),
    };
    match crate::api::explain_message(&form.message) {
        Ok(r) => render(
            StatusCode::OK,
            &ExplainPage {
                message: form.message,
                explanation: r.explanation,
            },
        ),
        Err(e) => api_error_page(&e),
    }
}

async fn explain_get() -> Response {
    render(
        StatusCode::OK,
        &ExplainPage {
            message: String::new(),
            explanation: None,
        },
    )
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        STYLE,
    )
        .into_response()
}

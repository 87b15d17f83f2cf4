//! The JSON API, version 1: start a check (202 + `Location`), read it (the
//! report is the JSON of `check --format json`), follow it (server-sent
//! events), a host's history, and `explain`. Each handler carries its
//! `OpenAPI` description (utoipa), and the router is built from those same
//! descriptions, so the document served at `/api/v1/openapi.json` cannot
//! name a route that is not there.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use dcv_diagnosis::request::CheckRequest;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::jobs::{CheckEvent, SubmitError, epoch_ms};
use crate::ratelimit::{client_key, host_key};
use crate::server::AppState;
use crate::store::{CheckRecord, CheckStatus};

/// Largest `explain` message read: CA messages are a few hundred bytes.
pub const MAX_EXPLAIN_BYTES: usize = 4096;
/// History page size: default and most.
pub const HISTORY_DEFAULT: u32 = 10;
pub const HISTORY_MAX: u32 = 50;

/// `POST /api/v1/checks`: the agent's request (same field names, same
/// validation) plus an optional perspectives profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebCheckRequest {
    #[serde(flatten)]
    pub check: CheckRequest,
    /// A perspectives profile this server was started with (`serve
    /// --perspectives NAME=FILE`): remote agents corroborate the check (BR
    /// 3.2.2.9). Absent: this server's view only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perspectives: Option<String>,
}

/// Read by hand rather than with `#[serde(flatten)]`, which would let the
/// agent request's `deny_unknown_fields` pass unknown fields silently: the
/// profile is taken out, the rest must be exactly a [`CheckRequest`].
impl<'de> Deserialize<'de> for WebCheckRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let perspectives = match map.remove("perspectives") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(name)) => Some(name),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "perspectives: expected a profile name, found {other}"
                )));
            }
        };
        let check =
            CheckRequest::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(WebCheckRequest {
            check,
            perspectives,
        })
    }
}

/// The request body as documented (`CheckRequest` lives in
/// `dcv-diagnosis`, which does not depend on utoipa; a test checks that
/// this mirror has exactly its fields).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = CheckRequest)]
#[allow(dead_code)]
pub struct CheckRequestDoc {
    /// The hostname to validate (`*.example.com` for a wildcard; DNS-01 only).
    #[schema(example = "www.example.com")]
    hostname: String,
    /// CAs to predict: `letsencrypt`, `google`, `sslcom`, `sectigo`. Empty: all.
    #[serde(default)]
    ca: Vec<String>,
    /// Methods: `http`, `dns`. Empty: both (wildcards: dns).
    #[serde(default)]
    method: Vec<String>,
    /// HTTP-01 token (base64url). Absent: a random probe token.
    http_token: Option<String>,
    /// The key authorisation the token URL must serve.
    http_body: Option<String>,
    /// Expected DNS-01 TXT values.
    #[serde(default)]
    txt_values: Vec<String>,
    /// ACME account URI, for CAA `accounturi` (RFC 8657 §3).
    account_uri: Option<String>,
    /// Expected Delegated DCV target of `_acme-challenge.<hostname>`.
    dcv_delegation: Option<String>,
    /// A perspectives profile of this server (see `GET /`), for remote
    /// corroboration.
    perspectives: Option<String>,
}

/// `202 Accepted` for a new check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckCreated {
    pub id: String,
    pub status: CheckStatus,
    /// This API's URL of the check (also in `Location`).
    pub url: String,
    /// The permalink page.
    pub page: String,
    /// The event stream.
    pub events: String,
}

/// Links from a check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub page: String,
    pub events: String,
    pub history: String,
}

/// The report's shape, top level (the full model is `dcv_diagnosis::Report`,
/// documented in docs/findings.md; a test checks real reports against this).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Report)]
#[allow(dead_code)]
pub struct ReportDoc {
    hostname: String,
    ca: Vec<String>,
    method: Vec<String>,
    /// `pass`, `warn` or `fail`.
    verdict: String,
    #[schema(value_type = Vec<Object>)]
    ca_verdicts: Vec<serde_json::Value>,
    findings: Vec<FindingDoc>,
    #[schema(value_type = Object)]
    timings_ms: serde_json::Value,
    /// Multi-perspective corroboration, when perspectives were asked.
    #[schema(value_type = Option<Object>)]
    mpic: Option<serde_json::Value>,
}

/// One finding (see docs/findings.md for the codes).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Finding)]
#[allow(dead_code)]
pub struct FindingDoc {
    code: String,
    /// `info`, `warning`, `error`.
    severity: String,
    summary: String,
    /// What the CA would put in `validation_errors`.
    ca_message: Option<String>,
    /// The CA's ACME problem detail (Boulder's wording).
    acme_detail: Option<String>,
    explanation: String,
    fix: String,
    who_fixes: String,
    blocks: Vec<String>,
    method: Option<String>,
    /// Tagged by `kind`: `dns_lookup`, `dns_paths`, `caa`, `http`, ...
    #[schema(value_type = Vec<Object>)]
    evidence: Vec<serde_json::Value>,
    reference: String,
}

/// A check: its state, and once done its report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckResource {
    pub id: String,
    pub hostname: String,
    pub status: CheckStatus,
    /// Times a worker started it (more than 1 after a restart).
    pub attempts: i64,
    /// RFC 3339.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The request as accepted.
    #[schema(value_type = CheckRequestDoc)]
    pub request: serde_json::Value,
    /// `pass`, `warn` or `fail`, when done.
    pub verdict: Option<String>,
    /// The report: the JSON of `dcv-doctor check --format json`.
    #[schema(value_type = Option<ReportDoc>)]
    pub report: Option<serde_json::Value>,
    /// What the page draws: `dnssec` (the chain of trust as zones and
    /// answers) and `http` (attempts per address, hop by hop).
    #[schema(value_type = Option<Object>)]
    pub views: Option<serde_json::Value>,
    /// Why it was refused or failed.
    pub error: Option<String>,
    pub links: CheckLinks,
}

/// What changed since the host's previous finished check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    /// The earlier check compared with.
    pub since: String,
    pub verdict_before: Option<String>,
    /// Finding codes new in this check.
    pub added: Vec<String>,
    /// Finding codes gone since.
    pub removed: Vec<String>,
}

/// One check in a host's history.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckSummary {
    pub id: String,
    pub status: CheckStatus,
    pub created_at: String,
    pub verdict: Option<String>,
    /// Finding codes, worst first.
    pub findings: Vec<String>,
    /// Against the next older finished check (absent for the oldest).
    pub changes: Option<Changes>,
    pub url: String,
    pub page: String,
}

/// A page of a host's history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub hostname: String,
    pub checks: Vec<CheckSummary>,
    /// The next (older) page, when there is one.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Checks per page (1-50, default 10).
    pub limit: Option<u32>,
    /// From a previous page's `next`.
    pub cursor: Option<String>,
}

/// `POST /api/v1/explain`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// A `validation_errors` message or ACME problem detail.
    #[schema(example = "DNS problem: SERVFAIL looking up CAA for example.com")]
    pub message: String,
}

/// What `explain` made of a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplainResponse {
    pub recognised: bool,
    /// Cause, what to check, fix, who fixes, the finding code and a check
    /// command (`dcv_diagnosis::explain::Explanation`).
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<dcv_diagnosis::explain::Explanation>,
}

/// Every refusal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A refusal with its status (and `Retry-After` for 429/503).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn internal(e: &impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (logged)")
    }

    fn retry_header(&self) -> Option<HeaderValue> {
        self.retry_after.map(|d| {
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            HeaderValue::from(secs.max(1))
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.retry_header();
        let mut resp = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if let Some(v) = retry {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

/// A body that could not be read (too large: 413), as a JSON refusal.
pub fn rejected(r: &BytesRejection) -> ApiError {
    ApiError::new(r.status(), r.body_text())
}

/// The API description.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "dcv-doctor",
        description = "Predicts what a certificate authority will see when it validates a domain (DNS with DNSSEC, CAA, HTTP-01, DNS-01). Reports are the JSON of `dcv-doctor check --format json`.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(CheckEvent, FindingDoc))
)]
pub struct ApiDoc;

/// The API routes and their description, from the same attributes.
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_check))
        .routes(routes!(get_check))
        .routes(routes!(check_events))
        .routes(routes!(host_checks))
        .routes(routes!(explain))
}

/// 16 random bytes, hex: unguessable, so a permalink is shared on purpose.
pub fn new_id() -> String {
    use rand::Rng as _;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// RFC 3339 for a stored time.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The hostname as the store keys it (the request's name, normalised).
fn stored_hostname(cfg: &dcv_diagnosis::config::CheckConfig) -> String {
    cfg.hostname.to_string()
}

/// Validates, rate-limits, stores and queues a check: the API's and the
/// form's one path.
pub async fn submit(
    state: &AppState,
    client: SocketAddr,
    request: WebCheckRequest,
) -> Result<CheckCreated, ApiError> {
    if let Err(limited) = state.client_limiter.check(&client_key(client.ip())) {
        state.metrics.refused("client");
        return Err(ApiError {
            retry_after: Some(limited.retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many checks from your address; try again later",
            )
        });
    }
    let cfg = state
        .jobs
        .policy()
        .check_config(&request.check)
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid check request: {e}"),
            )
        })?;
    if let Some(name) = &request.perspectives
        && !state.jobs.has_profile(name)
    {
        let known = state.jobs.profile_names();
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            if known.is_empty() {
                format!("perspectives {name:?}: this server has no perspectives profiles")
            } else {
                format!(
                    "perspectives {name:?}: not a profile of this server ({})",
                    known.join(", ")
                )
            },
        ));
    }
    if let Err(limited) = state.host_limiter.check(&host_key(cfg.hostname.base())) {
        state.metrics.refused("host");
        return Err(ApiError {
            retry_after: Some(limited.retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many checks of {} recently; try again later",
                    host_key(cfg.hostname.base())
                ),
            )
        });
    }
    let id = new_id();
    let record = CheckRecord {
        id: id.clone(),
        hostname: stored_hostname(&cfg),
        request: serde_json::to_string(&request).map_err(|e| ApiError::internal(&e))?,
        status: CheckStatus::Queued,
        attempts: 0,
        created_ms: epoch_ms(),
        started_ms: None,
        finished_ms: None,
        verdict: None,
        report: None,
        views: None,
        events: None,
        error: None,
    };
    match state.jobs.submit(record).await {
        Ok(()) => {}
        Err(SubmitError::QueueFull(n)) => {
            state.metrics.refused("queue");
            return Err(ApiError {
                retry_after: Some(Duration::from_secs(5)),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("busy: {n} checks are waiting; try again shortly"),
                )
            });
        }
        Err(SubmitError::Store(e)) => return Err(ApiError::internal(&e)),
    }
    Ok(CheckCreated {
        url: format!("/api/v1/checks/{id}"),
        page: format!("/checks/{id}"),
        events: format!("/api/v1/checks/{id}/events"),
        status: CheckStatus::Queued,
        id,
    })
}

/// Start a check.
///
/// The check runs on the server's worker pool; follow it with the event
/// stream or poll the check until its status is final.
#[utoipa::path(
    post,
    path = "/api/v1/checks",
    tag = "checks",
    request_body = CheckRequestDoc,
    responses(
        (status = 202, description = "Accepted; `Location` names the check", body = CheckCreated,
            headers(("Location" = String, description = "The check's URL"))),
        (status = 400, description = "Malformed or invalid request", body = ErrorBody),
        (status = 413, description = "Body larger than the limit", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Rate limited (per client or per domain); see Retry-After", body = ErrorBody),
        (status = 503, description = "Queue full; see Retry-After", body = ErrorBody),
    )
)]
pub async fn create_check(
    State(state): State<Arc<AppState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| rejected(&r))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the check request as application/json",
        ));
    }
    let request: WebCheckRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed check request (JSON): {e}"),
        )
    })?;
    let created = submit(&state, client, request).await?;
    let mut resp = (StatusCode::ACCEPTED, Json(&created)).into_response();
    if let Ok(v) = HeaderValue::from_str(&created.url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

pub async fn load(state: &AppState, id: &str) -> Result<CheckRecord, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such check"));
    }
    state
        .store
        .get(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such check"))
}

fn parse_json(text: Option<&String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// The API view of a stored check.
pub fn resource(r: &CheckRecord) -> CheckResource {
    let history = format!(
        "/api/v1/hosts/{}/checks",
        url::form_urlencoded::byte_serialize(r.hostname.as_bytes()).collect::<String>()
    );
    CheckResource {
        id: r.id.clone(),
        hostname: r.hostname.clone(),
        status: r.status,
        attempts: r.attempts,
        created_at: rfc3339(r.created_ms),
        started_at: r.started_ms.map(rfc3339),
        finished_at: r.finished_ms.map(rfc3339),
        request: parse_json(Some(&r.request)).unwrap_or(serde_json::Value::Null),
        verdict: r.verdict.clone(),
        report: parse_json(r.report.as_ref()),
        views: parse_json(r.views.as_ref()),
        error: r.error.clone(),
        links: CheckLinks {
            self_: format!("/api/v1/checks/{}", r.id),
            page: format!("/checks/{}", r.id),
            events: format!("/api/v1/checks/{}/events", r.id),
            history,
        },
    }
}

/// Read a check.
#[utoipa::path(
    get,
    path = "/api/v1/checks/{id}",
    tag = "checks",
    params(("id" = String, Path, description = "The check's id")),
    responses(
        (status = 200, description = "The check; `report` once `status` is `done`", body = CheckResource),
        (status = 404, description = "No such check", body = ErrorBody),
    )
)]
pub async fn get_check(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<CheckResource>, ApiError> {
    let record = load(&state, &id).await?;
    Ok(Json(resource(&record)))
}

/// Follow a check.
///
/// Server-sent events: `status` (queued, running, then a final done,
/// refused or failed, which ends the stream), `probe_started` and
/// `probe_finished` (each probe of the check as it starts and finishes).
/// Each `data` is a `CheckEvent`. A finished check replays its events.
#[utoipa::path(
    get,
    path = "/api/v1/checks/{id}/events",
    tag = "checks",
    params(("id" = String, Path, description = "The check's id")),
    responses(
        (status = 200, description = "An event stream of `CheckEvent`s", content_type = "text/event-stream", body = String),
        (status = 404, description = "No such check", body = ErrorBody),
        (status = 503, description = "Too many event streams open", body = ErrorBody),
    )
)]
pub async fn check_events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Ok(permit) = Arc::clone(&state.event_streams).try_acquire_owned() else {
        return Err(ApiError {
            retry_after: Some(Duration::from_secs(5)),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many event streams open",
            )
        });
    };
    let (backlog, rx) = if let Some((log, rx)) = state.jobs.follow(&id) {
        (log, Some(rx))
    } else {
        let record = load(&state, &id).await?;
        if let Some((log, rx)) = state.jobs.follow(&id) {
            // It became live between the two looks.
            (log, Some(rx))
        } else if !record.status.is_final() {
            // Queued before this start, or run by another worker.
            let (log, rx) = state.jobs.watch(&id, record.status);
            (log, Some(rx))
        } else {
            let mut events: Vec<CheckEvent> = record
                .events
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or_default();
            if !events.last().is_some_and(CheckEvent::is_final) {
                events.push(CheckEvent {
                    kind: crate::jobs::EventKind::Status,
                    status: Some(record.status),
                    probe: None,
                    label: None,
                    verdict: record.verdict.clone(),
                    at_ms: 0,
                });
            }
            (events, None)
        }
    };
    let deadline = tokio::time::Instant::now() + state.event_stream_limit;
    let start = Follow {
        backlog: backlog.into(),
        rx,
        done: false,
        deadline,
        _permit: permit,
    };
    let stream = futures::stream::unfold(start, |mut f| async move {
        if f.done {
            return None;
        }
        let event = if let Some(e) = f.backlog.pop_front() {
            e
        } else {
            let rx = f.rx.as_mut()?;
            loop {
                match tokio::time::timeout_at(f.deadline, rx.recv()).await {
                    Ok(Ok(e)) => break e,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(_)) | Err(_) => return None,
                }
            }
        };
        f.done = event.is_final();
        let sse = Event::default()
            .event(event.kind.as_str())
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
        Some((Ok::<_, Infallible>(sse), f))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// An event stream's state: events to replay, then the live ones.
struct Follow {
    backlog: VecDeque<CheckEvent>,
    rx: Option<tokio::sync::broadcast::Receiver<CheckEvent>>,
    done: bool,
    deadline: tokio::time::Instant,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// Finding codes of a stored report, worst first.
pub fn finding_codes(report: Option<&String>) -> Vec<String> {
    parse_json(report)
        .and_then(|v| {
            v.get("findings").and_then(|f| f.as_array()).map(|fs| {
                fs.iter()
                    .filter_map(|f| f.get("code").and_then(|c| c.as_str()).map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// What changed from `older` to `newer` (both finished with a report).
pub fn changes(newer: &CheckRecord, older: &CheckRecord) -> Changes {
    let now: BTreeSet<String> = finding_codes(newer.report.as_ref()).into_iter().collect();
    let before: BTreeSet<String> = finding_codes(older.report.as_ref()).into_iter().collect();
    Changes {
        since: older.id.clone(),
        verdict_before: older.verdict.clone(),
        added: now.difference(&before).cloned().collect(),
        removed: before.difference(&now).cloned().collect(),
    }
}

/// One page of a host's history with changes between consecutive finished
/// checks. `rows` is one longer than the page when there is more.
pub fn summaries(rows: &[CheckRecord], page: usize) -> Vec<CheckSummary> {
    rows.iter()
        .take(page)
        .enumerate()
        .map(|(i, r)| {
            let older = rows[i + 1..].iter().find(|o| o.status == CheckStatus::Done);
            CheckSummary {
                id: r.id.clone(),
                status: r.status,
                created_at: rfc3339(r.created_ms),
                verdict: r.verdict.clone(),
                findings: finding_codes(r.report.as_ref()),
                changes: match (r.status, older) {
                    (CheckStatus::Done, Some(o)) => Some(changes(r, o)),
                    _ => None,
                },
                url: format!("/api/v1/checks/{}", r.id),
                page: format!("/checks/{}", r.id),
            }
        })
        .collect()
}

/// Rows fetched beyond a page to compute its last check's changes.
pub const LOOKBEHIND: i64 = 5;

fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (ms, id) = cursor.split_once('.')?;
    let ms = ms.parse().ok()?;
    valid_id(id).then(|| (ms, id.to_owned()))
}

/// A host's checks.
///
/// Newest first, paginated with `cursor`; each finished check says what
/// changed since the one before it.
#[utoipa::path(
    get,
    path = "/api/v1/hosts/{hostname}/checks",
    tag = "checks",
    params(
        ("hostname" = String, Path, description = "The hostname as checked"),
        HistoryQuery
    ),
    responses(
        (status = 200, description = "A page of the host's checks", body = HistoryPage),
        (status = 400, description = "Bad hostname, limit or cursor", body = ErrorBody),
    )
)]
pub async fn host_checks(
    State(state): State<Arc<AppState>>,
    Path(hostname): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let page = history(&state, &hostname, q.limit, q.cursor.as_deref()).await?;
    Ok(Json(page))
}

/// The history page, shared with the HTML page.
pub async fn history(
    state: &AppState,
    hostname: &str,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<HistoryPage, ApiError> {
    let host = dcv_diagnosis::identifier::Hostname::parse(hostname)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("hostname: {e}")))?
        .to_string();
    let limit = limit.unwrap_or(HISTORY_DEFAULT);
    if !(1..=HISTORY_MAX).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be 1-{HISTORY_MAX}"),
        ));
    }
    let before = match cursor {
        None => None,
        Some(c) => Some(
            parse_cursor(c)
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "malformed cursor"))?,
        ),
    };
    let rows = state
        .store
        .history(
            &host,
            before.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            i64::from(limit) + LOOKBEHIND,
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let checks = summaries(&rows, page);
    let next = (rows.len() > page).then(|| {
        let last = &rows[page - 1];
        format!(
            "/api/v1/hosts/{}/checks?limit={limit}&cursor={}.{}",
            url::form_urlencoded::byte_serialize(host.as_bytes()).collect::<String>(),
            last.created_ms,
            last.id
        )
    });
    Ok(HistoryPage {
        hostname: host,
        checks,
        next,
    })
}

/// Explain a CA's error message.
///
/// Recognises Cloudflare `validation_errors` and ACME problem details
/// (Boulder's wording) and says the cause, what to check, the fix and who
/// must act. An unknown message is `recognised: false`: it never guesses.
#[utoipa::path(
    post,
    path = "/api/v1/explain",
    tag = "explain",
    request_body = ExplainRequest,
    responses(
        (status = 200, description = "The explanation, if the message is known", body = ExplainResponse),
        (status = 400, description = "Malformed request or message too long", body = ErrorBody),
        (status = 413, description = "Body larger than the limit", body = ErrorBody),
    )
)]
pub async fn explain(
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<Json<ExplainResponse>, ApiError> {
    let body = body.map_err(|r| rejected(&r))?;
    let req: ExplainRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed explain request (JSON): {e}"),
        )
    })?;
    Ok(Json(explain_message(&req.message)?))
}

/// `explain`, bounded; shared with the page.
pub fn explain_message(message: &str) -> Result<ExplainResponse, ApiError> {
    if message.len() > MAX_EXPLAIN_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("message longer than {MAX_EXPLAIN_BYTES} bytes"),
        ));
    }
    let explanation = dcv_diagnosis::explain::explain(message);
    Ok(ExplainResponse {
        recognised: explanation.is_some(),
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inner request keeps refusing unknown fields under `flatten`, and
    /// the profile is read beside it.
    #[test]
    fn web_requests_parse_like_agent_requests() {
        let r: WebCheckRequest = serde_json::from_str(
            r#"{"hostname":"www.example.com","method":["dns"],"perspectives":"eu"}"#,
        )
        .unwrap();
        assert_eq!(r.check.hostname, "www.example.com");
        assert_eq!(r.perspectives.as_deref(), Some("eu"));
        let err = serde_json::from_str::<WebCheckRequest>(
            r#"{"hostname":"www.example.com","dns_port":53}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("dns_port"), "{err}");
        assert!(serde_json::from_str::<WebCheckRequest>(r#"{"method":["dns"]}"#).is_err());
    }

    #[test]
    fn ids_and_cursors_are_checked() {
        let id = new_id();
        assert!(valid_id(&id), "{id}");
        assert!(!valid_id("../etc/passwd"));
        assert!(!valid_id(&id.to_uppercase()));
        assert_eq!(parse_cursor(&format!("17.{id}")), Some((17, id.clone())));
        assert_eq!(parse_cursor("x.y"), None);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}

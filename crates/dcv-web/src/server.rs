//! The service: configuration, shared state, the router with its limits and
//! security headers, the workers, and start/stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dcv_diagnosis::request::ServerCheckPolicy;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::jobs::{Jobs, Profiles};
use crate::metrics::Metrics;
use crate::ratelimit::{KeyedLimiter, Rate};
use crate::store::{Store, StoreError};

/// Largest request body read (a check request is a few hundred bytes; the
/// agent uses the same cap).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time to produce a response head (event streams then run on).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time to receive a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests handled at once; more wait (bounded by `REQUEST_TIMEOUT`).
pub const MAX_IN_FLIGHT: usize = 512;
/// Event streams open at once; more get 503.
pub const MAX_EVENT_STREAMS: usize = 256;
/// Time the server waits for open connections when shutting down.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The Content-Security-Policy of every response: nothing inline, nothing
/// from elsewhere (the one script and stylesheet are files served here).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How `dcv-doctor serve` runs.
#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// `sqlite:PATH` or `postgres://...`.
    pub database_url: String,
    /// DNS view, ports, private-address policy, check time bound.
    pub policy: ServerCheckPolicy,
    /// Checks run at once.
    pub workers: usize,
    /// Checks waiting at most; more get 503.
    pub max_queued: usize,
    /// Checks one client may start.
    pub client_rate: Rate,
    /// Checks of one registered domain, whoever asks.
    pub host_rate: Rate,
    /// Perspectives profiles by name.
    pub profiles: Profiles,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("database_url", &redact(&self.database_url))
            .field("workers", &self.workers)
            .field("max_queued", &self.max_queued)
            .field("client_rate", &self.client_rate)
            .field("host_rate", &self.host_rate)
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A database URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Defaults for a public service.
pub mod defaults {
    use super::Rate;

    pub const WORKERS: usize = 4;
    pub const MAX_QUEUED: usize = 64;
    /// A person re-running a check after each fix: about one a minute,
    /// with a burst for trying both methods.
    pub const CLIENT_RATE: Rate = Rate {
        per_minute: 6,
        burst: 6,
    };
    /// One domain's name servers and web server, whoever asks: Let's
    /// Debug allows about one test per domain per minute.
    pub const HOST_RATE: Rate = Rate {
        per_minute: 4,
        burst: 4,
    };
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    /// `sqlite` or `postgres`.
    pub backend_name: &'static str,
    pub jobs: Arc<Jobs>,
    pub metrics: Arc<Metrics>,
    pub client_limiter: KeyedLimiter,
    pub host_limiter: KeyedLimiter,
    pub event_streams: Arc<Semaphore>,
    /// How long one event stream stays open.
    pub event_stream_limit: Duration,
    pub openapi_json: String,
}

/// A listening service.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    backend: &'static str,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    state: Arc<AppState>,
    check_limit: Duration,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Graceful stop: no new connections, open requests get
    /// [`SHUTDOWN_GRACE`], running checks finish (bounded by their limit),
    /// queued ones stay queued in the store for the next start.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.state.jobs.stop();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                abort.abort();
            }
        }
        let workers = std::mem::take(&mut self.workers);
        let aborts: Vec<_> = workers
            .iter()
            .map(tokio::task::JoinHandle::abort_handle)
            .collect();
        let all = futures::future::join_all(workers);
        if tokio::time::timeout(self.check_limit, all).await.is_err() {
            // Left running in the store: re-run at the next start.
            for a in aborts {
                a.abort();
            }
        }
        self.state.store.close().await;
    }

    /// Stops at once, as a crash would: nothing is written (tests use it to
    /// check that a restart loses nothing).
    pub fn abort(mut self) {
        self.abort_all();
    }

    fn abort_all(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
        for w in self.workers.drain(..) {
            w.abort();
        }
    }

    /// Serves until the server task ends.
    pub async fn wait(&mut self) {
        if let Some(s) = self.server.as_mut() {
            let _ = s.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// Starts the service: opens and migrates the store, re-queues what a
/// previous run left, starts the workers and listens.
pub async fn start(cfg: ServeConfig) -> Result<RunningServer, StartError> {
    let store = Store::connect(&cfg.database_url).await?;
    let metrics = Arc::new(Metrics::default());
    let jobs = Jobs::new(
        store.clone(),
        cfg.policy.clone(),
        cfg.profiles.clone(),
        Arc::clone(&metrics),
        cfg.max_queued,
        crate::jobs::QueueSettings::serve(),
    );
    let recovered = jobs.recover().await?;
    if recovered > 0 {
        tracing::info!(
            recovered,
            "re-queued the checks this server was running when it last stopped"
        );
    }
    let check_limit = cfg.policy.check_timeout + crate::jobs::CHECK_GRACE;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| StartError::Listen(cfg.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(cfg.listen, e))?;
    let (api, openapi) = crate::api::router().split_for_parts();
    let openapi_json = openapi
        .to_pretty_json()
        .map_err(|e| StartError::OpenApi(e.to_string()))?;
    let state = Arc::new(AppState {
        backend_name: store.backend(),
        store,
        jobs: Arc::clone(&jobs),
        metrics,
        client_limiter: KeyedLimiter::new(cfg.client_rate),
        host_limiter: KeyedLimiter::new(cfg.host_rate),
        event_streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
        event_stream_limit: check_limit + Duration::from_secs(30),
        openapi_json,
    });
    let app = app(api, Arc::clone(&state));
    let workers = jobs.spawn_workers(cfg.workers);
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(RunningServer {
        addr,
        backend: state.backend_name,
        shutdown: Some(tx),
        server: Some(server),
        workers,
        state,
        check_limit,
    })
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("OpenAPI document: {0}")]
    OpenApi(String),
}

fn app(api: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::pages::router())
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_IN_FLIGHT,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
}

async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.clone(),
    )
        .into_response()
}

/// Health: the store answers; queue and workers as numbers.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let ok = state.store.ping().await;
    let body = serde_json::json!({
        "status": if ok.is_ok() { "ok" } else { "database unavailable" },
        "database": state.backend_name,
        "queued": state.jobs.queued(),
        "running": state.metrics.running.load(std::sync::atomic::Ordering::Relaxed),
    });
    let status = if ok.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        crate::api::ApiError::new(StatusCode::NOT_FOUND, "no such endpoint").into_response()
    } else {
        crate::pages::error_page(StatusCode::NOT_FOUND, "No such page.")
    }
}

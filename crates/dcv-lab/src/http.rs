//! Lab HTTP/HTTPS responders (serving tokens, redirects, challenge and block
//! pages, protocol mix-ups, silence): real hyper servers on loopback.
//!
//! A responder listens on every given address, plain HTTP on `http_port` and
//! TLS (a self-signed rcgen certificate, served for any SNI) on `https_port`.
//! The two ports may behave differently ([`ResponderSpec::tls_behaviour`]), so
//! "http redirects to https, https serves the token" is one responder.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HOST, USER_AGENT};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Largest number of bytes a silent responder buffers per read (it discards
/// them); keeps "never answers" from growing memory.
const SILENT_READ_CHUNK: usize = 4096;

/// Numbers the answers of [`HttpBehaviour::Dynamic`].
static DYNAMIC_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Size of each chunk of an endless body.
const HUGE_BODY_CHUNK: usize = 16 * 1024;

/// What a responder does with a connection or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpBehaviour {
    /// `200` with `body` at `/.well-known/acme-challenge/<token>`, `404` elsewhere.
    ServeToken {
        /// The challenge token (path segment).
        token: String,
        /// The body served (normally the key authorisation).
        body: String,
    },
    /// `404` for everything.
    NotFound,
    /// A redirect with this status and `Location`. `{host}` expands to the
    /// request's `Host` and `{path}` to its path and query.
    Redirect {
        /// Redirect status (301, 302, 303, 307, 308, ...).
        status: u16,
        /// `Location` template.
        location: String,
    },
    /// `302` to the very same URL.
    RedirectLoop,
    /// A Cloudflare managed-challenge interstitial (`403`, `cf-mitigated:
    /// challenge`, "Just a moment...").
    ChallengePage,
    /// A Cloudflare firewall block page (`403`, error 1020 "Access denied").
    BlockPage,
    /// Cloudflare's classic "I'm Under Attack" JavaScript interstitial:
    /// `503`, "Checking your browser before accessing", no `cf-mitigated`
    /// header.
    UnderAttack,
    /// `200` with a body that changes on every request (a counter), like a
    /// page carrying the time or a nonce.
    Dynamic,
    /// Nothing listens on this port (of this responder's addresses): the
    /// connection is refused.
    PortClosed,
    /// Behaves like the first route whose path prefix the request path starts
    /// with, else like `otherwise`. Request-level behaviours only (not
    /// `Silent`, `CloseImmediately`, `Raw`, `Http2Settings`, `PlainHttp`,
    /// `TlsHandshake`, `PortClosed`, which act on the connection).
    Routes {
        /// `(path prefix, behaviour)`, first match wins.
        routes: Vec<(String, HttpBehaviour)>,
        /// For every other path.
        otherwise: Box<HttpBehaviour>,
    },
    /// A bare status with an empty body.
    Status(u16),
    /// Waits `delay_ms` before answering `200` `slow`.
    Slow {
        /// Delay before the response head.
        delay_ms: u64,
    },
    /// `200` with an endless chunked body.
    HugeBody,
    /// `301` to `https://{host}{path}` (the CA's port 443).
    RedirectToHttps,
    /// A chain of `302`s: `P` -> `P/hop-1` -> ... -> `P/hop-<count>`, which
    /// answers `200` with `body`.
    RedirectChain {
        /// Number of redirects before the final answer.
        count: u32,
        /// Body of the final answer.
        body: String,
    },
    /// A Palo Alto "Application Blocked" page naming App-ID `acme-protocol`.
    FirewallBlock,
    /// The nginx test-cookie module's JavaScript page (`200`, `aes.js`).
    TestCookie,
    /// Any status, headers and body.
    Fixed {
        /// Status code.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
    },
    /// Waits `delay_ms`, then behaves like `then`.
    Delayed {
        /// Delay before the response head.
        delay_ms: u64,
        /// What follows.
        then: Box<HttpBehaviour>,
    },
    /// Accepts the connection, reads, never answers.
    Silent,
    /// Accepts and resets the connection at once.
    CloseImmediately,
    /// Speaks plain HTTP (`then`) even on the TLS port; a TLS `ClientHello`
    /// gets an HTTP `400` like nginx/Go servers send.
    PlainHttp(Box<HttpBehaviour>),
    /// Speaks TLS (then `then`) even on the plain-HTTP port.
    TlsHandshake(Box<HttpBehaviour>),
    /// Answers with an HTTP/2 SETTINGS frame (an h2-only server on port 80).
    Http2Settings,
    /// On the TLS port: no certificate for any name, so the handshake ends
    /// with a fatal alert (rustls sends `access_denied`). On the plain port:
    /// like [`HttpBehaviour::NotFound`].
    TlsNoCertificate,
    /// Reads the request head, writes these bytes verbatim, closes: for
    /// malformed, truncated or non-HTTP answers.
    Raw(Vec<u8>),
}

/// One named responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderSpec {
    /// Name used in scenarios (`{http4:NAME}`).
    pub name: String,
    /// Behaviour on the plain-HTTP port (and on the TLS port unless
    /// `tls_behaviour` is set).
    pub behaviour: HttpBehaviour,
    /// Behaviour on the TLS port, when it differs.
    pub tls_behaviour: Option<HttpBehaviour>,
}

impl ResponderSpec {
    /// A responder behaving the same on both ports.
    pub fn new(name: impl Into<String>, behaviour: HttpBehaviour) -> Self {
        Self {
            name: name.into(),
            behaviour,
            tls_behaviour: None,
        }
    }

    /// Sets a different behaviour for the TLS port.
    #[must_use]
    pub fn with_tls_behaviour(mut self, behaviour: HttpBehaviour) -> Self {
        self.tls_behaviour = Some(behaviour);
        self
    }

    /// Port 80 redirects to https; port 443 serves the token.
    pub fn http_to_https(
        name: impl Into<String>,
        token: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self::new(name, HttpBehaviour::RedirectToHttps).with_tls_behaviour(
            HttpBehaviour::ServeToken {
                token: token.into(),
                body: body.into(),
            },
        )
    }

    /// Port 80 redirects to https; port 443 speaks plain HTTP.
    pub fn http_on_tls_port(name: impl Into<String>) -> Self {
        Self::new(name, HttpBehaviour::RedirectToHttps)
            .with_tls_behaviour(HttpBehaviour::PlainHttp(Box::new(HttpBehaviour::NotFound)))
    }

    /// Port 80 speaks TLS.
    pub fn tls_on_http_port(name: impl Into<String>) -> Self {
        Self::new(
            name,
            HttpBehaviour::TlsHandshake(Box::new(HttpBehaviour::NotFound)),
        )
    }

    /// The behaviour on the TLS (`true`) or plain (`false`) port.
    pub fn behaviour_for(&self, tls_port: bool) -> &HttpBehaviour {
        match (&self.tls_behaviour, tls_port) {
            (Some(b), true) => b,
            _ => &self.behaviour,
        }
    }
}

/// A request a responder saw (for asserting Host, SNI, User-Agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// Local address and port it arrived on.
    pub local: SocketAddr,
    /// Whether it came over TLS.
    pub tls: bool,
    /// SNI, for TLS connections that sent one.
    pub sni: Option<String>,
    /// `Host` header.
    pub host: Option<String>,
    /// Path and query.
    pub path: String,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
}

type SeenLog = Arc<Mutex<Vec<SeenRequest>>>;

/// A running responder; its listeners and connections stop when it is dropped.
#[derive(Debug)]
pub struct RunningResponder {
    name: String,
    addrs: Vec<IpAddr>,
    http_port: u16,
    https_port: u16,
    seen: SeenLog,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningResponder {
    /// The responder's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Addresses it listens on.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Plain-HTTP port (the one chosen when 0 was asked for).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// TLS port (the one chosen when 0 was asked for).
    pub fn https_port(&self) -> u16 {
        self.https_port
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RunningResponder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Resolves no certificate at all: every handshake fails with an alert.
#[derive(Debug)]
struct NoCertificate;

impl rustls::server::ResolvesServerCert for NoCertificate {
    fn resolve(
        &self,
        _client_hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
}

fn no_cert_config() -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(NoCertificate));
    Ok(Arc::new(config))
}

fn server_config() -> io::Result<Arc<ServerConfig>> {
    static CONFIG: OnceLock<Result<Arc<ServerConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let key = rcgen::generate_simple_self_signed(vec![
                "dcv-lab.invalid".to_owned(),
                "*.dcv-lab.invalid".to_owned(),
            ])
            .map_err(|e| format!("rcgen: {e}"))?;
            let cert = key.cert.der().clone();
            let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("rustls: {e}"))?
                .with_no_client_auth()
                .with_single_cert(vec![cert], pkcs8.into())
                .map_err(|e| format!("rustls: {e}"))?;
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(io::Error::other)
}

async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if addr.is_ipv6() && !addr.ip().is_loopback() {
            " (IPv6 lab addresses need scripts/lab-net-setup, run as root)"
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("cannot bind {addr}: {e}{hint}"))
    })
}

/// Starts `spec` on every address in `addrs`: plain HTTP on `http_port`, TLS
/// on `https_port`. A port of 0 is chosen on the first address and reused on
/// the others.
pub async fn spawn_responder(
    spec: &ResponderSpec,
    addrs: &[IpAddr],
    http_port: u16,
    https_port: u16,
) -> io::Result<RunningResponder> {
    let tls = server_config()?;
    let seen: SeenLog = Arc::default();
    let mut listeners = Vec::new();
    let (mut http_port, mut https_port) = (http_port, https_port);
    for ip in addrs {
        for tls_port in [false, true] {
            let port = if tls_port { https_port } else { http_port };
            let closed = *spec.behaviour_for(tls_port) == HttpBehaviour::PortClosed;
            if closed && port != 0 {
                continue;
            }
            let listener = bind(SocketAddr::new(*ip, port)).await?;
            let actual = listener.local_addr()?.port();
            if tls_port {
                https_port = actual;
            } else {
                http_port = actual;
            }
            if closed {
                // A port number for the lab, and nothing listening on it here.
                drop(listener);
                continue;
            }
            listeners.push((listener, tls_port));
        }
    }
    let mut tasks = Vec::new();
    for (listener, tls_port) in listeners {
        let behaviour = Arc::new(spec.behaviour_for(tls_port).clone());
        tasks.push(tokio::spawn(accept_loop(
            listener,
            tls_port,
            behaviour,
            Arc::clone(&tls),
            Arc::clone(&seen),
        )));
    }
    Ok(RunningResponder {
        name: spec.name.clone(),
        addrs: addrs.to_vec(),
        http_port,
        https_port,
        seen,
        tasks,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls_port: bool,
    behaviour: Arc<HttpBehaviour>,
    tls: Arc<ServerConfig>,
    seen: SeenLog,
) {
    // Connections live in this set, so aborting the loop drops them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    conns.spawn(handle_conn(
                        stream,
                        tls_port,
                        Arc::clone(&behaviour),
                        Arc::clone(&tls),
                        Arc::clone(&seen),
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle_conn(
    stream: TcpStream,
    tls_port: bool,
    behaviour: Arc<HttpBehaviour>,
    tls: Arc<ServerConfig>,
    seen: SeenLog,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (speak_tls, inner) = match behaviour.as_ref() {
        HttpBehaviour::PlainHttp(inner) => (false, inner.as_ref().clone()),
        HttpBehaviour::TlsHandshake(inner) => (true, inner.as_ref().clone()),
        other => (tls_port, other.clone()),
    };
    match inner {
        HttpBehaviour::Silent => return silent(stream).await,
        HttpBehaviour::CloseImmediately => {
            let _ = stream.set_zero_linger();
            return;
        }
        HttpBehaviour::Http2Settings => return h2_settings(stream).await,
        HttpBehaviour::Raw(bytes) if !speak_tls => return raw(stream, &bytes).await,
        _ => {}
    }
    let ctx = ConnCtx {
        local,
        tls: speak_tls,
        sni: None,
        seen,
    };
    if speak_tls {
        let tls = if inner == HttpBehaviour::TlsNoCertificate {
            match no_cert_config() {
                Ok(c) => c,
                Err(_) => return,
            }
        } else {
            tls
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let Ok(Ok(tls_stream)) =
            tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
        else {
            return;
        };
        let sni = tls_stream.get_ref().1.server_name().map(str::to_owned);
        serve(tls_stream, inner, ConnCtx { sni, ..ctx }).await;
    } else {
        if behaviour_is_plain_on_tls(&behaviour, tls_port) {
            let mut first = [0u8; 1];
            if let Ok(1) = stream.peek(&mut first).await
                && first[0] == 0x16
            {
                // A ClientHello on a plain-HTTP server: answer like nginx does.
                let mut s = stream;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 45\r\n\r\nThe plain HTTP request was sent to HTTPS port",
                    )
                    .await;
                let _ = s.shutdown().await;
                return;
            }
        }
        serve(stream, inner, ctx).await;
    }
}

fn behaviour_is_plain_on_tls(b: &HttpBehaviour, tls_port: bool) -> bool {
    tls_port && matches!(b, HttpBehaviour::PlainHttp(_))
}

async fn silent(mut stream: TcpStream) {
    let mut buf = vec![0u8; SILENT_READ_CHUNK];
    // Reads and discards until the peer goes away; never writes.
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn raw(mut stream: TcpStream, bytes: &[u8]) {
    // Wait for (some of) the request so the answer is not sent unprompted.
    let mut buf = vec![0u8; SILENT_READ_CHUNK];
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
}

async fn h2_settings(mut stream: TcpStream) {
    // RFC 9113 §4.1/§6.5: length 0, type SETTINGS (4), flags 0, stream 0.
    let _ = stream.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
    let mut buf = vec![0u8; SILENT_READ_CHUNK];
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
}

#[derive(Clone)]
struct ConnCtx {
    local: SocketAddr,
    tls: bool,
    sni: Option<String>,
    seen: SeenLog,
}

async fn serve<S>(io: S, behaviour: HttpBehaviour, ctx: ConnCtx)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let behaviour = Arc::new(behaviour);
    let service = service_fn(move |req: Request<Incoming>| {
        let behaviour = Arc::clone(&behaviour);
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(respond(&req, &behaviour, &ctx).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

type Body = BoxBody<Bytes, Infallible>;

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

const CHALLENGE_HTML: &str = "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body><div class=\"main-wrapper\"><h2>Checking your browser before accessing the site.</h2><noscript>Enable JavaScript and cookies to continue</noscript></div><script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f00\"></script><script>window._cf_chl_opt={cType:'managed'};</script></body></html>";

const BLOCK_HTML: &str = "<!DOCTYPE html><html><head><title>Access denied | lab used Cloudflare to restrict access</title></head><body><div id=\"cf-error-details\"><h1>Error 1020</h1><h2>Access denied</h2><p>The site owner may have set restrictions that prevent you from accessing the site.</p></div></body></html>";

const UNDER_ATTACK_HTML: &str = "<!DOCTYPE HTML><html lang=\"en-US\"><head><title>Just a moment...</title><noscript><meta http-equiv=\"refresh\" content=\"0\"></noscript></head><body><table><tr><td><div class=\"cf-browser-verification cf-im-under-attack\"><noscript><h1>Please turn JavaScript on and reload the page.</h1></noscript><h1><span>Checking your browser before accessing</span> lab.</h1><p>This process is automatic. Your browser will redirect to your requested content shortly.</p><p>Please allow up to 5 seconds&hellip;</p></div></td></tr></table><div>DDoS protection by Cloudflare</div></body></html>";

const FIREWALL_HTML: &str = "<html><head><title>Application Blocked</title></head><body><h1>Application Blocked</h1><p>Access to the application you were trying to use has been blocked in accordance with company policy.</p><p><b>Application:</b> acme-protocol</p></body></html>";

const TESTCOOKIE_HTML: &str = "<html><body><script type=\"text/javascript\" src=\"/aes.js\" ></script><script>function toHex(){}var a=toNumbers(\"00\");document.cookie=\"TCK=\"+toHex(a);location.href=location.href;</script></body></html>";

fn respond<'a>(
    req: &'a Request<Incoming>,
    behaviour: &'a HttpBehaviour,
    ctx: &'a ConnCtx,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send + 'a>> {
    Box::pin(async move {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        ctx.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(SeenRequest {
                local: ctx.local,
                tls: ctx.tls,
                sni: ctx.sni.clone(),
                host: Some(host.clone()),
                path: path.clone(),
                user_agent: req
                    .headers()
                    .get(USER_AGENT)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned),
            });
        let scheme = if ctx.tls { "https" } else { "http" };
        match behaviour {
            HttpBehaviour::ServeToken { token, body } => {
                if path == format!("/.well-known/acme-challenge/{token}") {
                    reply(200, &[("content-type", "text/plain")], body.clone())
                } else {
                    reply(404, &[], "404 page not found\n")
                }
            }
            HttpBehaviour::Redirect { status, location } => {
                let loc = location.replace("{host}", &host).replace("{path}", &path);
                reply(*status, &[("location", &loc)], "")
            }
            HttpBehaviour::RedirectLoop => {
                let loc = format!("{scheme}://{host}{path}");
                reply(302, &[("location", &loc)], "")
            }
            HttpBehaviour::RedirectToHttps => {
                let bare = strip_port(&host);
                let loc = format!("https://{bare}{path}");
                reply(301, &[("location", &loc)], "")
            }
            HttpBehaviour::RedirectChain { count, body } => {
                let (base, n) = split_hop(&path);
                if n < *count {
                    let loc = format!("{scheme}://{host}{base}/hop-{}", n + 1);
                    reply(302, &[("location", &loc)], "")
                } else {
                    reply(200, &[("content-type", "text/plain")], body.clone())
                }
            }
            HttpBehaviour::ChallengePage => reply(
                403,
                &[
                    ("server", "cloudflare"),
                    ("cf-mitigated", "challenge"),
                    ("content-type", "text/html; charset=UTF-8"),
                ],
                CHALLENGE_HTML,
            ),
            HttpBehaviour::BlockPage => reply(
                403,
                &[("server", "cloudflare"), ("content-type", "text/html")],
                BLOCK_HTML,
            ),
            HttpBehaviour::Dynamic => {
                let n = DYNAMIC_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                reply(
                    200,
                    &[("content-type", "text/html")],
                    format!("<html><body>request {n}</body></html>"),
                )
            }
            HttpBehaviour::UnderAttack => reply(
                503,
                &[
                    ("server", "cloudflare"),
                    ("content-type", "text/html; charset=UTF-8"),
                ],
                UNDER_ATTACK_HTML,
            ),
            HttpBehaviour::Routes { routes, otherwise } => {
                let chosen = routes
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix.as_str()))
                    .map_or(otherwise.as_ref(), |(_, b)| b);
                respond(req, chosen, ctx).await
            }
            HttpBehaviour::FirewallBlock => {
                reply(503, &[("content-type", "text/html")], FIREWALL_HTML)
            }
            HttpBehaviour::TestCookie => {
                reply(200, &[("content-type", "text/html")], TESTCOOKIE_HTML)
            }
            HttpBehaviour::Status(s) => reply(*s, &[], ""),
            HttpBehaviour::Slow { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
                reply(200, &[], "slow")
            }
            HttpBehaviour::HugeBody => {
                let chunk = Bytes::from(vec![b'A'; HUGE_BODY_CHUNK]);
                let stream = futures::stream::repeat_with(move || {
                    Ok::<_, Infallible>(Frame::data(chunk.clone()))
                });
                let mut resp = Response::new(StreamBody::new(stream).boxed());
                resp.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain"),
                );
                resp
            }
            HttpBehaviour::Fixed {
                status,
                headers,
                body,
            } => {
                let hs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                reply(*status, &hs, body.clone())
            }
            HttpBehaviour::Delayed { delay_ms, then } => {
                tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
                respond(req, then, ctx).await
            }
            HttpBehaviour::PlainHttp(inner) | HttpBehaviour::TlsHandshake(inner) => {
                respond(req, inner, ctx).await
            }
            HttpBehaviour::NotFound
            | HttpBehaviour::Silent
            | HttpBehaviour::CloseImmediately
            | HttpBehaviour::Http2Settings
            | HttpBehaviour::TlsNoCertificate
            | HttpBehaviour::PortClosed
            | HttpBehaviour::Raw(_) => reply(404, &[], "404 page not found\n"),
        }
    })
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// Splits `P/hop-N` into (`P`, N); a path without the suffix is hop 0.
fn split_hop(path: &str) -> (&str, u32) {
    if let Some((base, n)) = path.rsplit_once("/hop-")
        && let Ok(n) = n.parse::<u32>()
    {
        return (base, n);
    }
    (path, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_paths() {
        assert_eq!(split_hop("/a/b"), ("/a/b", 0));
        assert_eq!(split_hop("/a/b/hop-7"), ("/a/b", 7));
        assert_eq!(strip_port("example.lab:8080"), "example.lab");
        assert_eq!(strip_port("[fd5c:dc5::1]:80"), "[fd5c:dc5::1]");
        assert_eq!(strip_port("[fd5c:dc5::1]"), "[fd5c:dc5::1]");
    }
}

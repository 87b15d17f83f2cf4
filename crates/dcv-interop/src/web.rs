//! The web hosts (HTTP-01 targets on port 80, and 443 where a redirect leads)
//! and the name server that never answers. Plain tokio sockets: one request per
//! connection, which is what a CA's validator sends.
//!
//! Tokens are published at run time ([`Tokens::publish`]) because Pebble makes
//! them up when the order is created.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;

use crate::net;
use crate::zones::{HOSTS, Web};

/// Token -> key authorisation, shared by every `Web::Token` server; and
/// optionally a web root whose `.well-known/acme-challenge/<token>` files are
/// served too (what `dcv-doctor check --webroot` writes).
#[derive(Debug, Clone, Default)]
pub struct Tokens(
    Arc<Mutex<HashMap<String, String>>>,
    Arc<Mutex<Option<PathBuf>>>,
);

impl Tokens {
    /// Serves `body` at `/.well-known/acme-challenge/<token>` on every token server.
    pub fn publish(&self, token: &str, body: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), body.to_owned());
    }

    /// Also serves the files under `dir/.well-known/acme-challenge/`.
    pub fn serve_webroot(&self, dir: &Path) {
        *self.1.lock().unwrap_or_else(PoisonError::into_inner) = Some(dir.to_owned());
    }

    fn get(&self, token: &str) -> Option<String> {
        if let Some(body) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .cloned()
        {
            return Some(body);
        }
        // RFC 8555 §8.1: a token is base64url; anything else is not a file name.
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let root = self
            .1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        std::fs::read_to_string(root.join(".well-known/acme-challenge").join(token)).ok()
    }
}

/// Running web hosts and sink; everything stops when dropped.
#[derive(Debug)]
pub struct WebHosts {
    pub tokens: Tokens,
    tasks: JoinSet<()>,
    /// Every socket held, for the teardown check.
    pub sockets: Vec<(bool, SocketAddr)>,
}

impl Drop for WebHosts {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

fn response(status: u16, reason: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn answer(behaviour: Web, tokens: &Tokens, host: &str, path: &str) -> Vec<u8> {
    match behaviour {
        Web::Redirect303 if !path.contains('?') => response(
            303,
            "See Other",
            &format!("Location: http://{host}{path}?via=303\r\n"),
            "",
        ),
        Web::RedirectPort8080 => response(
            302,
            "Found",
            &format!("Location: http://{host}:8080{path}\r\n"),
            "",
        ),
        Web::Token | Web::Redirect303 => path
            .split('?')
            .next()
            .unwrap_or_default()
            .strip_prefix(CHALLENGE_PREFIX)
            .and_then(|t| tokens.get(t))
            .map_or_else(
                || response(404, "Not Found", "", "not found\n"),
                |body| response(200, "OK", "", &body),
            ),
        Web::NotFound | Web::Closed => response(404, "Not Found", "", "not found\n"),
        Web::WrongBody => response(200, "OK", "", "this is not the key authorization\n"),
        Web::Forbidden => response(403, "Forbidden", "", "forbidden by a firewall rule\n"),
        Web::RedirectHttps => response(
            301,
            "Moved Permanently",
            &format!("Location: https://{host}{path}\r\n"),
            "",
        ),
        Web::RedirectLoop => response(
            302,
            "Found",
            &format!("Location: http://{host}{path}\r\n"),
            "",
        ),
    }
}

async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, behaviour: Web, tokens: Tokens) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_owned();
    let host = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("host").then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    // Like nginx's `$host`: the name without the port. Go's client (Pebble)
    // sends `Host: name:80`; a redirect must not carry `:80` to https.
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name.to_owned()
        }
        _ => host,
    };
    let _ = s.write_all(&answer(behaviour, &tokens, &host, &path)).await;
    let _ = s.shutdown().await;
}

fn tls_acceptor() -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let key = rcgen::generate_simple_self_signed(vec!["interop.invalid".to_owned()])?;
    let cert = key.cert.der().clone();
    let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert], pkcs8.into())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl WebHosts {
    /// Binds every web host of [`HOSTS`] and the sink. Must run inside a tokio runtime.
    pub async fn start() -> anyhow::Result<WebHosts> {
        let tokens = Tokens::default();
        let mut tasks = JoinSet::new();
        let mut sockets = Vec::new();
        let acceptor = tls_acceptor()?;
        for h in HOSTS {
            let mut binds: Vec<(SocketAddr, Web, bool)> = Vec::new();
            for (ip, behaviour) in [
                (IpAddr::V4(net::web4(h.n)), h.v4),
                (IpAddr::V6(net::web6(h.n)), h.v6),
            ] {
                let Some(behaviour) = behaviour else { continue };
                if behaviour != Web::Closed {
                    binds.push((SocketAddr::new(ip, 80), behaviour, false));
                }
                if let Some(tls) = h.https {
                    binds.push((SocketAddr::new(ip, 443), tls, true));
                }
                if h.port_8080 {
                    binds.push((SocketAddr::new(ip, 8080), Web::Token, false));
                }
            }
            for (addr, behaviour, tls) in binds {
                assert!(net::in_world(addr.ip()));
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding web host {} on {addr}", h.name))?;
                sockets.push((true, addr));
                let tokens = tokens.clone();
                let acceptor = acceptor.clone();
                tasks.spawn(async move {
                    let mut conns = JoinSet::new();
                    while let Ok((stream, _)) = listener.accept().await {
                        let tokens = tokens.clone();
                        if tls {
                            let acceptor = acceptor.clone();
                            conns.spawn(async move {
                                if let Ok(s) = acceptor.accept(stream).await {
                                    serve_conn(s, behaviour, tokens).await;
                                }
                            });
                        } else {
                            conns.spawn(serve_conn(stream, behaviour, tokens));
                        }
                        while conns.try_join_next().is_some() {}
                    }
                });
            }
        }
        // The name server that never answers: a UDP socket that reads and drops
        // every query. TCP stays closed (a refused connection), like a server
        // behind a firewall that drops UDP/53: resolvers give up on it by time.
        let sink = SocketAddr::new(IpAddr::V4(net::SINK), 53);
        let udp = UdpSocket::bind(sink)
            .await
            .context("binding the sink (udp)")?;
        sockets.push((false, sink));
        tasks.spawn(async move {
            let mut buf = [0u8; 4096];
            while udp.recv_from(&mut buf).await.is_ok() {}
        });
        Ok(WebHosts {
            tokens,
            tasks,
            sockets,
        })
    }
}

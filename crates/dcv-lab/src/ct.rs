//! A Certificate Transparency search on loopback that answers like crt.sh
//! (`GET /?q=<name>&output=json`), serving rows read back from real
//! certificates: the lab's test CAs (named like Let's Encrypt's or another
//! CA's intermediates) sign a precertificate (with the RFC 6962 poison
//! extension) and a final certificate per issuance, and each row's issuer,
//! names, serial and validity are parsed from that DER, as crt.sh does.
//!
//! `q=D` matches certificates with the identity `D`; `q=%.D` those with an
//! identity under `D` (crt.sh's `%` wildcard). Fault knobs: [`CtMode`].

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, SerialNumber,
};
use serde_json::json;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// RFC 6962 §3.1: the precertificate poison extension (critical, NULL).
const CT_POISON_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3];

/// Boulder backdates `notBefore` by an hour; the fixtures do the same so the
/// rows look like Let's Encrypt's.
const BACKDATE: time::Duration = time::Duration::hours(1);

/// The final certificate is logged a few seconds after its precertificate.
const FINAL_CERT_DELAY: time::Duration = time::Duration::seconds(3);

/// A test CA whose subject reads like a real issuer's (`C=US, O=Let's
/// Encrypt, CN=YR1`): its key is the lab's, its name is what CT matching
/// looks at.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// `C=.., O=.., CN=..` as crt.sh prints it.
    pub subject: String,
    /// crt.sh's id for the real CA of that name (rows carry it).
    pub crtsh_ca_id: u64,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A CA named `C=<country>, O=<organization>, CN=<common_name>`.
    pub fn new(
        country: &str,
        organization: &str,
        common_name: &str,
        crtsh_ca_id: u64,
    ) -> Result<TestCa, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // In crt.sh's order (C, O, CN), without rcgen's default CN first.
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CountryName, country);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            subject: format!("C={country}, O={organization}, CN={common_name}"),
            crtsh_ca_id,
        })
    }

    /// Named like one of Let's Encrypt's intermediates (`YR1`, `R11`, ...).
    pub fn lets_encrypt(common_name: &str, crtsh_ca_id: u64) -> Result<TestCa, rcgen::Error> {
        TestCa::new("US", "Let's Encrypt", common_name, crtsh_ca_id)
    }
}

/// One issuance as the log holds it: the DER of its precertificate and
/// certificate, and when each was logged.
#[derive(Debug, Clone)]
pub struct LoggedCert {
    pub der: Vec<u8>,
    pub logged_at: OffsetDateTime,
    pub crtsh_ca_id: u64,
    pub id: u64,
}

/// What the search does when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CtMode {
    /// Answer from the log.
    #[default]
    Serve,
    /// `503 Service Unavailable` with crt.sh's HTML (what it says when busy).
    Unavailable,
    /// `200` with an HTML page instead of JSON.
    NotJson,
    /// Accept the connection and never answer.
    Silent,
}

#[derive(Debug, Default)]
struct State {
    certs: Vec<LoggedCert>,
    mode: CtMode,
    queries: Vec<String>,
    next_id: u64,
    next_serial: u64,
}

/// The log's contents, shared with the running server.
#[derive(Debug, Clone, Default)]
pub struct CtLog(Arc<Mutex<State>>);

impl CtLog {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues and logs a precertificate and its certificate for `names`
    /// from `ca`, issued at `issued_at`. Returns the serial (hex).
    pub fn issue(
        &self,
        ca: &TestCa,
        names: &[&str],
        issued_at: OffsetDateTime,
    ) -> Result<String, rcgen::Error> {
        let serial = {
            let mut s = self.state();
            s.next_serial += 1;
            // 18 bytes like Boulder's, unique per log.
            let mut bytes = vec![0x04];
            bytes.extend_from_slice(&[0xd5; 9]);
            bytes.extend_from_slice(&s.next_serial.to_be_bytes());
            bytes
        };
        let leaf_key = KeyPair::generate()?;
        let der_for = |precert: bool| -> Result<Vec<u8>, rcgen::Error> {
            let mut params =
                CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
            params.distinguished_name = DistinguishedName::new();
            if let Some(first) = names.first() {
                params.distinguished_name.push(DnType::CommonName, *first);
            }
            params.serial_number = Some(SerialNumber::from_slice(&serial));
            params.not_before = issued_at - BACKDATE;
            params.not_after = issued_at - BACKDATE + time::Duration::days(90);
            if precert {
                let mut poison = CustomExtension::from_oid_content(CT_POISON_OID, vec![0x05, 0x00]);
                poison.set_criticality(true);
                params.custom_extensions.push(poison);
            }
            Ok(params.signed_by(&leaf_key, &ca.issuer)?.der().to_vec())
        };
        let precert = der_for(true)?;
        let cert = der_for(false)?;
        let mut s = self.state();
        for (der, logged_at) in [(precert, issued_at), (cert, issued_at + FINAL_CERT_DELAY)] {
            s.next_id += 1;
            let id = 9_000_000_000 + s.next_id;
            s.certs.push(LoggedCert {
                der,
                logged_at,
                crtsh_ca_id: ca.crtsh_ca_id,
                id,
            });
        }
        Ok(hex(&serial))
    }

    /// Switches how the search answers from now on.
    pub fn set_mode(&self, mode: CtMode) {
        self.state().mode = mode;
    }

    /// Every `q` asked so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.state().queries.clone()
    }

    /// The rows for `q`, as JSON values in crt.sh's shape, newest first.
    pub fn rows(&self, q: &str) -> Vec<serde_json::Value> {
        let q = q.trim().to_ascii_lowercase();
        let s = self.state();
        let mut rows: Vec<(OffsetDateTime, serde_json::Value)> = s
            .certs
            .iter()
            .filter_map(|c| row(c).ok())
            .filter(|(names, _, _)| {
                names.iter().any(|n| {
                    let n = n.to_ascii_lowercase();
                    match q.strip_prefix("%.") {
                        Some(suffix) => n.ends_with(&format!(".{suffix}")),
                        None => n == q,
                    }
                })
            })
            .map(|(_, t, v)| (t, v))
            .collect();
        rows.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        rows.into_iter().map(|(_, v)| v).collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn format_crtsh_time(t: OffsetDateTime, millis: bool) -> String {
    let base = t
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    if millis {
        format!("{base}.{:03}", t.millisecond())
    } else {
        base
    }
}

/// Reads one logged certificate back into a crt.sh row: its identities, when
/// it was logged, and the JSON.
fn row(c: &LoggedCert) -> Result<(Vec<String>, OffsetDateTime, serde_json::Value), String> {
    use x509_parser::prelude::*;
    let (_, cert) = parse_x509_certificate(&c.der).map_err(|e| e.to_string())?;
    let mut names: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for g in &san.value.general_names {
            match g {
                // As written in the certificate: the search matches without
                // regard to case, the names keep theirs.
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let time =
        |t: ASN1Time| OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| e.to_string());
    let value = json!({
        "issuer_ca_id": c.crtsh_ca_id,
        "issuer_name": cert.issuer().to_string(),
        "common_name": common_name,
        "name_value": names.join("\n"),
        "id": c.id,
        "entry_timestamp": format_crtsh_time(c.logged_at, true),
        "not_before": format_crtsh_time(time(cert.validity().not_before)?, false),
        "not_after": format_crtsh_time(time(cert.validity().not_after)?, false),
        "serial_number": hex(cert.raw_serial()),
        "result_count": names.len(),
    });
    Ok((names, c.logged_at, value))
}

/// A running search.
#[derive(Debug)]
pub struct CtServer {
    addr: SocketAddr,
    pub log: CtLog,
    _task: JoinSet<()>,
}

impl CtServer {
    /// Serves `log` on `ip` (a loopback address), on an ephemeral port.
    pub async fn start(ip: IpAddr, log: CtLog) -> std::io::Result<CtServer> {
        assert!(
            ip.is_loopback(),
            "the CT fixture only listens on loopback, not {ip}"
        );
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let mut task = JoinSet::new();
        let served = log.clone();
        task.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let log = served.clone();
                        conns.spawn(async move {
                            let svc = service_fn(move |req| {
                                let log = log.clone();
                                async move {
                                    if log.state().mode == CtMode::Silent {
                                        // Keep the request open, say nothing.
                                        std::future::pending::<()>().await;
                                    }
                                    Ok::<_, Infallible>(answer(&log, &req))
                                }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(CtServer {
            addr,
            log,
            _task: task,
        })
    }

    /// The base URL to give `--ct-url`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn answer(log: &CtLog, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let q = get("q").unwrap_or_default();
    let mode = {
        let mut s = log.state();
        s.queries.push(q.clone());
        s.mode
    };
    let html = |status: StatusCode, text: &str| {
        Response::builder()
            .status(status)
            .header("content-type", "text/html")
            .body(Full::new(Bytes::from(format!(
                "<html><body>{text}</body></html>"
            ))))
            .unwrap_or_default()
    };
    match mode {
        CtMode::Unavailable => {
            return html(
                StatusCode::SERVICE_UNAVAILABLE,
                "crt.sh | 503 Service Unavailable",
            );
        }
        CtMode::NotJson => return html(StatusCode::OK, "crt.sh | Certificate Search"),
        CtMode::Serve | CtMode::Silent => {}
    }
    if get("output").as_deref() != Some("json") || q.is_empty() {
        return html(StatusCode::OK, "crt.sh | Certificate Search");
    }
    let body = serde_json::to_vec(&log.rows(&q)).unwrap_or_default();
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

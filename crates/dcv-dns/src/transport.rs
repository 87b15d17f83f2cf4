//! One question to one server: UDP with EDNS(0), retries on timeout, TCP on TC
//! (RFC 7766 §5), random IDs and ports (RFC 5452 §9.2), and every attempt kept
//! as an [`Exchange`]. The engine's [`ServerPolicy`] is enforced here, before
//! any socket is opened, so no caller can send around it.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use hickory_proto::rr::Name;
use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout_at,
};

use crate::{
    config::ServerPolicy,
    evidence::{Exchange, ExchangeResult, NetErrorKind, Protocol, QueryPath},
    limits,
    types::{DnsName, RecordType},
    wire::{self, DecodeFailure, Decoded},
};

/// Datagrams read per attempt before giving up on a flood of unrelated or
/// spoofed packets (each is discarded per RFC 5452 §9.1).
const MAX_DATAGRAMS_PER_ATTEMPT: usize = 64;

/// Finished exchanges one engine's journal keeps: the slowest, which are the
/// ones a timed-out check's evidence lists (the report shows fewer). The rest
/// are only counted, so the journal costs a comparison per exchange on the
/// hot path, not a copy of every response.
pub const JOURNAL_SLOWEST_KEPT: usize = 16;

/// A query sent and not yet answered, timed out or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InFlight {
    pub server: SocketAddr,
    /// The name server's name, from the zone cut that lists `server` and
    /// encloses `qname` (when the engine knows it).
    pub server_name: Option<DnsName>,
    /// The zone that cut belongs to.
    pub zone: Option<DnsName>,
    pub protocol: Protocol,
    pub qname: DnsName,
    pub qtype: RecordType,
    /// 1 for the first attempt, then retries.
    pub attempt: u8,
    /// How long the query had been waiting when the journal was read.
    #[serde(serialize_with = "crate::evidence::millis")]
    pub waited: Duration,
}

/// Everything one engine asked, read at one moment: the exchanges that
/// finished and the queries still waiting. It outlives any lookup future, so
/// a caller that gives up on a lookup (a whole-check timeout) can still say
/// which server it was waiting for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Journal {
    /// Exchanges finished, in all (policy refusals included).
    pub completed: usize,
    /// The slowest exchanges that were sent and finished, slowest first (at
    /// most [`JOURNAL_SLOWEST_KEPT`]).
    pub slowest: Vec<Exchange>,
    /// Queries still waiting, longest-waiting first.
    pub in_flight: Vec<InFlight>,
}

/// The engine's shared record of attempts: a count (and, for a slow one, a
/// copy) per finished exchange and a push/remove per attempt, under one
/// uncontended lock.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    state: Mutex<RecorderState>,
}

#[derive(Debug, Default)]
struct RecorderState {
    next_id: u64,
    completed: usize,
    /// Unordered; sorted when read.
    slowest: Vec<Exchange>,
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    server: SocketAddr,
    protocol: Protocol,
    qname: DnsName,
    qtype: RecordType,
    attempt: u8,
    started: Instant,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a finished exchange (one that needed no socket: a refusal).
    fn finished(&self, exchange: &Exchange) {
        self.lock().push(exchange);
    }

    /// Marks one attempt as sent; the guard removes it when the attempt
    /// finishes ([`Attempt::done`]) or its future is dropped.
    fn start(
        &self,
        server: SocketAddr,
        protocol: Protocol,
        qname: &DnsName,
        qtype: RecordType,
        attempt: u8,
    ) -> Attempt<'_> {
        let mut st = self.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.pending.push(Pending {
            id,
            server,
            protocol,
            qname: qname.clone(),
            qtype,
            attempt,
            started: Instant::now(),
        });
        Attempt { recorder: self, id }
    }

    /// A copy of the journal now; `label` names the server of a query.
    pub(crate) fn read(
        &self,
        label: impl Fn(SocketAddr, &DnsName) -> Option<(DnsName, DnsName)>,
    ) -> Journal {
        let (completed, mut slowest, mut pending) = {
            let st = self.lock();
            let pending: Vec<(SocketAddr, Protocol, DnsName, RecordType, u8, Duration)> = st
                .pending
                .iter()
                .map(|p| {
                    (
                        p.server,
                        p.protocol,
                        p.qname.clone(),
                        p.qtype,
                        p.attempt,
                        p.started.elapsed(),
                    )
                })
                .collect();
            (st.completed, st.slowest.clone(), pending)
        };
        slowest.sort_by(|a, b| b.latency.cmp(&a.latency).then(a.server.cmp(&b.server)));
        pending.sort_by(|a, b| b.5.cmp(&a.5).then(a.0.cmp(&b.0)));
        let in_flight = pending
            .into_iter()
            .map(|(server, protocol, qname, qtype, attempt, waited)| {
                let (zone, server_name) = label(server, &qname).unzip();
                InFlight {
                    server,
                    server_name,
                    zone,
                    protocol,
                    qname,
                    qtype,
                    attempt,
                    waited,
                }
            })
            .collect();
        Journal {
            completed,
            slowest,
            in_flight,
        }
    }
}

impl RecorderState {
    fn push(&mut self, exchange: &Exchange) {
        self.completed += 1;
        if matches!(exchange.result, ExchangeResult::NotQueried { .. }) {
            return; // no packet, no latency
        }
        if self.slowest.len() < JOURNAL_SLOWEST_KEPT {
            self.slowest.push(exchange.clone());
        } else if let Some(fastest) = self
            .slowest
            .iter_mut()
            .min_by_key(|e| e.latency)
            .filter(|e| e.latency < exchange.latency)
        {
            *fastest = exchange.clone();
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(i) = self.pending.iter().position(|p| p.id == id) {
            self.pending.swap_remove(i);
        }
    }
}

/// One attempt in flight; dropping it (a cancelled lookup) forgets it.
struct Attempt<'a> {
    recorder: &'a Recorder,
    id: u64,
}

impl Attempt<'_> {
    fn done(self, exchange: &Exchange) {
        let mut st = self.recorder.lock();
        st.remove(self.id);
        st.push(exchange);
        drop(st);
        std::mem::forget(self);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.recorder.lock().remove(self.id);
    }
}

/// Parameters of one server query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryParams {
    pub timeout: Duration,
    pub retries: u8,
    /// Addresses that must never be contacted.
    pub policy: ServerPolicy,
}

/// The exchange recorded instead of a query when `policy` refuses `server`:
/// no socket is opened, so it costs no packet, no timeout and no budget.
fn refused(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    protocol: Protocol,
    policy: ServerPolicy,
) -> Option<Exchange> {
    let range = policy.refusal(server.ip())?;
    Some(Exchange {
        server,
        protocol,
        qname: DnsName::from_hickory(qname),
        qtype,
        attempt: 1,
        latency: Duration::ZERO,
        result: ExchangeResult::NotQueried { policy, range },
    })
}

/// Outcome of asking one server one question, all attempts included.
#[derive(Debug, Clone)]
pub(crate) struct ServerReply {
    pub server: SocketAddr,
    pub exchanges: Vec<Exchange>,
    /// The final decoded response, if any attempt produced one.
    pub decoded: Option<Decoded>,
}

impl ServerReply {
    /// The last exchange (the one that decided the outcome).
    pub fn last(&self) -> Option<&Exchange> {
        self.exchanges.last()
    }
}

/// Asks `server` for `qname`/`qtype`. `take_budget` is called before each
/// packet is sent and returns false once the engine's query budget is spent.
pub(crate) async fn query(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    params: QueryParams,
    take_budget: &(dyn Fn() -> bool + Sync),
    journal: &Recorder,
) -> ServerReply {
    if let Some(refusal) = refused(server, qname, qtype, Protocol::Udp, params.policy) {
        journal.finished(&refusal);
        return ServerReply {
            server,
            exchanges: vec![refusal],
            decoded: None,
        };
    }
    let mut exchanges = Vec::new();
    let dns_name = DnsName::from_hickory(qname);
    for attempt in 1..=params.retries.saturating_add(1) {
        if !take_budget() {
            break;
        }
        let id: u16 = rand::random();
        let sent = journal.start(server, Protocol::Udp, &dns_name, qtype, attempt);
        let started = Instant::now();
        let result = udp_attempt(server, id, qname, qtype, params.timeout, true).await;
        let latency = started.elapsed();
        let (result, decoded) = match result {
            Ok(d) => (ExchangeResult::Response(d.evidence.clone()), Some(d)),
            Err(r) => (r, None),
        };
        let retry = matches!(
            result,
            ExchangeResult::Timeout | ExchangeResult::NetworkError { .. }
        );
        let exchange = Exchange {
            server,
            protocol: Protocol::Udp,
            qname: dns_name.clone(),
            qtype,
            attempt,
            latency,
            result,
        };
        sent.done(&exchange);
        exchanges.push(exchange);
        if let Some(d) = decoded {
            if d.evidence.flags.tc {
                // RFC 7766 §5: a truncated UDP answer is retried over TCP.
                if !take_budget() {
                    return ServerReply {
                        server,
                        exchanges,
                        decoded: Some(d),
                    };
                }
                let id: u16 = rand::random();
                let sent = journal.start(server, Protocol::Tcp, &dns_name, qtype, attempt);
                let started = Instant::now();
                let tcp = tcp_attempt(server, id, qname, qtype, params.timeout, true).await;
                let latency = started.elapsed();
                let (result, decoded) = match tcp {
                    Ok(t) => (ExchangeResult::Response(t.evidence.clone()), Some(t)),
                    // Keep the truncated answer as the best we have.
                    Err(r) => (r, Some(d)),
                };
                let exchange = Exchange {
                    server,
                    protocol: Protocol::Tcp,
                    qname: dns_name.clone(),
                    qtype,
                    attempt,
                    latency,
                    result,
                };
                sent.done(&exchange);
                exchanges.push(exchange);
                return ServerReply {
                    server,
                    exchanges,
                    decoded,
                };
            }
            return ServerReply {
                server,
                exchanges,
                decoded: Some(d),
            };
        }
        if !retry {
            break;
        }
    }
    ServerReply {
        server,
        exchanges,
        decoded: None,
    }
}

/// Asks `server` one question over exactly one path: UDP or TCP, with or
/// without EDNS(0). Unlike [`query`], a truncated UDP answer is returned as is
/// (the caller asks over TCP separately); UDP attempts are retried on timeout
/// like [`query`]. `None` when the budget allowed no packet at all; a
/// [`ExchangeResult::NotQueried`] exchange when the policy refuses `server`.
pub(crate) async fn query_path(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    path: QueryPath,
    params: QueryParams,
    take_budget: &(dyn Fn() -> bool + Sync),
    journal: &Recorder,
) -> Option<Exchange> {
    let protocol = if path.tcp {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    if let Some(refusal) = refused(server, qname, qtype, protocol, params.policy) {
        journal.finished(&refusal);
        return Some(refusal);
    }
    let dns_name = DnsName::from_hickory(qname);
    let attempts = if path.tcp {
        1
    } else {
        params.retries.saturating_add(1)
    };
    let mut last = None;
    for attempt in 1..=attempts {
        if !take_budget() {
            break;
        }
        let id: u16 = rand::random();
        let sent = journal.start(server, protocol, &dns_name, qtype, attempt);
        let started = Instant::now();
        let result = if path.tcp {
            tcp_attempt(server, id, qname, qtype, params.timeout, path.edns).await
        } else {
            udp_attempt(server, id, qname, qtype, params.timeout, path.edns).await
        };
        let result = match result {
            Ok(d) => ExchangeResult::Response(d.evidence),
            Err(r) => r,
        };
        let retry = matches!(
            result,
            ExchangeResult::Timeout | ExchangeResult::NetworkError { .. }
        );
        let exchange = Exchange {
            server,
            protocol,
            qname: dns_name.clone(),
            qtype,
            attempt,
            latency: started.elapsed(),
            result,
        };
        sent.done(&exchange);
        last = Some(exchange);
        if !retry {
            break;
        }
    }
    last
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    let ip = match server.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

fn failure(f: DecodeFailure, bytes: &[u8]) -> ExchangeResult {
    match f {
        DecodeFailure::Unparseable(error) => ExchangeResult::Unparseable {
            error,
            prefix: bytes.iter().copied().take(64).collect(),
            size: bytes.len(),
        },
        DecodeFailure::Mismatched(detail) => ExchangeResult::Mismatched { detail },
    }
}

fn net_err(e: &std::io::Error) -> ExchangeResult {
    ExchangeResult::NetworkError {
        cause: NetErrorKind::from_io(e),
        error: e.to_string(),
    }
}

async fn udp_attempt(
    server: SocketAddr,
    id: u16,
    qname: &Name,
    qtype: RecordType,
    timeout: Duration,
    edns: bool,
) -> Result<Decoded, ExchangeResult> {
    let deadline = tokio::time::Instant::now() + timeout;
    let query = wire::encode_query_with(id, qname, qtype, edns).map_err(|error| {
        ExchangeResult::NetworkError {
            cause: NetErrorKind::LocalFailure,
            error,
        }
    })?;
    // Port 0: the kernel picks a random ephemeral source port per query.
    let socket = UdpSocket::bind(unspecified(server))
        .await
        .map_err(|e| net_err(&e))?;
    socket.connect(server).await.map_err(|e| net_err(&e))?;
    match timeout_at(deadline, socket.send(&query)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(net_err(&e)),
        Err(_) => return Err(ExchangeResult::Timeout),
    }
    let mut buf = vec![0u8; limits::MAX_UDP_RESPONSE];
    let mut mismatch = None;
    for _ in 0..MAX_DATAGRAMS_PER_ATTEMPT {
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(net_err(&e)),
            Err(_) => break,
        };
        let bytes = &buf[..n];
        if wire::peek_id(bytes) != Some(id) {
            // Not ours (RFC 5452 §9.1): keep waiting for the real answer.
            mismatch = Some(ExchangeResult::Mismatched {
                detail: format!("datagram of {n} bytes with another message id"),
            });
            continue;
        }
        match wire::decode_response(bytes, id, qname, qtype) {
            Ok(d) => return Ok(d),
            Err(DecodeFailure::Mismatched(detail)) => {
                mismatch = Some(ExchangeResult::Mismatched { detail });
            }
            Err(f) => return Err(failure(f, bytes)),
        }
    }
    Err(mismatch.unwrap_or(ExchangeResult::Timeout))
}

async fn tcp_attempt(
    server: SocketAddr,
    id: u16,
    qname: &Name,
    qtype: RecordType,
    timeout: Duration,
    edns: bool,
) -> Result<Decoded, ExchangeResult> {
    let deadline = tokio::time::Instant::now() + timeout;
    let query = wire::encode_query_with(id, qname, qtype, edns).map_err(|error| {
        ExchangeResult::NetworkError {
            cause: NetErrorKind::LocalFailure,
            error,
        }
    })?;
    let io = async {
        let mut stream = TcpStream::connect(server).await?;
        let len = u16::try_from(query.len()).map_err(std::io::Error::other)?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&query);
        stream.write_all(&framed).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let len = usize::from(u16::from_be_bytes(len)).min(limits::MAX_TCP_RESPONSE);
        let mut buf = vec![0u8; len];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let bytes = match timeout_at(deadline, io).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(net_err(&e)),
        Err(_) => return Err(ExchangeResult::Timeout),
    };
    wire::decode_response(&bytes, id, qname, qtype).map_err(|f| failure(f, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(latency_ms: u64) -> Exchange {
        Exchange {
            server: "192.0.2.53:53".parse().unwrap(),
            protocol: Protocol::Udp,
            qname: DnsName::parse("example.com").unwrap(),
            qtype: RecordType::A,
            attempt: 1,
            latency: Duration::from_millis(latency_ms),
            result: ExchangeResult::Timeout,
        }
    }

    /// Every exchange is counted; only the slowest are copied, and a refusal
    /// (no packet) never is.
    #[test]
    fn the_journal_keeps_the_slowest_exchanges_and_counts_the_rest() {
        let recorder = Recorder::default();
        let n = u64::try_from(JOURNAL_SLOWEST_KEPT).unwrap() * 3;
        for ms in (0..n).rev().chain(0..n) {
            recorder.finished(&exchange(ms));
        }
        let mut refusal = exchange(10_000);
        refusal.result = ExchangeResult::NotQueried {
            policy: ServerPolicy::PublicOnly,
            range: dcv_ip_policy::classify("192.0.2.53".parse().unwrap()).unwrap(),
        };
        recorder.finished(&refusal);
        let journal = recorder.read(|_, _| None);
        assert_eq!(journal.completed, usize::try_from(2 * n).unwrap() + 1);
        let kept: Vec<u128> = journal
            .slowest
            .iter()
            .map(|e| e.latency.as_millis())
            .collect();
        let top = u128::from(n - 1);
        let expected: Vec<u128> = (0..JOURNAL_SLOWEST_KEPT as u128)
            .map(|i| top - i / 2)
            .collect();
        assert_eq!(kept, expected);
    }
}

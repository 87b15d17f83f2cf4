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
    evidence::{Exchange, ExchangeResult, Protocol, QueryPath},
    limits,
    types::{DnsName, RecordType},
    wire::{self, DecodeFailure, Decoded},
};

/// Datagrams read per attempt before giving up on a flood of unrelated or
/// spoofed packets (each is discarded per RFC 5452 §9.1).
const MAX_DATAGRAMS_PER_ATTEMPT: usize = 64;

/// Completed exchanges one engine's journal keeps; later ones are counted in
/// [`Journal::dropped`]. Every sent packet costs one unit of the engine's
/// query budget, so with the default budget
/// ([`crate::limits::DEFAULT_MAX_QUERIES`], 2000) every packet fits; the
/// bound only stops a larger configured budget (or policy refusals, which
/// cost no budget) from growing the journal without limit.
pub const MAX_JOURNAL_EXCHANGES: usize = 2000;

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
    /// Finished exchanges in completion order (at most
    /// [`MAX_JOURNAL_EXCHANGES`]).
    pub completed: Vec<Exchange>,
    /// Finished exchanges not kept because the journal was full.
    pub dropped: usize,
    /// Queries still waiting, longest-waiting first.
    pub in_flight: Vec<InFlight>,
}

/// The engine's shared record of attempts: a push per finished exchange and a
/// push/remove per attempt, under one uncontended lock.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    state: Mutex<RecorderState>,
}

#[derive(Debug, Default)]
struct RecorderState {
    next_id: u64,
    completed: Vec<Exchange>,
    dropped: usize,
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
        let (completed, dropped, mut pending) = {
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
            (st.completed.clone(), st.dropped, pending)
        };
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
            dropped,
            in_flight,
        }
    }
}

impl RecorderState {
    fn push(&mut self, exchange: &Exchange) {
        if self.completed.len() < MAX_JOURNAL_EXCHANGES {
            self.completed.push(exchange.clone());
        } else {
            self.dropped += 1;
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

impl RecorderState {
    fn remove(&mut self, id: u64) {
        if let Some(i) = self.pending.iter().position(|p| p.id == id) {
            self.pending.swap_remove(i);
        }
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
    let query = wire::encode_query_with(id, qname, qtype, edns)
        .map_err(|error| ExchangeResult::NetworkError { error })?;
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
    let query = wire::encode_query_with(id, qname, qtype, edns)
        .map_err(|error| ExchangeResult::NetworkError { error })?;
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

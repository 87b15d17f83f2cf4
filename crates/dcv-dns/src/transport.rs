//! One question to one server: UDP with EDNS(0), sent again each time the
//! server's retransmission timeout runs out while earlier tries keep
//! listening (a late answer is an answer), TCP on TC (RFC 7766 §5), random
//! IDs and ports (RFC 5452 §9.2), and the question kept as an [`Exchange`]
//! that says which try was answered, how many were sent and the round trip. The engine's [`ServerPolicy`] is enforced here, before
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

use futures::stream::{FuturesUnordered, StreamExt};

use crate::{
    config::ServerPolicy,
    evidence::{Exchange, ExchangeResult, NetErrorKind, Protocol, QueryPath, ResponseEvidence},
    infra::{Infra, QuestionEnd},
    limits,
    types::{DnsName, Rcode, RecordType},
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

    /// The newest try of a question still in flight (0 when none is).
    pub(crate) fn tries_in_flight(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
    ) -> u8 {
        self.lock()
            .pending
            .iter()
            .filter(|p| p.server == server && p.qtype == qtype && &p.qname == qname)
            .map(|p| p.attempt)
            .max()
            .unwrap_or(0)
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

/// Parameters of one server question.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryParams {
    /// How long the question waits in all, every try together.
    pub patience: Duration,
    /// UDP retransmissions after the first try.
    pub retries: u8,
    /// Addresses that must never be contacted.
    pub policy: ServerPolicy,
}

/// What the engine lends each question: the query budget (`take_budget` is
/// called before each packet and returns false once it is spent), the
/// journal of attempts and the per-address RTT state.
pub(crate) struct Io<'a> {
    pub take_budget: &'a (dyn Fn() -> bool + Sync),
    pub journal: &'a Recorder,
    pub infra: &'a Infra,
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
        tries: 0,
        latency: Duration::ZERO,
        waited: Duration::ZERO,
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

/// Asks `server` for `qname`/`qtype`: UDP with EDNS(0), retransmitted on the
/// server's RTO while earlier tries keep listening, then TCP when the answer
/// is truncated (RFC 7766 §5).
pub(crate) async fn query(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    params: QueryParams,
    io: &Io<'_>,
) -> ServerReply {
    if let Some(refusal) = refused(server, qname, qtype, Protocol::Udp, params.policy) {
        io.journal.finished(&refusal);
        return ServerReply {
            server,
            exchanges: vec![refusal],
            decoded: None,
        };
    }
    let Some((exchange, decoded)) = udp_question(server, qname, qtype, true, params, io).await
    else {
        return ServerReply {
            server,
            exchanges: Vec::new(),
            decoded: None,
        };
    };
    let mut exchanges = vec![exchange];
    let Some(mut d) = decoded else {
        return ServerReply {
            server,
            exchanges,
            decoded: None,
        };
    };
    let mut edns = true;
    if rejects_edns(&d.evidence) {
        // RFC 6891 §7: the responder does not implement EDNS; ask again
        // without it, as Unbound does. The refusal stays as evidence; when
        // the plain question gets no answer either, the refusal is the
        // answer.
        if let Some((exchange, plain)) = udp_question(server, qname, qtype, false, params, io).await
        {
            exchanges.push(exchange);
            if let Some(plain) = plain {
                d = plain;
                edns = false;
            }
        }
    }
    if !d.evidence.flags.tc || !(io.take_budget)() {
        return ServerReply {
            server,
            exchanges,
            decoded: Some(d),
        };
    }
    // RFC 7766 §5: a truncated UDP answer is asked again over TCP.
    let (exchange, tcp) = tcp_question(server, qname, qtype, edns, params, io).await;
    exchanges.push(exchange);
    ServerReply {
        server,
        exchanges,
        // Keep the truncated answer as the best we have.
        decoded: Some(tcp.unwrap_or(d)),
    }
}

/// A reply that says the server does not implement EDNS: FORMERR, or
/// NOTIMP, without an OPT record of its own (RFC 6891 §7; Unbound treats
/// both so, `iterator/iterator.c` EDNS fallback). A server that knows EDNS
/// and rejects something else in the query answers with an OPT record.
fn rejects_edns(reply: &ResponseEvidence) -> bool {
    matches!(reply.rcode, Rcode::FORMERR | Rcode::NOTIMP) && reply.edns_payload.is_none()
}

/// Asks `server` one question over exactly one path: UDP or TCP, with or
/// without EDNS(0). Unlike [`query`], a truncated UDP answer is returned as is
/// (the caller asks over TCP separately); UDP is retransmitted on the RTO like
/// [`query`]. `None` when the budget allowed no packet at all; a
/// [`ExchangeResult::NotQueried`] exchange when the policy refuses `server`.
pub(crate) async fn query_path(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    path: QueryPath,
    params: QueryParams,
    io: &Io<'_>,
) -> Option<Exchange> {
    let protocol = if path.tcp {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    if let Some(refusal) = refused(server, qname, qtype, protocol, params.policy) {
        io.journal.finished(&refusal);
        return Some(refusal);
    }
    if path.tcp {
        if !(io.take_budget)() {
            return None;
        }
        return Some(
            tcp_question(server, qname, qtype, path.edns, params, io)
                .await
                .0,
        );
    }
    udp_question(server, qname, qtype, path.edns, params, io)
        .await
        .map(|(exchange, _)| exchange)
}

/// What one try's socket heard: its answer, or why it stopped listening.
type Heard = (u8, Result<Decoded, ExchangeResult>, Instant);

/// One question to one server over UDP, sent again each time the server's
/// retransmission timeout runs out (up to `retries` times) while every
/// earlier try keeps listening, so a late answer to an earlier try is
/// taken. Each timeout backs the server's RTO off; the answer's round trip,
/// measured from the try it answers, updates it. Waits `patience` in all.
/// `None` when the budget allowed no packet at all.
async fn udp_question(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    edns: bool,
    params: QueryParams,
    io: &Io<'_>,
) -> Option<(Exchange, Option<Decoded>)> {
    let dns_name = DnsName::from_hickory(qname);
    let max_tries = usize::from(params.retries) + 1;
    let started = Instant::now();
    // A server that has answered nothing and already let a question run out
    // is asked again only briefly: its silence is known, and waiting the
    // whole patience again would only make the check slower.
    let patience = if io.infra.silent(server) {
        params
            .patience
            .min(io.infra.initial_rto().saturating_mul(SILENT_SERVER_RTOS))
    } else {
        params.patience
    };
    let give_up = tokio::time::Instant::from_std(started) + patience;
    let mismatch: Mutex<Option<String>> = Mutex::new(None);
    let mut listening = FuturesUnordered::new();
    let mut guards = Vec::new();
    let mut tries: Vec<Try> = Vec::new();
    let mut may_send = true;
    let mut send_now = true;
    let mut failure: Option<ExchangeResult> = None;
    let mut answer: Option<(u8, Decoded, Instant)> = None;
    loop {
        let now = tokio::time::Instant::now();
        if now >= give_up {
            break;
        }
        let can_send = may_send && tries.len() < max_tries;
        if send_now && can_send {
            send_now = false;
            if !(io.take_budget)() {
                if tries.is_empty() {
                    return None;
                }
                may_send = false;
                continue;
            }
            let attempt = u8::try_from(tries.len() + 1).unwrap_or(u8::MAX);
            let rto = io.infra.rto(server).min(give_up - now);
            guards.push(
                io.journal
                    .start(server, Protocol::Udp, &dns_name, qtype, attempt),
            );
            let id: u16 = rand::random();
            tries.push(Try {
                sent_at: Instant::now(),
                rto,
                over: false,
            });
            match udp_send(server, id, qname, qtype, edns, give_up).await {
                Ok(socket) => listening.push(udp_listen(
                    socket,
                    id,
                    qname.clone(),
                    qtype,
                    attempt,
                    &mismatch,
                )),
                Err(e) => {
                    end_try(&mut tries, attempt, &e, &mut may_send, &mut send_now);
                    failure = Some(e);
                }
            }
            continue;
        }
        if listening.is_empty() && !(send_now && can_send) {
            break;
        }
        // Wake when the newest try's RTO runs out (to send the next one and
        // back the server off) or when patience does.
        let wake = tries.last().filter(|t| !t.over).map_or(give_up, |t| {
            (tokio::time::Instant::from_std(t.sent_at) + t.rto).min(give_up)
        });
        tokio::select! {
            biased;
            heard = listening.next(), if !listening.is_empty() => {
                let Some((attempt, result, at)) = heard else { continue };
                match result {
                    Ok(d) => {
                        answer = Some((attempt, d, at));
                        break;
                    }
                    Err(r @ ExchangeResult::Unparseable { .. }) => {
                        failure = Some(r);
                        break;
                    }
                    Err(r) => {
                        end_try(&mut tries, attempt, &r, &mut may_send, &mut send_now);
                        failure = Some(r);
                    }
                }
            }
            () = tokio::time::sleep_until(wake) => {
                if let Some(t) = tries.last_mut().filter(|t| !t.over)
                    && tokio::time::Instant::now() < give_up
                {
                    t.over = true;
                    io.infra.lost(server, t.rto);
                    send_now = true;
                }
            }
        }
    }
    // Every try ended in an error before patience ran out: that error is
    // the result, not a timeout.
    let all_errored = listening.is_empty() && failure.is_some();
    drop(listening);
    let sent = u8::try_from(tries.len()).unwrap_or(u8::MAX);
    let waited = started.elapsed();
    let (exchange, decoded) = if let Some((attempt, d, at)) = answer {
        let t = tries[usize::from(attempt) - 1];
        let latency = at.saturating_duration_since(t.sent_at);
        io.infra.answered(server, latency);
        io.infra.finished(
            server,
            QuestionEnd {
                tries: sent,
                answered_try: Some(attempt),
                latency,
                late: latency > t.rto,
            },
        );
        let exchange = Exchange {
            server,
            protocol: Protocol::Udp,
            qname: dns_name,
            qtype,
            attempt,
            tries: sent,
            latency,
            waited: at.saturating_duration_since(started),
            result: ExchangeResult::Response(d.evidence.clone()),
        };
        (exchange, Some(d))
    } else {
        let mismatch = mismatch
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|detail| ExchangeResult::Mismatched { detail });
        let result = match failure {
            Some(r @ ExchangeResult::Unparseable { .. }) => r,
            Some(r) if all_errored && mismatch.is_none() => r,
            _ => mismatch.unwrap_or(ExchangeResult::Timeout),
        };
        io.infra.finished(
            server,
            QuestionEnd {
                tries: sent,
                answered_try: None,
                latency: waited,
                late: false,
            },
        );
        let exchange = Exchange {
            server,
            protocol: Protocol::Udp,
            qname: dns_name,
            qtype,
            attempt: sent.max(1),
            tries: sent,
            latency: waited,
            waited,
            result,
        };
        (exchange, None)
    };
    // One exchange for the question; the other tries leave the journal.
    let mut guards = guards.into_iter();
    if let Some(first) = guards.next() {
        first.done(&exchange);
    }
    Some((exchange, decoded))
}

/// How many initial RTOs a question to a silent server waits (two: the first
/// try and one retransmission at the initial RTO).
const SILENT_SERVER_RTOS: u32 = 2;

/// One UDP try: when it left and the RTO it waits before the next is sent.
#[derive(Clone, Copy, Debug)]
struct Try {
    sent_at: Instant,
    rto: Duration,
    /// Its RTO ran out or it ended in an error: the next try is due.
    over: bool,
}

/// Try `attempt` ended in `error`: if it is the newest, the next goes out
/// now, unless nothing can leave this machine (a local failure), which no
/// retransmission can mend.
fn end_try(
    tries: &mut [Try],
    attempt: u8,
    error: &ExchangeResult,
    may_send: &mut bool,
    send_now: &mut bool,
) {
    if matches!(error, ExchangeResult::NetworkError { cause, .. } if cause.is_local()) {
        *may_send = false;
    }
    if usize::from(attempt) == tries.len()
        && let Some(t) = tries.last_mut()
    {
        t.over = true;
        *send_now = true;
    }
}

/// Binds a fresh socket (random source port, RFC 5452 §9.2), connects it to
/// `server` and sends the query.
async fn udp_send(
    server: SocketAddr,
    id: u16,
    qname: &Name,
    qtype: RecordType,
    edns: bool,
    give_up: tokio::time::Instant,
) -> Result<UdpSocket, ExchangeResult> {
    let query = wire::encode_query_with(id, qname, qtype, edns).map_err(|error| {
        ExchangeResult::NetworkError {
            cause: NetErrorKind::LocalFailure,
            error,
        }
    })?;
    // Port 0: the kernel picks a random ephemeral source port per try.
    let socket = UdpSocket::bind(unspecified(server))
        .await
        .map_err(|e| net_err(&e))?;
    socket.connect(server).await.map_err(|e| net_err(&e))?;
    match timeout_at(give_up, socket.send(&query)).await {
        Ok(Ok(_)) => Ok(socket),
        Ok(Err(e)) => Err(net_err(&e)),
        Err(_) => Err(ExchangeResult::Timeout),
    }
}

/// Receive buffers of [`limits::MAX_UDP_RESPONSE`] octets kept for the
/// next try: allocating and zeroing 64 KiB for every UDP try (and glibc
/// consolidating its free lists for each such request) took more of a warm
/// batch's CPU than anything else (`perf` on `cargo bench -p dcv-doctor
/// --bench shared_cache`). At most [`KEPT_UDP_BUFFERS`] are kept.
static UDP_BUFFERS: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// Buffers kept for reuse: 4 MiB, enough for the tries a batch's checks
/// have listening at once in the common case; more are allocated (and
/// freed) as before.
const KEPT_UDP_BUFFERS: usize = 64;

/// One try's receive buffer, back to [`UDP_BUFFERS`] when dropped. Its
/// bytes from an earlier try are never read: only what `recv` wrote is.
struct UdpBuffer(Box<[u8]>);

impl UdpBuffer {
    fn take() -> Self {
        let kept = UDP_BUFFERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        Self(kept.unwrap_or_else(|| vec![0u8; limits::MAX_UDP_RESPONSE].into_boxed_slice()))
    }
}

impl Drop for UdpBuffer {
    fn drop(&mut self) {
        let mut kept = UDP_BUFFERS.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() < KEPT_UDP_BUFFERS {
            kept.push(std::mem::take(&mut self.0));
        }
    }
}

/// Listens on one try's socket until its answer (or an undecodable reply
/// with its ID, or a socket error) arrives. Datagrams with another ID or
/// another question are skipped (RFC 5452 §9.1) and remembered in
/// `mismatch`, up to [`MAX_DATAGRAMS_PER_ATTEMPT`].
async fn udp_listen(
    socket: UdpSocket,
    id: u16,
    qname: Name,
    qtype: RecordType,
    attempt: u8,
    mismatch: &Mutex<Option<String>>,
) -> Heard {
    let remember = |detail: String| {
        *mismatch.lock().unwrap_or_else(PoisonError::into_inner) = Some(detail);
    };
    let mut buf = UdpBuffer::take();
    for _ in 0..MAX_DATAGRAMS_PER_ATTEMPT {
        let n = match socket.recv(&mut buf.0).await {
            Ok(n) => n,
            Err(e) => return (attempt, Err(net_err(&e)), Instant::now()),
        };
        let at = Instant::now();
        let bytes = &buf.0[..n];
        if wire::peek_id(bytes) != Some(id) {
            remember(format!("datagram of {n} bytes with another message id"));
            continue;
        }
        match wire::decode_response(bytes, id, &qname, qtype) {
            Ok(d) => return (attempt, Ok(d), at),
            Err(DecodeFailure::Mismatched(detail)) => remember(detail),
            Err(f) => return (attempt, Err(failure(f, bytes)), at),
        }
    }
    let detail = mismatch
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_default();
    (
        attempt,
        Err(ExchangeResult::Mismatched { detail }),
        Instant::now(),
    )
}

/// One question over TCP (after TC, or a TCP path probe): one exchange,
/// bounded by [`limits::TCP_QUERY_TIMEOUT`] (Unbound's) or the server's RTO
/// if longer, and by `patience`.
/// The caller has taken the budget for it.
async fn tcp_question(
    server: SocketAddr,
    qname: &Name,
    qtype: RecordType,
    edns: bool,
    params: QueryParams,
    io: &Io<'_>,
) -> (Exchange, Option<Decoded>) {
    let dns_name = DnsName::from_hickory(qname);
    let id: u16 = rand::random();
    let sent = io.journal.start(server, Protocol::Tcp, &dns_name, qtype, 1);
    let started = Instant::now();
    // Unbound's TCP timeout, or the server's RTO when that is longer (its
    // rule for TCP upstreams: a server known to take 3 s gets 3 s).
    let mut limit = limits::TCP_QUERY_TIMEOUT
        .max(io.infra.rto(server))
        .min(params.patience);
    if io.infra.silent(server) {
        limit = limit.min(io.infra.initial_rto().saturating_mul(SILENT_SERVER_RTOS));
    }
    let result = tcp_attempt(server, id, qname, qtype, limit, edns).await;
    let latency = started.elapsed();
    let (result, decoded) = match result {
        Ok(d) => (ExchangeResult::Response(d.evidence.clone()), Some(d)),
        Err(r) => (r, None),
    };
    io.infra.finished(
        server,
        QuestionEnd {
            tries: 1,
            answered_try: decoded.is_some().then_some(1),
            latency,
            late: false,
        },
    );
    let exchange = Exchange {
        server,
        protocol: Protocol::Tcp,
        qname: dns_name,
        qtype,
        attempt: 1,
        tries: 1,
        latency,
        waited: latency,
        result,
    };
    sent.done(&exchange);
    (exchange, decoded)
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
    use crate::evidence::HeaderFlags;

    fn exchange(latency_ms: u64) -> Exchange {
        Exchange {
            server: "192.0.2.53:53".parse().unwrap(),
            protocol: Protocol::Udp,
            qname: DnsName::parse("example.com").unwrap(),
            qtype: RecordType::A,
            attempt: 1,
            tries: 1,
            latency: Duration::from_millis(latency_ms),
            waited: Duration::from_millis(latency_ms),
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

    fn reply(rcode: Rcode, edns_payload: Option<u16>) -> ResponseEvidence {
        ResponseEvidence {
            rcode,
            flags: HeaderFlags::default(),
            edns_payload,
            dnssec_ok: false,
            extended_errors: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            size: 12,
        }
    }

    /// RFC 6891 §7: only a FORMERR or NOTIMP without an OPT record says
    /// "no EDNS here"; with an OPT record the server knows EDNS and objects
    /// to something else, and other RCODEs are answers.
    #[test]
    fn only_a_refusal_without_opt_means_no_edns() {
        assert!(rejects_edns(&reply(Rcode::FORMERR, None)));
        assert!(rejects_edns(&reply(Rcode::NOTIMP, None)));
        assert!(!rejects_edns(&reply(Rcode::FORMERR, Some(1232))));
        assert!(!rejects_edns(&reply(Rcode::SERVFAIL, None)));
        assert!(!rejects_edns(&reply(Rcode::NOERROR, None)));
    }
}

//! The lab's DNS server: one UDP socket and one TCP listener per address, a task
//! per query, answers from the zones the server serves, with the server's
//! [`Behaviour`] applied first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::scenario::{Behaviour, Mode, fqdn};
use crate::zone::{Zone, key};

/// Our advertised EDNS UDP payload size (the DNS flag day 2020 value).
const OUR_PAYLOAD: u16 = 1232;
/// An idle TCP connection is closed after this long.
const TCP_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Distinct (client, name, type) UDP questions whose loss pattern is
/// remembered; past it the counts start over (a bound, not a model).
const MAX_LOSS_KEYS: usize = 65_536;

/// One UDP question as the loss pattern counts it: client, lower-cased
/// name (lower case), type.
type LossKey = (IpAddr, String, u16);

/// Per-question UDP query counts for [`crate::UdpLoss`].
#[derive(Debug, Default)]
pub(crate) struct LossCounts(std::sync::Mutex<HashMap<LossKey, u32>>);

impl LossCounts {
    /// Whether this UDP query (its lower-case name and type) falls in the
    /// dropped part of its period.
    fn drops(&self, loss: crate::UdpLoss, client: IpAddr, (name, qtype): (String, u16)) -> bool {
        let key = (canonical(client), name, qtype);
        let Ok(mut counts) = self.0.lock() else {
            return false;
        };
        if counts.len() >= MAX_LOSS_KEYS && !counts.contains_key(&key) {
            counts.clear();
        }
        let n = counts.entry(key).or_insert(0);
        let position = *n % u32::from(loss.period.max(1));
        *n = n.wrapping_add(1);
        position < u32::from(loss.dropped)
    }
}

/// What one server knows: its behaviour and the zone copies it serves.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) behaviour: Behaviour,
    /// Counts for `behaviour.udp_loss`.
    pub(crate) loss: LossCounts,
    /// Copies served to every client without a view copy of the same apex.
    pub(crate) zones: Vec<Arc<Zone>>,
    /// Copies served only to the clients of a view, first match wins.
    pub(crate) views: Vec<ViewZones>,
    /// Copies served once their stage is entered: (stage, copy).
    pub(crate) staged: Vec<(String, Arc<Zone>)>,
    /// The stages the lab has entered, in order; shared by every server.
    pub(crate) stages: Arc<Stages>,
    /// The jitter and loss draws, and the copies of each question seen.
    fate: Mutex<FateState>,
    /// Answers already built, by client view, transport and request without
    /// its ID: zone data and behaviour change only when the lab enters a
    /// stage (which clears this), so a
    /// repeated question (a retransmission, a path probe, another check)
    /// costs a lookup, not a rebuild (a 1,000-record RRset takes a debug
    /// build hundreds of milliseconds).
    built: Mutex<HashMap<BuiltKey, Option<Arc<Vec<u8>>>>>,
    /// Queries received (UDP datagrams and TCP messages), dropped or not:
    /// what a resolver cost this server ([`crate::Lab::queries_received`]).
    pub(crate) received: std::sync::atomic::AtomicU64,
}

/// The stages a running lab has entered, oldest first (a later stage's copy
/// wins over an earlier one's).
#[derive(Debug, Default)]
pub(crate) struct Stages(std::sync::RwLock<Vec<String>>);

impl Stages {
    pub(crate) fn enter(&self, stage: &str) {
        let mut entered = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entered.retain(|s| s != stage);
        entered.push(stage.to_owned());
    }

    /// Entered stages, the latest first.
    fn latest_first(&self) -> Vec<String> {
        let entered = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entered.iter().rev().cloned().collect()
    }
}

/// A request as the answer cache knows it: the client's view (index into
/// the server's views, `None` for the default copies), transport, and the
/// message without its ID.
type BuiltKey = (Option<usize>, Transport, Vec<u8>);

/// Built answers kept per server; past it the cache starts afresh.
const MAX_BUILT_ANSWERS: usize = 8192;

/// Copies of each question seen per transport, for [`crate::Loss::first_tries`]
/// (bounded: a lab serves a few thousand names at most, and the map is only
/// filled when a loss knob is set).
#[derive(Debug)]
struct FateState {
    rng: SplitMix64,
    /// (client address, address asked, name, type, over TCP) -> copies seen.
    seen: HashMap<(IpAddr, Option<std::net::SocketAddr>, String, u16, bool), u32>,
}

/// What happens to one query on its way: lost, or answered after a delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Lost,
    After(Duration),
}

/// The `SplitMix64` generator (Steele, Lea, Flood 2014): a tiny seeded generator, so a
/// scenario's jitter and loss replay the same way on every run and version.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`.
    fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => self.next() % n,
            None => self.next(),
        }
    }
}

/// Distinct questions remembered for [`crate::Loss::first_tries`]; past it
/// the map is cleared (a lab never gets near it).
const MAX_QUESTIONS_REMEMBERED: usize = 100_000;

/// The zone copies one server keeps for one client view.
#[derive(Debug)]
pub(crate) struct ViewZones {
    pub(crate) sources: Vec<IpNet>,
    pub(crate) zones: Vec<Arc<Zone>>,
}

impl ServerState {
    pub(crate) fn new(
        behaviour: Behaviour,
        zones: Vec<Arc<Zone>>,
        views: Vec<ViewZones>,
        staged: Vec<(String, Arc<Zone>)>,
        stages: Arc<Stages>,
    ) -> Self {
        let seed = behaviour.seed;
        Self {
            behaviour,
            zones,
            views,
            staged,
            stages,
            loss: LossCounts::default(),
            fate: Mutex::new(FateState {
                rng: SplitMix64(seed),
                seen: HashMap::new(),
            }),
            built: Mutex::new(HashMap::new()),
            received: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Forgets every built answer: the lab entered a stage, so some
    /// questions now have other answers ([`crate::Lab::enter_stage`]).
    pub(crate) fn forget_built(&self) {
        self.built
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Forgets the copies of each question seen and restarts the seeded
    /// draws: the next client meets the path as the first one did
    /// ([`crate::Lab::reset_paths`]).
    pub(crate) fn reset_fate(&self) {
        let mut st = self.fate.lock().unwrap_or_else(PoisonError::into_inner);
        st.seen.clear();
        st.rng = SplitMix64(self.behaviour.seed);
    }

    /// [`ServerState::respond`], from the cache of built answers when the
    /// same question came before (the reply gets this request's ID).
    fn respond_cached(
        &self,
        request: &[u8],
        transport: Transport,
        client: IpAddr,
    ) -> Option<Vec<u8>> {
        self.received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if request.len() < 12 {
            return self.respond(request, transport, client);
        }
        let view = self
            .views
            .iter()
            .position(|v| v.sources.iter().any(|net| net.contains(&canonical(client))));
        let key = (view, transport, request[2..].to_vec());
        let cached = self
            .built
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let built = if let Some(built) = cached {
            built
        } else {
            let built = self.respond(request, transport, client).map(Arc::new);
            let mut cache = self.built.lock().unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= MAX_BUILT_ANSWERS {
                cache.clear();
            }
            cache.insert(key, built.clone());
            built
        };
        built.map(|reply| {
            let mut reply = reply.as_ref().clone();
            if reply.len() >= 2 {
                reply[..2].copy_from_slice(&request[..2]);
            }
            reply
        })
    }

    /// Whether `request`, sent to this server's address `to`, is lost on the
    /// way, else how long its answer takes ([`Behaviour::delay_ms`],
    /// `tcp_delay_ms`, `jitter_ms`, `loss`). Copies of a question are counted
    /// per client and server address: each pair is its own path, so two
    /// resolvers asking at once each lose their own first try.
    fn fate(
        &self,
        request: &[u8],
        transport: Transport,
        from: IpAddr,
        to: Option<std::net::SocketAddr>,
    ) -> Fate {
        let b = &self.behaviour;
        let tcp = transport == Transport::Tcp;
        let base = match (tcp, b.tcp_delay_ms) {
            (true, Some(ms)) => ms,
            _ => b.delay_ms,
        };
        // `udp_loss` counts each copy of a question per client, on the path
        // like `loss`, before any answer is built or taken from the cache.
        if !tcp
            && let Some(udp_loss) = b.udp_loss
            && let Some(question) = question_key(request)
            && self.loss.drops(udp_loss, from, question)
        {
            return Fate::Lost;
        }
        let lossy = b.loss.as_ref().filter(|l| if tcp { l.tcp } else { l.udp });
        if lossy.is_none() && b.jitter_ms == 0 {
            return Fate::After(Duration::from_millis(base));
        }
        let mut st = self.fate.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loss) = lossy {
            if loss.first_tries > 0
                && let Some((name, qtype)) = question_key(request)
            {
                if st.seen.len() >= MAX_QUESTIONS_REMEMBERED {
                    st.seen.clear();
                }
                let copies = st.seen.entry((from, to, name, qtype, tcp)).or_insert(0);
                *copies += 1;
                if *copies <= loss.first_tries {
                    return Fate::Lost;
                }
            }
            if loss.per_mille > 0 && st.rng.up_to(999) < u64::from(loss.per_mille) {
                return Fate::Lost;
            }
        }
        let jitter = if b.jitter_ms > 0 {
            st.rng.up_to(b.jitter_ms)
        } else {
            0
        };
        Fate::After(Duration::from_millis(base.saturating_add(jitter)))
    }

    /// The zone a query falls in: the deepest enclosing apex, except that a DS
    /// query for a child apex goes to the parent when this server has it too
    /// (RFC 4035 §3.1.4.1), unless the child copy carries
    /// [`crate::ZoneFault::DsAnsweredFromChild`].
    /// A copy of the client's view wins over the default copy of that apex.
    fn select_zone(&self, qname: &Name, qtype: RecordType, client: IpAddr) -> Option<&Arc<Zone>> {
        let client = canonical(client);
        let view = self
            .views
            .iter()
            .find(|v| v.sources.iter().any(|net| net.contains(&client)));
        // A view's copy, then staged copies (latest stage first), then the
        // default copies: at equal depth the first wins.
        let entered = if self.staged.is_empty() {
            Vec::new()
        } else {
            self.stages.latest_first()
        };
        let staged = entered.iter().flat_map(|stage| {
            self.staged
                .iter()
                .filter(move |(s, _)| s == stage)
                .map(|(_, z)| z)
        });
        let mut candidates: Vec<&Arc<Zone>> = view
            .into_iter()
            .flat_map(|v| &v.zones)
            .chain(staged)
            .chain(&self.zones)
            .filter(|z| z.apex.zone_of(qname))
            .collect();
        // Stable: at equal depth the view's copy stays first.
        candidates.sort_by_key(|z| std::cmp::Reverse(z.apex.num_labels()));
        let first = candidates.first()?;
        if qtype == RecordType::DS
            && key(&first.apex) == key(qname)
            && !first.ds_at_apex_from_child
            && let Some(parent) = candidates
                .iter()
                .find(|z| z.apex.num_labels() < first.apex.num_labels())
        {
            return Some(parent);
        }
        Some(first)
    }

    fn mode_for(&self, zone: Option<&Arc<Zone>>, qtype: RecordType) -> Mode {
        let by_type = self
            .behaviour
            .per_type
            .iter()
            .find(|m| m.rtype.trim().eq_ignore_ascii_case(&qtype.to_string()))
            .map(|m| m.mode);
        by_type
            .or_else(|| {
                zone.and_then(|z| {
                    let apex = fqdn(&z.apex.to_ascii());
                    self.behaviour
                        .per_zone
                        .iter()
                        .find(|m| fqdn(&m.apex) == apex)
                        .map(|m| m.mode)
                })
            })
            .unwrap_or(self.behaviour.mode)
    }

    /// The reply to one request, or `None` to stay silent.
    pub(crate) fn respond(
        &self,
        request: &[u8],
        transport: Transport,
        client: IpAddr,
    ) -> Option<Vec<u8>> {
        let Ok(message) = Message::from_vec(request) else {
            return formerr(request);
        };
        if message.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(message.metadata.id, message.metadata.op_code);
        response.metadata.recursion_desired = message.metadata.recursion_desired;
        response.metadata.checking_disabled = message.metadata.checking_disabled;
        response.add_queries(message.queries.iter().cloned());
        let dnssec = message.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        if let Some(req_edns) = &message.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(OUR_PAYLOAD);
            edns.set_dnssec_ok(dnssec);
            response.set_edns(edns);
            if req_edns.version() > 0 {
                response.metadata.response_code = ResponseCode::BADVERS;
                return encode(&response, &message, transport, false);
            }
        }
        let Some(query) = single_query(&message) else {
            response.metadata.response_code = ResponseCode::FormErr;
            return encode(&response, &message, transport, false);
        };
        if message.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return encode(&response, &message, transport, false);
        }
        let zone = self.select_zone(&query.name, query.query_type, client);
        let edns_path = if message.edns.is_none() {
            self.behaviour.no_edns_mode
        } else {
            self.behaviour.edns_mode
        };
        let by_path = match transport {
            Transport::Tcp => self.behaviour.tcp_mode,
            Transport::Udp => None,
        }
        .or(edns_path);
        let mode = by_path.unwrap_or_else(|| self.mode_for(zone, query.query_type));
        let truncate = self.behaviour.truncate_udp && transport == Transport::Udp;
        match mode {
            Mode::Timeout => return None,
            Mode::ServFail => {
                response.metadata.response_code = ResponseCode::ServFail;
                return encode(&response, &message, transport, false);
            }
            Mode::Refused => {
                response.metadata.response_code = ResponseCode::Refused;
                return encode(&response, &message, transport, false);
            }
            Mode::Garbage => return Some(garbage(message.metadata.id)),
            Mode::FormErr => {
                // An EDNS-intolerant server knows no OPT record to send back.
                response.edns = None;
                response.metadata.response_code = ResponseCode::FormErr;
                return encode(&response, &message, transport, false);
            }
            Mode::Answer | Mode::NotAuthoritative => {}
        }
        let Some(zone) = zone.filter(|_| query.query_class == DNSClass::IN) else {
            response.metadata.response_code = ResponseCode::Refused;
            return encode(&response, &message, transport, false);
        };
        let answer = zone.answer(&query.name, query.query_type, dnssec);
        response.metadata.response_code = answer.rcode;
        response.metadata.authoritative = answer.authoritative && mode != Mode::NotAuthoritative;
        response.answers = answer.answers;
        response.authorities = answer.authorities;
        response.additionals = answer.additionals;
        encode(&response, &message, transport, truncate)
    }
}

/// The question of a request, lower-cased, for counting copies of it.
fn question_key(request: &[u8]) -> Option<(String, u16)> {
    let message = Message::from_vec(request).ok()?;
    let q = single_query(&message)?;
    Some((
        q.name.to_ascii().to_ascii_lowercase(),
        u16::from(q.query_type),
    ))
}

fn single_query(message: &Message) -> Option<&Query> {
    match message.queries.as_slice() {
        [q] => Some(q),
        _ => None,
    }
}

/// A response header (QR, AA) claiming a question and an answer, followed by a
/// compression pointer past the end: no DNS decoder accepts it.
fn garbage(id: u16) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&[0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0xff, 0xff]);
    out
}

/// FORMERR for a request we could not decode, if its header is readable.
fn formerr(request: &[u8]) -> Option<Vec<u8>> {
    let (id, flags) = match request {
        [a, b, flags, ..] if request.len() >= 12 => (u16::from_be_bytes([*a, *b]), *flags),
        _ => return None,
    };
    if flags & 0x80 != 0 {
        return None; // a response: never answer those
    }
    let mut m = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
    m.metadata.message_type = MessageType::Response;
    m.to_vec().ok()
}

/// Encodes, truncating over UDP when the answer does not fit the client's size
/// (or when the server is told to always truncate).
fn encode(
    response: &Message,
    request: &Message,
    transport: Transport,
    force_tc: bool,
) -> Option<Vec<u8>> {
    let bytes = if let Ok(b) = response.to_vec() {
        b
    } else {
        let mut fail = Message::error_msg(
            response.metadata.id,
            response.metadata.op_code,
            ResponseCode::ServFail,
        );
        fail.add_queries(response.queries.iter().cloned());
        fail.to_vec().ok()?
    };
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => usize::from(
            request
                .edns
                .as_ref()
                .map_or(512, |e| e.max_payload().max(512)),
        ),
    };
    if force_tc || bytes.len() > limit {
        return response.truncate().to_vec().ok();
    }
    Some(bytes)
}

/// Answers on one UDP socket until aborted.
pub(crate) async fn serve_udp(socket: UdpSocket, state: Arc<ServerState>) {
    let local = socket.local_addr().ok();
    let socket = Arc::new(socket);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        while tasks.try_join_next().is_some() {}
        let request = buf[..len].to_vec();
        let socket = Arc::clone(&socket);
        let state = Arc::clone(&state);
        tasks.spawn(async move {
            let Fate::After(delay) = state.fate(&request, Transport::Udp, peer.ip(), local) else {
                return;
            };
            if let Some(reply) = state.respond_cached(&request, Transport::Udp, peer.ip()) {
                sleep(delay).await;
                let _ = socket.send_to(&reply, peer).await;
            }
        });
    }
}

/// Accepts TCP connections until aborted; connections die with this task.
pub(crate) async fn serve_tcp(listener: TcpListener, state: Arc<ServerState>) {
    let mut tasks = JoinSet::new();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        while tasks.try_join_next().is_some() {}
        tasks.spawn(serve_connection(stream, peer.ip(), Arc::clone(&state)));
    }
}

async fn serve_connection(mut stream: TcpStream, client: IpAddr, state: Arc<ServerState>) {
    let local = stream.local_addr().ok();
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut request).await.is_err() {
            return;
        }
        let Fate::After(delay) = state.fate(&request, Transport::Tcp, client, local) else {
            continue;
        };
        let Some(reply) = state.respond_cached(&request, Transport::Tcp, client) else {
            continue;
        };
        sleep(delay).await;
        let Ok(n) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// An IPv4 client seen on a dual-stack socket (`::ffff:a.b.c.d`) as IPv4, so
/// view prefixes are written one way.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

//! The lab's DNS server: one UDP socket and one TCP listener per address, a task
//! per query, answers from the zones the server serves, with the server's
//! [`Behaviour`] applied first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Distinct (client, name, type) UDP questions whose loss pattern is
/// remembered; past it the counts start over (a bound, not a model).
const MAX_LOSS_KEYS: usize = 65_536;

/// One UDP question as the loss pattern counts it: client, lower-cased
/// name, type.
type LossKey = (IpAddr, Vec<u8>, u16);

/// Per-question UDP query counts for [`crate::UdpLoss`].
#[derive(Debug, Default)]
pub(crate) struct LossCounts(std::sync::Mutex<HashMap<LossKey, u32>>);

impl LossCounts {
    /// Whether this UDP query falls in the dropped part of its period.
    fn drops(&self, loss: crate::UdpLoss, client: IpAddr, query: &Query) -> bool {
        let key = (
            canonical(client),
            query.name.to_lowercase().to_ascii().into_bytes(),
            u16::from(query.query_type),
        );
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
}

/// The zone copies one server keeps for one client view.
#[derive(Debug)]
pub(crate) struct ViewZones {
    pub(crate) sources: Vec<IpNet>,
    pub(crate) zones: Vec<Arc<Zone>>,
}

impl ServerState {
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
        let mut candidates: Vec<&Arc<Zone>> = view
            .into_iter()
            .flat_map(|v| &v.zones)
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
        if transport == Transport::Udp
            && let Some(loss) = self.behaviour.udp_loss
            && self.loss.drops(loss, client, query)
        {
            return None;
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
            if let Some(reply) = state.respond(&request, Transport::Udp, peer.ip()) {
                delay(&state).await;
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
        let Some(reply) = state.respond(&request, Transport::Tcp, client) else {
            continue;
        };
        delay(&state).await;
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

async fn delay(state: &ServerState) {
    if state.behaviour.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(state.behaviour.delay_ms)).await;
    }
}

//! A minimal DNS stub: one question to one server, over UDP with EDNS(0)
//! and DO, and over TCP when the answer is truncated (RFC 7766 §5). It reads
//! only what the comparison needs (header flags, answer RRs with their RDATA
//! bytes as sent, EDE codes), so the oracle's answer is not filtered through
//! the DNS library the engine under test uses.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// EDNS payload we offer (DNS Flag Day 2020, as Unbound and the engine).
const EDNS_PAYLOAD: u16 = 1232;
/// Largest message read (the TCP length prefix allows no more).
const MAX_MESSAGE: usize = 65_535;
/// RRs read per section: a bound for hostile input, far above any answer here.
const MAX_RRS: usize = 4096;
/// Compression pointers followed in one name (RFC 1035 §4.1.4 loops).
const MAX_POINTERS: usize = 64;

/// One resource record as sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rr {
    /// Owner, lower case, absolute.
    pub owner: String,
    /// Type code.
    pub rtype: u16,
    /// RDATA bytes.
    pub rdata: Vec<u8>,
}

/// The parts of a response the comparison reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// RCODE (header bits only; the lab and Unbound send no extended RCODEs
    /// to these questions).
    pub rcode: u16,
    /// Authentic Data (RFC 4035 §3.2.3).
    pub ad: bool,
    /// Authoritative Answer.
    pub aa: bool,
    /// Answer section.
    pub answer: Vec<Rr>,
    /// Extended DNS Error info codes (RFC 8914).
    pub ede: Vec<u16>,
}

/// Why no reply was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubError {
    /// Nothing came back before the deadline.
    Timeout(Duration),
    /// A socket error.
    Io(String),
    /// The reply did not parse.
    Malformed(String),
}

impl std::fmt::Display for StubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(d) => write!(f, "no reply within {d:?}"),
            Self::Io(e) => write!(f, "socket: {e}"),
            Self::Malformed(e) => write!(f, "malformed reply: {e}"),
        }
    }
}

impl std::error::Error for StubError {}

/// A question and how to ask it.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    /// Absolute name.
    pub name: &'a str,
    /// Type code.
    pub rtype: u16,
    /// Recursion Desired (a resolver) or not (an authoritative server).
    pub recursion: bool,
    /// Overall bound.
    pub deadline: Duration,
    /// UDP retransmission interval.
    pub retransmit: Duration,
}

/// Asks `server` one question: UDP (retransmitted every `retransmit`) until
/// a reply or the deadline; over TCP if the UDP reply is truncated.
pub async fn ask(server: SocketAddr, q: &Ask<'_>) -> Result<Reply, StubError> {
    let started = Instant::now();
    let id = next_id();
    let query = encode_query(id, q.name, q.rtype, q.recursion)?;
    let bind = if server.is_ipv4() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
    } else {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    };
    let socket = UdpSocket::bind(bind).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    let reply = loop {
        let left = q.deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(StubError::Timeout(q.deadline));
        }
        socket.send(&query).await.map_err(io)?;
        let wait = left.min(q.retransmit);
        let until = Instant::now() + wait;
        // Read until a reply with our ID (stray datagrams are skipped).
        let got = loop {
            let remaining = until.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, socket.recv(&mut buf)).await {
                Err(_) => break None,
                Ok(Err(e)) => return Err(io(e)),
                Ok(Ok(n)) if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                    break Some(buf[..n].to_vec());
                }
                Ok(Ok(_)) => {}
            }
        };
        if let Some(bytes) = got {
            break bytes;
        }
    };
    let truncated = reply.get(2).is_some_and(|b| b & 0x02 != 0);
    if !truncated {
        return parse(&reply);
    }
    let left = q.deadline.saturating_sub(started.elapsed());
    tokio::time::timeout(left, ask_tcp(server, &query, id))
        .await
        .map_err(|_| StubError::Timeout(q.deadline))?
}

async fn ask_tcp(server: SocketAddr, query: &[u8], id: u16) -> Result<Reply, StubError> {
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    let len = u16::try_from(query.len()).map_err(|_| StubError::Io("query too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(io)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.map_err(io)?;
    if reply.len() < 2 || u16::from_be_bytes([reply[0], reply[1]]) != id {
        return Err(StubError::Malformed("TCP reply with another ID".into()));
    }
    parse(&reply)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(io)`
fn io(e: std::io::Error) -> StubError {
    StubError::Io(e.to_string())
}

fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0x5eed);
    // Distinct per concurrent query in this process; spread by a large odd step.
    NEXT.fetch_add(40_503, Ordering::Relaxed)
}

/// RFC 1035 §4.1 query with one question and an OPT record (RFC 6891)
/// offering [`EDNS_PAYLOAD`] with DO set (RFC 3225).
pub fn encode_query(
    id: u16,
    name: &str,
    rtype: u16,
    recursion: bool,
) -> Result<Vec<u8>, StubError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[u8::from(recursion), 0x00]);
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| *l <= 63)
            .ok_or_else(|| StubError::Malformed(format!("label too long in {name}")))?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root owner, type 41, class = payload, TTL = ext-rcode/version/DO.
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x80, 0]);
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// Reads header, answer RRs and EDE options of a response.
pub fn parse(msg: &[u8]) -> Result<Reply, StubError> {
    let bad = |why: &str| StubError::Malformed(why.to_owned());
    if msg.len() < 12 {
        return Err(bad("shorter than a header"));
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    if an + ns + ar > MAX_RRS {
        return Err(bad("too many records"));
    }
    let mut at = 12;
    for _ in 0..qd {
        let (_, next) = read_name(msg, at)?;
        at = next + 4;
    }
    let mut reply = Reply {
        rcode: u16::from(msg[3] & 0x0f),
        ad: msg[3] & 0x20 != 0,
        aa: msg[2] & 0x04 != 0,
        answer: Vec::new(),
        ede: Vec::new(),
    };
    for section in 0..3 {
        let n = [an, ns, ar][section];
        for _ in 0..n {
            let (owner, next) = read_name(msg, at)?;
            let fixed = msg
                .get(next..next + 10)
                .ok_or_else(|| bad("RR header cut short"))?;
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let start = next + 10;
            let rdata = msg
                .get(start..start + rdlen)
                .ok_or_else(|| bad("RDATA cut short"))?
                .to_vec();
            at = start + rdlen;
            match section {
                0 => reply.answer.push(Rr {
                    owner,
                    rtype,
                    rdata,
                }),
                2 if rtype == 41 => reply.ede.extend(ede_codes(&rdata)),
                _ => {}
            }
        }
    }
    Ok(reply)
}

/// EDE (option 15) info codes in OPT RDATA (RFC 8914 §2).
fn ede_codes(rdata: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= rdata.len() {
        let code = u16::from_be_bytes([rdata[at], rdata[at + 1]]);
        let len = usize::from(u16::from_be_bytes([rdata[at + 2], rdata[at + 3]]));
        if code == 15 && len >= 2 && at + 6 <= rdata.len() {
            out.push(u16::from_be_bytes([rdata[at + 4], rdata[at + 5]]));
        }
        at += 4 + len;
    }
    out
}

/// A possibly compressed name at `at`; returns it (lower case, absolute) and
/// the offset after it in the original position.
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), StubError> {
    let bad = |why: &str| StubError::Malformed(why.to_owned());
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or_else(|| bad("name runs past the end"))?;
        match len {
            0 => {
                end.get_or_insert(at + 1);
                break;
            }
            l if l & 0xc0 == 0xc0 => {
                let low = *msg.get(at + 1).ok_or_else(|| bad("pointer cut short"))?;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(bad("compression loop"));
                }
                at = usize::from(u16::from_be_bytes([l & 0x3f, low]));
            }
            l if l < 64 => {
                let label = msg
                    .get(at + 1..at + 1 + usize::from(l))
                    .ok_or_else(|| bad("label cut short"))?;
                labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
                at += 1 + usize::from(l);
            }
            _ => return Err(bad("unknown label type")),
        }
    }
    let name = if labels.is_empty() {
        ".".to_owned()
    } else {
        format!("{}.", labels.join("."))
    };
    Ok((name, end.unwrap_or(at)))
}

/// Presentation form of RDATA for the types the worlds ask (A, AAAA, TXT,
/// CAA); hex for the rest. For printouts only: comparisons use the bytes.
pub fn rdata_text(rtype: u16, rdata: &[u8]) -> String {
    match (rtype, rdata.len()) {
        (1, 4) => Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
        (28, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(rdata);
            Ipv6Addr::from(b).to_string()
        }
        (16, _) => {
            let mut parts = Vec::new();
            let mut at = 0;
            while at < rdata.len() {
                let len = usize::from(rdata[at]);
                let s = rdata.get(at + 1..at + 1 + len).unwrap_or_default();
                parts.push(format!("\"{}\"", String::from_utf8_lossy(s)));
                at += 1 + len;
            }
            parts.join(" ")
        }
        (257, n) if n >= 2 => {
            let tag_len = usize::from(rdata[1]);
            let tag = rdata.get(2..2 + tag_len).unwrap_or_default();
            let value = rdata.get(2 + tag_len..).unwrap_or_default();
            format!(
                "{} {} \"{}\"",
                rdata[0],
                String::from_utf8_lossy(tag),
                String::from_utf8_lossy(value)
            )
        }
        _ => rdata.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_round_trips_through_the_parser() {
        let q = encode_query(0x1234, "www.Example.w1.", 1, true).unwrap();
        let reply = parse(&q).unwrap();
        assert_eq!(reply.rcode, 0);
        assert!(reply.answer.is_empty());
        assert_eq!(&q[..2], &[0x12, 0x34]);
        assert!(encode_query(1, &format!("{}.w1.", "a".repeat(64)), 1, true).is_err());
    }

    #[test]
    fn compressed_names_and_loops() {
        // Header, then "a.b." at 12 and a pointer to it at 17.
        let mut m = vec![0u8; 12];
        m.extend_from_slice(&[1, b'a', 1, b'b', 0, 0xc0, 12]);
        assert_eq!(read_name(&m, 17).unwrap(), ("a.b.".to_owned(), 19));
        let looped = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        assert!(read_name(&looped, 12).is_err());
        assert!(parse(&[0u8; 5]).is_err());
    }

    #[test]
    fn rdata_is_shown_readably() {
        assert_eq!(rdata_text(1, &[192, 0, 2, 1]), "192.0.2.1");
        assert_eq!(rdata_text(16, b"\x02hi\x01x"), "\"hi\" \"x\"");
        assert_eq!(
            rdata_text(257, b"\x00\x05issueca.invalid"),
            "0 issue \"ca.invalid\""
        );
    }
}

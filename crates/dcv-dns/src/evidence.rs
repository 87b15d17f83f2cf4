//! Evidence: what each server said, exactly as it arrived.
//!
//! Every type here is plain data with `serde::Serialize`, so a report can carry
//! it verbatim.

use std::{net::SocketAddr, time::Duration};

use serde::{Serialize, Serializer};

use crate::{
    config::ServerPolicy,
    types::{DnsName, Rcode, RecordType, hex_bytes},
};
pub use dcv_ip_policy::{RangeKind, ReservedRange};

/// Transport used for one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Udp,
    Tcp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        })
    }
}

/// One way of asking a server (RFC 8659 §6.1: middleboxes that drop EDNS or
/// TCP make a server unreachable for some resolvers only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct QueryPath {
    /// TCP (RFC 7766) instead of UDP.
    pub tcp: bool,
    /// Send an EDNS(0) OPT record (1232-byte payload, DO bit); without it the
    /// query is plain RFC 1035 (512-byte UDP, no DNSSEC records).
    pub edns: bool,
}

impl QueryPath {
    /// UDP with EDNS(0): what resolvers send first.
    pub const UDP_EDNS: Self = Self {
        tcp: false,
        edns: true,
    };
    /// UDP without any OPT record (RFC 1035).
    pub const UDP_PLAIN: Self = Self {
        tcp: false,
        edns: false,
    };
    /// TCP with EDNS(0).
    pub const TCP_EDNS: Self = Self {
        tcp: true,
        edns: true,
    };
}

impl std::fmt::Display for QueryPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match (self.tcp, self.edns) {
            (false, true) => "UDP+EDNS",
            (false, false) => "UDP without EDNS",
            (true, true) => "TCP+EDNS",
            (true, false) => "TCP without EDNS",
        })
    }
}

/// Header flags of a response (RFC 1035 §4.1.1, RFC 4035 §3.2.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[allow(clippy::struct_excessive_bools)] // one bool per header bit, as on the wire
pub struct HeaderFlags {
    /// Authoritative Answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion Available.
    pub ra: bool,
    /// Authentic Data.
    pub ad: bool,
    /// Checking Disabled.
    pub cd: bool,
}

/// RFC 8914 Extended DNS Error (EDNS option 15): INFO-CODE and EXTRA-TEXT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExtendedError {
    pub info_code: u16,
    /// The registered purpose of `info_code` (RFC 8914 §4), if known.
    pub purpose: Option<&'static str>,
    /// EXTRA-TEXT, decoded as UTF-8 (invalid sequences replaced).
    pub extra_text: String,
}

/// One resource record as served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordEvidence {
    pub name: DnsName,
    pub rtype: RecordType,
    pub ttl: u32,
    /// Presentation format of the RDATA (zone-file syntax).
    pub rdata: String,
    /// The RDATA bytes exactly as they were on the wire (compression pointers
    /// inside RDATA, if any, are left as sent).
    #[serde(serialize_with = "hex_bytes")]
    pub wire_rdata: Vec<u8>,
}

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResponseEvidence {
    /// Full RCODE, including the EDNS extended bits.
    pub rcode: Rcode,
    pub flags: HeaderFlags,
    /// UDP payload size the server advertised in its OPT record, if any.
    pub edns_payload: Option<u16>,
    /// DO bit echoed in the server's OPT record.
    pub dnssec_ok: bool,
    pub extended_errors: Vec<ExtendedError>,
    pub answer: Vec<RecordEvidence>,
    pub authority: Vec<RecordEvidence>,
    pub additional: Vec<RecordEvidence>,
    /// Size of the message in bytes.
    pub size: usize,
}

/// What came back from one attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExchangeResult {
    /// A response that matched the question and decoded.
    Response(ResponseEvidence),
    /// No matching response within the timeout.
    Timeout,
    /// A socket-level error, typed so that rules can tell "the server did
    /// not answer" (a timeout) from "it refused" from "this machine could not
    /// send" (no route: a limit of the vantage point, not the domain's fault).
    NetworkError { cause: NetErrorKind, error: String },
    /// Bytes arrived that matched the question ID but could not be decoded.
    Unparseable {
        error: String,
        #[serde(serialize_with = "hex_bytes")]
        prefix: Vec<u8>,
        size: usize,
    },
    /// A decodable response that does not answer our question (RFC 5452 §9.1:
    /// id, qname, qtype and qclass must match).
    Mismatched { detail: String },
    /// Never sent: the engine's [`crate::ServerPolicy`] refuses the server's
    /// address, which lies in `range`. No packet, no timeout, no budget; the
    /// latency is zero.
    NotQueried {
        policy: ServerPolicy,
        range: ReservedRange,
    },
}

/// Why a socket operation failed, from the OS error. The split that matters
/// for a diagnosis is who is at fault: [`NetErrorKind::Unreachable`] and
/// [`NetErrorKind::LocalFailure`] happen on this machine before any packet
/// reaches the server; [`NetErrorKind::Refused`] and [`NetErrorKind::Reset`]
/// are the far end (or a firewall on the path) answering "no".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetErrorKind {
    /// No route to the network or host (`ENETUNREACH`, `EHOSTUNREACH`,
    /// `EADDRNOTAVAIL`, `EAFNOSUPPORT`): the packet never left this machine,
    /// or an ICMP unreachable came back from a router. An IPv4-only machine
    /// gets this for every IPv6 server.
    Unreachable,
    /// Actively refused: a TCP RST to the SYN, or an ICMP port unreachable to a
    /// UDP query (`ECONNREFUSED`).
    Refused,
    /// The connection was reset, aborted or closed mid-exchange
    /// (`ECONNRESET`, `ECONNABORTED`, `EPIPE`, early EOF).
    Reset,
    /// This machine would not send it: a local firewall or policy
    /// (`EPERM`, `EACCES`), or no socket could be made.
    LocalFailure,
    /// Anything else the OS reported.
    Other,
}

impl NetErrorKind {
    /// Classifies an I/O error by its OS error number (Linux values through
    /// `std::io::ErrorKind`, which maps them portably).
    pub fn from_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::NetworkUnreachable | K::HostUnreachable | K::AddrNotAvailable | K::Unsupported => {
                Self::Unreachable
            }
            K::ConnectionRefused => Self::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                Self::Reset
            }
            K::PermissionDenied => Self::LocalFailure,
            _ => match e.raw_os_error() {
                // EAFNOSUPPORT: no IPv6 stack at all.
                Some(97) => Self::Unreachable,
                _ => Self::Other,
            },
        }
    }

    /// Whether the failure happened on this machine before the server could
    /// have seen anything: a fact about the vantage point, never evidence
    /// against the domain.
    pub fn is_local(self) -> bool {
        matches!(self, Self::Unreachable | Self::LocalFailure)
    }
}

impl std::fmt::Display for NetErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Self::Unreachable => "unreachable",
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::LocalFailure => "local failure",
            Self::Other => "network error",
        })
    }
}

/// One query sent to one server and what came of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub server: SocketAddr,
    pub protocol: Protocol,
    pub qname: DnsName,
    pub qtype: RecordType,
    /// The try the result belongs to: 1 for the first, then the
    /// retransmissions (an answer to an earlier try is accepted while later
    /// ones are out). For a question nobody answered, the last try sent.
    pub attempt: u8,
    /// Packets sent for this question over this protocol: UDP tries
    /// (retransmissions included); 1 over TCP.
    pub tries: u8,
    /// Round trip of the answered try; for a timeout or an error, how long
    /// the question waited in all.
    #[serde(serialize_with = "millis")]
    pub latency: Duration,
    /// From the first try's send to the end (answer, error or patience out).
    #[serde(serialize_with = "millis")]
    pub waited: Duration,
    pub result: ExchangeResult,
}

impl Exchange {
    /// The special-purpose block that kept this query from being sent, if
    /// the server policy refused it.
    pub fn refused_range(&self) -> Option<&ReservedRange> {
        match &self.result {
            ExchangeResult::NotQueried { range, .. } => Some(range),
            _ => None,
        }
    }

    /// The decoded response, if this exchange produced one.
    pub fn response(&self) -> Option<&ResponseEvidence> {
        match &self.result {
            ExchangeResult::Response(r) => Some(r),
            _ => None,
        }
    }

    /// Tries that got no answer at all: those before the answered one, or
    /// every try when none was answered (an error ends a try: not lost).
    pub fn lost_tries(&self) -> u8 {
        match &self.result {
            ExchangeResult::Response(_) => self.attempt.saturating_sub(1),
            ExchangeResult::Timeout => self.tries,
            _ => 0,
        }
    }
}

pub(crate) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    #[allow(clippy::cast_precision_loss)]
    let ms = d.as_secs_f64() * 1000.0;
    s.serialize_f64((ms * 1000.0).round() / 1000.0)
}

/// RFC 8914 §4 registered purposes.
pub(crate) fn ede_purpose(code: u16) -> Option<&'static str> {
    Some(match code {
        0 => "Other Error",
        1 => "Unsupported DNSKEY Algorithm",
        2 => "Unsupported DS Digest Type",
        3 => "Stale Answer",
        4 => "Forged Answer",
        5 => "DNSSEC Indeterminate",
        6 => "DNSSEC Bogus",
        7 => "Signature Expired",
        8 => "Signature Not Yet Valid",
        9 => "DNSKEY Missing",
        10 => "RRSIGs Missing",
        11 => "No Zone Key Bit Set",
        12 => "NSEC Missing",
        13 => "Cached Error",
        14 => "Not Ready",
        15 => "Blocked",
        16 => "Censored",
        17 => "Filtered",
        18 => "Prohibited",
        19 => "Stale NXDomain Answer",
        20 => "Not Authoritative",
        21 => "Not Supported",
        22 => "No Reachable Authority",
        23 => "Network Error",
        24 => "Invalid Data",
        25 => "Signature Expired before Valid",
        26 => "Too Early",
        27 => "Unsupported NSEC3 Iterations Value",
        28 => "Unable to conform to policy",
        29 => "Synthesized",
        30 => "Invalid Query Type",
        _ => return None,
    })
}

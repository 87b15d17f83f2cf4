//! The hickory boundary: query encoding, response decoding, EDE parsing and
//! wire RDATA extraction. Nothing hickory-typed leaves this crate.

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{DNSClass, Name, Record},
};

use crate::{
    evidence::{ExtendedError, HeaderFlags, RecordEvidence, ResponseEvidence, ede_purpose},
    limits,
    types::{DnsName, Rcode, RecordType},
};

/// EDNS option code of Extended DNS Errors (RFC 8914 §2).
const EDNS_OPTION_EDE: u16 = 15;
/// RR type of the OPT pseudo-record (RFC 6891 §6.1.1).
const TYPE_OPT: u16 = 41;
/// RR type of TSIG (RFC 8945), dropped from the additional section by hickory.
const TYPE_TSIG: u16 = 250;

/// Encodes a query: RD=0, EDNS(0) with DO and a 1232-byte payload (RFC 6891,
/// RFC 3225).
#[cfg(test)]
pub(crate) fn encode_query(id: u16, qname: &Name, qtype: RecordType) -> Result<Vec<u8>, String> {
    encode_query_with(id, qname, qtype, true)
}

/// Encodes a query: RD=0, with EDNS(0) (DO bit, 1232-byte payload; RFC 6891,
/// RFC 3225) when `edns` is set,
/// or as a plain RFC 1035 query (no OPT at all: 512-byte UDP, no DO bit).
pub(crate) fn encode_query_with(
    id: u16,
    qname: &Name,
    qtype: RecordType,
    edns: bool,
) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    let mut q = Query::query(qname.clone(), qtype.to_hickory());
    q.set_query_class(DNSClass::IN);
    msg.add_query(q);
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(limits::EDNS_UDP_PAYLOAD);
        opt.set_dnssec_ok(true);
        opt.set_version(0);
        msg.set_edns(opt);
    }
    msg.to_vec().map_err(|e| e.to_string())
}

/// The message ID of a datagram, if it has a header.
pub(crate) fn peek_id(bytes: &[u8]) -> Option<u16> {
    (bytes.len() >= 2).then(|| u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// A decoded response: the evidence and the hickory records used by the walker
/// and the validator.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub evidence: ResponseEvidence,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// Why a response was rejected.
#[derive(Debug)]
pub(crate) enum DecodeFailure {
    /// Not decodable as a DNS message.
    Unparseable(String),
    /// Decodable but not an answer to our question.
    Mismatched(String),
}

/// Decodes `bytes` and checks it answers (`id`, `qname`, `qtype`, IN), as
/// RFC 5452 §9.1 requires. qname is compared case-insensitively.
pub(crate) fn decode_response(
    bytes: &[u8],
    id: u16,
    qname: &Name,
    qtype: RecordType,
) -> Result<Decoded, DecodeFailure> {
    let msg = Message::from_vec(bytes).map_err(|e| DecodeFailure::Unparseable(e.to_string()))?;
    let raw = RawMessage::scan(bytes).map_err(DecodeFailure::Unparseable)?;
    if msg.metadata.id != id {
        return Err(DecodeFailure::Mismatched(format!(
            "id {} instead of {id}",
            msg.metadata.id
        )));
    }
    if msg.metadata.message_type != MessageType::Response {
        return Err(DecodeFailure::Mismatched("QR bit not set".into()));
    }
    let [q] = msg.queries.as_slice() else {
        return Err(DecodeFailure::Mismatched(format!(
            "{} questions instead of 1",
            msg.queries.len()
        )));
    };
    if &q.name != qname || q.query_type != qtype.to_hickory() || q.query_class != DNSClass::IN {
        return Err(DecodeFailure::Mismatched(format!(
            "question {} {} {} instead of {} IN {qtype}",
            q.name, q.query_class, q.query_type, qname
        )));
    }

    let flags = HeaderFlags {
        aa: msg.metadata.authoritative,
        tc: msg.metadata.truncation,
        ra: msg.metadata.recursion_available,
        ad: msg.metadata.authentic_data,
        cd: msg.metadata.checking_disabled,
    };
    let rcode = Rcode(u16::from(raw.rcode_high) << 4 | u16::from(raw.rcode_low));
    let additional_raw: Vec<&RawRecord> = raw
        .additional
        .iter()
        .filter(|r| r.rtype != TYPE_OPT && r.rtype != TYPE_TSIG)
        .collect();
    let answer_raw: Vec<&RawRecord> = raw.answer.iter().collect();
    let authority_raw: Vec<&RawRecord> = raw.authority.iter().collect();

    let Message {
        answers,
        authorities,
        additionals,
        ..
    } = msg;
    let evidence = ResponseEvidence {
        rcode,
        flags,
        edns_payload: raw.opt.as_ref().map(|o| o.payload),
        dnssec_ok: raw.opt.as_ref().is_some_and(|o| o.dnssec_ok),
        extended_errors: raw
            .opt
            .as_ref()
            .map(|o| parse_ede(&o.rdata))
            .unwrap_or_default(),
        answer: to_evidence(&answers, &answer_raw, bytes),
        authority: to_evidence(&authorities, &authority_raw, bytes),
        additional: to_evidence(&additionals, &additional_raw, bytes),
        size: bytes.len(),
    };
    let cap = |mut v: Vec<Record>| {
        v.truncate(limits::MAX_RECORDS_PER_SECTION);
        v
    };
    Ok(Decoded {
        evidence,
        answers: cap(answers),
        authority: cap(authorities),
        additional: cap(additionals),
    })
}

fn to_evidence(records: &[Record], raw: &[&RawRecord], bytes: &[u8]) -> Vec<RecordEvidence> {
    let aligned = raw.len() == records.len();
    records
        .iter()
        .take(limits::MAX_RECORDS_PER_SECTION)
        .enumerate()
        .map(|(i, r)| {
            let wire_rdata = if aligned && raw[i].rtype == u16::from(r.record_type()) {
                bytes[raw[i].rdata.clone()].to_vec()
            } else {
                Vec::new()
            };
            record_evidence(r, wire_rdata)
        })
        .collect()
}

fn record_evidence(r: &Record, wire_rdata: Vec<u8>) -> RecordEvidence {
    RecordEvidence {
        name: DnsName::from_hickory(&r.name),
        rtype: RecordType::from_hickory(r.record_type()),
        ttl: r.ttl,
        rdata: r.data.to_string(),
        wire_rdata,
    }
}

/// RFC 8914 §2: OPTION-CODE 15, INFO-CODE (16 bits), EXTRA-TEXT (UTF-8).
pub(crate) fn parse_ede(opt_rdata: &[u8]) -> Vec<ExtendedError> {
    let mut out = Vec::new();
    let mut rest = opt_rdata;
    while rest.len() >= 4 {
        let code = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let Some(data) = rest.get(4..4 + len) else {
            break;
        };
        if code == EDNS_OPTION_EDE && data.len() >= 2 {
            let info_code = u16::from_be_bytes([data[0], data[1]]);
            let text = String::from_utf8_lossy(&data[2..]);
            out.push(ExtendedError {
                info_code,
                purpose: ede_purpose(info_code),
                // Some servers NUL-terminate EXTRA-TEXT although §2 says not to.
                extra_text: text.trim_end_matches('\0').to_owned(),
            });
        }
        rest = &rest[4 + len..];
    }
    out
}

/// Skeleton of a message, scanned without hickory, to recover exact RDATA bytes
/// and the raw OPT record.
struct RawMessage {
    rcode_low: u8,
    rcode_high: u8,
    answer: Vec<RawRecord>,
    authority: Vec<RawRecord>,
    additional: Vec<RawRecord>,
    opt: Option<RawOpt>,
}

struct RawRecord {
    rtype: u16,
    rdata: std::ops::Range<usize>,
}

struct RawOpt {
    payload: u16,
    dnssec_ok: bool,
    rdata: Vec<u8>,
}

impl RawMessage {
    fn scan(b: &[u8]) -> Result<Self, String> {
        let u16_at = |i: usize| -> Result<u16, String> {
            b.get(i..i + 2)
                .map(|s| u16::from_be_bytes([s[0], s[1]]))
                .ok_or_else(|| "message truncated".to_owned())
        };
        if b.len() < 12 {
            return Err("shorter than a DNS header".into());
        }
        let counts = [u16_at(4)?, u16_at(6)?, u16_at(8)?, u16_at(10)?];
        let mut pos = 12;
        for _ in 0..counts[0] {
            pos = skip_name(b, pos)? + 4;
        }
        let mut sections: [Vec<RawRecord>; 3] = Default::default();
        let mut opt = None;
        let mut rcode_high = 0;
        for (section, &count) in sections.iter_mut().zip(&counts[1..]) {
            for _ in 0..count {
                pos = skip_name(b, pos)?;
                let rtype = u16_at(pos)?;
                let class = u16_at(pos + 2)?;
                let ttl_hi = u16_at(pos + 4)?;
                let ttl_lo = u16_at(pos + 6)?;
                let len = usize::from(u16_at(pos + 8)?);
                let start = pos + 10;
                let end = start + len;
                if end > b.len() {
                    return Err("RDATA runs past the end of the message".into());
                }
                if rtype == TYPE_OPT {
                    rcode_high = ttl_hi.to_be_bytes()[0];
                    opt = Some(RawOpt {
                        payload: class,
                        dnssec_ok: ttl_lo & 0x8000 != 0,
                        rdata: b[start..end].to_vec(),
                    });
                }
                section.push(RawRecord {
                    rtype,
                    rdata: start..end,
                });
                pos = end;
            }
        }
        let [answer, authority, additional] = sections;
        Ok(Self {
            rcode_low: b[3] & 0x0f,
            rcode_high,
            answer,
            authority,
            additional,
            opt,
        })
    }
}

/// Returns the offset just past the (possibly compressed) name at `pos`.
fn skip_name(b: &[u8], mut pos: usize) -> Result<usize, String> {
    // A name has at most 128 labels (RFC 1035 §3.1: 255 octets).
    for _ in 0..128 {
        let len = *b.get(pos).ok_or("name runs past the end of the message")?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => {
                if pos + 2 > b.len() {
                    return Err("compression pointer truncated".into());
                }
                return Ok(pos + 2);
            }
            l if l & 0xc0 != 0 => return Err(format!("reserved label type {l:#x}")),
            l => pos += 1 + usize::from(l),
        }
    }
    Err("name has too many labels".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ede_parsing() {
        let mut opt = vec![0, 15, 0, 8, 0, 7];
        opt.extend_from_slice(b"expir");
        opt.push(0);
        // An unrelated option first would shift; put a cookie after.
        opt.extend_from_slice(&[0, 10, 0, 2, 1, 2]);
        let ede = parse_ede(&opt);
        assert_eq!(ede.len(), 1);
        assert_eq!(ede[0].info_code, 7);
        assert_eq!(ede[0].extra_text, "expir");
        assert_eq!(ede[0].purpose, Some("Signature Expired"));
        assert!(parse_ede(&[0, 15, 0, 9, 0]).is_empty());
    }

    #[test]
    fn response_evidence_keeps_ede_flags_and_wire_rdata() {
        use hickory_proto::rr::{
            RData, Record,
            rdata::{CAA, opt::EdnsOption},
        };
        let name = Name::from_ascii("Example.LAB.").unwrap();
        let query = encode_query(99, &name, RecordType::CAA).unwrap();
        let mut msg = Message::from_vec(&query).unwrap();
        msg.metadata.message_type = MessageType::Response;
        msg.metadata.authoritative = true;
        msg.metadata.response_code = hickory_proto::op::ResponseCode::ServFail;
        let caa = CAA::new_issue(true, Some(Name::from_ascii("ca.example").unwrap()), vec![]);
        msg.add_answer(Record::from_rdata(name.clone(), 300, RData::CAA(caa)));
        let mut edns = Edns::new();
        let mut ede = vec![0, 7];
        ede.extend_from_slice(b"signature expired");
        edns.options_mut()
            .insert(EdnsOption::Unknown(EDNS_OPTION_EDE, ede));
        msg.set_edns(edns);
        let bytes = msg.to_vec().unwrap();
        // qname compared case-insensitively (RFC 4343).
        let lower = Name::from_ascii("example.lab.").unwrap();
        let d = decode_response(&bytes, 99, &lower, RecordType::CAA).unwrap();
        assert_eq!(d.evidence.rcode, Rcode::SERVFAIL);
        assert!(d.evidence.flags.aa && !d.evidence.flags.tc);
        assert_eq!(d.evidence.extended_errors[0].info_code, 7);
        assert_eq!(
            d.evidence.extended_errors[0].extra_text,
            "signature expired"
        );
        let rec = &d.evidence.answer[0];
        assert_eq!(rec.rtype, RecordType::CAA);
        assert_eq!(rec.wire_rdata[0], 0x80, "critical flag kept");
        assert_eq!(&rec.wire_rdata[2..7], b"issue");
        assert_eq!(&rec.wire_rdata[7..], b"ca.example");
        // Wrong id or type: rejected as not ours.
        assert!(matches!(
            decode_response(&bytes, 98, &lower, RecordType::CAA),
            Err(DecodeFailure::Mismatched(_))
        ));
        assert!(matches!(
            decode_response(&bytes, 99, &lower, RecordType::TXT),
            Err(DecodeFailure::Mismatched(_))
        ));
    }

    #[test]
    fn query_round_trip() {
        let name = Name::from_ascii("www.Example.lab.").unwrap();
        let q = encode_query(4242, &name, RecordType::CAA).unwrap();
        let msg = Message::from_vec(&q).unwrap();
        assert_eq!(msg.metadata.id, 4242);
        assert!(msg.edns.as_ref().unwrap().flags().dnssec_ok);
        assert_eq!(msg.edns.as_ref().unwrap().max_payload(), 1232);
        // Without EDNS: no OPT record at all (RFC 1035, 512-byte UDP).
        let plain = encode_query_with(4242, &name, RecordType::CAA, false).unwrap();
        let msg = Message::from_vec(&plain).unwrap();
        assert!(msg.edns.is_none());
        assert_eq!(u16::from_be_bytes([plain[10], plain[11]]), 0, "ARCOUNT 0");
        // A query is not a response.
        assert!(matches!(
            decode_response(&q, 4242, &name, RecordType::CAA),
            Err(DecodeFailure::Mismatched(_))
        ));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let name = Name::from_ascii("www.example.lab.").unwrap();
            let _ = decode_response(&bytes, 1, &name, RecordType::A);
            let _ = parse_ede(&bytes);
        }

        /// A valid header and question followed by garbage never panics.
        #[test]
        fn garbage_after_question_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..600),
            counts in proptest::array::uniform6(any::<u8>()),
        ) {
            let name = Name::from_ascii("www.example.lab.").unwrap();
            let mut bytes = encode_query(7, &name, RecordType::A).unwrap();
            bytes[2] |= 0x80;
            bytes[6..12].copy_from_slice(&counts);
            bytes.truncate(12 + 17 + 4);
            bytes.extend_from_slice(&tail);
            let _ = decode_response(&bytes, 7, &name, RecordType::A);
        }
    }
}

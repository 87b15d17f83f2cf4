//! The hickory boundary: query encoding, response decoding, EDE parsing and
//! wire RDATA extraction. Nothing hickory-typed leaves this crate.

use std::fmt::Write as _;

use hickory_proto::{
    op::{Edns, Header, Message, MessageType, Metadata, OpCode, Query},
    rr::{DNSClass, Name, RData, Record, rdata::NULL},
    serialize::binary::{BinDecodable, BinDecoder},
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
    let msg = read_message(bytes).map_err(DecodeFailure::Unparseable)?;
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

    let ParsedMessage {
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
    let rdata = match &r.data {
        RData::Unknown { code, rdata } if *code == RecordType::CAA.to_hickory() => {
            caa_presentation(&rdata.anything)
        }
        other => other.to_string(),
    };
    RecordEvidence {
        name: DnsName::from_hickory(&r.name),
        rtype: RecordType::from_hickory(r.record_type()),
        ttl: r.ttl,
        rdata,
        wire_rdata,
    }
}

/// A decoded message: header, question and the three record sections (OPT
/// and TSIG dropped from the additional section, as hickory does; the raw
/// scan keeps them).
struct ParsedMessage {
    metadata: Metadata,
    queries: Vec<Query>,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
}

/// Decodes a message as hickory's `Message::read` does, except that CAA
/// records are not handed to hickory's CAA reader: their RDATA is kept as raw
/// bytes (`RData::Unknown` with type CAA).
///
/// hickory 0.26 rejects tags longer than 15 octets, but RFC 8659 §4.1 only
/// requires a tag length of at least 1 (no MUST caps it below the 255 octets
/// the length field allows), and one such record made the whole response
/// unparseable. A CA (Boulder, through miekg/dns) reads the record and
/// ignores the unknown tag unless it is critical (RFC 8659 §4.1.1), so the
/// record's meaning is left to the CAA policy, which parses the raw RDATA. CAA RDATA holds no domain names, so the
/// raw bytes are also its canonical form for RRSIG verification (RFC 4034
/// §6.2) and hickory emits `Unknown` RDATA unchanged.
fn read_message(bytes: &[u8]) -> Result<ParsedMessage, String> {
    let err = |e: hickory_proto::serialize::binary::DecodeError| e.to_string();
    let mut decoder = BinDecoder::new(bytes);
    let Header { metadata, counts } = Header::read(&mut decoder).map_err(err)?;
    let queries = Message::read_queries(&mut decoder, usize::from(counts.queries))
        .map_err(|e| e.to_string())?;
    let op = metadata.op_code;
    let mut answers = Vec::new();
    let mut authorities = Vec::new();
    let mut additionals = Vec::new();
    let sections = [
        (&mut answers, counts.answers, false),
        (&mut authorities, counts.authorities, false),
        (&mut additionals, counts.additionals, true),
    ];
    let mut has_opt = false;
    let mut signed = false;
    for (section, count, is_additional) in sections {
        for _ in 0..count {
            // RFC 8945 §5.1: a TSIG record is the last one of the message.
            if signed {
                return Err("record after the message signature".into());
            }
            if let Some(record) = read_raw_caa(&mut decoder)? {
                section.push(record);
                continue;
            }
            let (records, opt, sig) =
                Message::read_records(&mut decoder, 1, is_additional, op).map_err(err)?;
            section.extend(records);
            if opt.is_some() {
                if has_opt {
                    return Err("more than one OPT record (RFC 6891 §6.1.1)".into());
                }
                has_opt = true;
            }
            signed |= sig.is_some();
        }
    }
    Ok(ParsedMessage {
        metadata,
        queries,
        answers,
        authorities,
        additionals,
    })
}

/// Reads the record at the decoder's position if it is a CAA record with
/// RDATA, keeping the RDATA as raw bytes; otherwise leaves the decoder where
/// it was and returns `None` (an empty RDATA is left to hickory, which treats
/// it as an RFC 2136 update prerequisite).
fn read_raw_caa<'a>(decoder: &mut BinDecoder<'a>) -> Result<Option<Record>, String> {
    let Ok(start) = u16::try_from(decoder.index()) else {
        // Past 64 KiB: not a DNS message; hickory reports the error.
        return Ok(None);
    };
    let mut peek: BinDecoder<'a> = decoder.clone(start);
    let Ok(name) = Name::read(&mut peek) else {
        return Ok(None);
    };
    let mut header = [0u8; 10];
    for b in &mut header {
        let Ok(v) = peek.read_u8() else {
            return Ok(None);
        };
        *b = v.unverified(/* fixed-width RR header field */);
    }
    let rtype = u16::from_be_bytes([header[0], header[1]]);
    let class = u16::from_be_bytes([header[2], header[3]]);
    let ttl = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let len = usize::from(u16::from_be_bytes([header[8], header[9]]));
    if rtype != RecordType::CAA.0 || len == 0 {
        return Ok(None);
    }
    let rdata = peek
        .read_slice(len)
        .map_err(|e| format!("CAA RDATA: {e}"))?
        .unverified(/* kept as uninterpreted bytes */)
        .to_vec();
    let mut record = Record::from_rdata(
        name,
        ttl,
        RData::Unknown {
            code: RecordType::CAA.to_hickory(),
            rdata: NULL::with(rdata),
        },
    );
    record.dns_class = DNSClass::from(class);
    *decoder = peek;
    Ok(Some(record))
}

/// Presentation form of CAA RDATA, `flags tag "value"` (RFC 8659 §4.1.1), as
/// hickory displays a CAA record; a record too short to hold its tag is shown
/// in the generic form of RFC 3597 §5.
fn caa_presentation(rdata: &[u8]) -> String {
    if let [flags, tag_len, rest @ ..] = rdata {
        let tag_len = usize::from(*tag_len);
        if tag_len > 0 && tag_len <= rest.len() {
            let (tag, value) = rest.split_at(tag_len);
            return format!(
                "{flags} {} \"{}\"",
                String::from_utf8_lossy(tag),
                String::from_utf8_lossy(value)
            );
        }
    }
    let mut out = format!("\\# {}", rdata.len());
    if !rdata.is_empty() {
        out.push(' ');
        for b in rdata {
            let _ = write!(out, "{b:02x}");
        }
    }
    out
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

    /// A response to `long.example.lab. CAA` (id 7) whose answer holds the
    /// given CAA RDATAs, owners compressed to the question name.
    fn caa_response(rdatas: &[&[u8]]) -> (Vec<u8>, Name) {
        let name = Name::from_ascii("long.example.lab.").unwrap();
        let mut b = encode_query_with(7, &name, RecordType::CAA, false).unwrap();
        b[2] |= 0x84; // QR, AA
        b[6..8].copy_from_slice(&u16::try_from(rdatas.len()).unwrap().to_be_bytes());
        for rdata in rdatas {
            b.extend_from_slice(&[0xc0, 12, 1, 1, 0, 1, 0, 0, 1, 44]);
            b.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
            b.extend_from_slice(rdata);
        }
        (b, name)
    }

    /// RFC 8659 §4.1: a tag longer than 15 octets (hickory's CAA reader
    /// refuses it) is read, its RDATA kept byte for byte as `Unknown` CAA
    /// RDATA, and the other records of the response survive.
    #[test]
    fn caa_tags_longer_than_15_octets_are_kept_raw() {
        let long = b"\x00\x13contactphonenumbers+1 555 0100".as_slice();
        let issue = b"\x80\x05issueca.example".as_slice();
        let (bytes, name) = caa_response(&[long, issue]);
        let d = decode_response(&bytes, 7, &name, RecordType::CAA).unwrap();
        assert_eq!(d.answers.len(), 2);
        for (r, rdata) in d.answers.iter().zip([long, issue]) {
            assert_eq!(r.name, name);
            assert_eq!(r.record_type(), RecordType::CAA.to_hickory());
            assert_eq!(r.dns_class, DNSClass::IN);
            assert_eq!(r.ttl, 300);
            assert!(matches!(&r.data, RData::Unknown { rdata: raw, .. } if raw.anything == rdata));
        }
        let ev = &d.evidence.answer;
        assert_eq!(ev[0].wire_rdata, long);
        assert_eq!(ev[0].rdata, "0 contactphonenumbers \"+1 555 0100\"");
        assert_eq!(ev[1].rdata, "128 issue \"ca.example\"");
        // The raw form emits the same RDATA, so RRSIGs verify over it
        // (RFC 4034 §6.2: CAA has no names to canonicalise).
        assert_eq!(
            hickory_proto::serialize::binary::BinEncodable::to_bytes(&d.answers[0].data).unwrap(),
            long
        );
    }

    /// A CAA RDATA the policy cannot parse (tag length 0) no longer makes the
    /// response unparseable: the CAA policy reports it (RFC 8659 §4.1).
    /// An empty RDATA is still refused, as hickory refuses RFC 2136 update
    /// prerequisites in a response.
    #[test]
    fn malformed_caa_rdata_is_left_to_the_policy() {
        let (bytes, name) = caa_response(&[b"\x00\x00"]);
        let d = decode_response(&bytes, 7, &name, RecordType::CAA).unwrap();
        assert_eq!(d.evidence.answer[0].wire_rdata, b"\x00\x00");
        assert_eq!(d.evidence.answer[0].rdata, "\\# 2 0000");
        let (bytes, name) = caa_response(&[b""]);
        assert!(matches!(
            decode_response(&bytes, 7, &name, RecordType::CAA),
            Err(DecodeFailure::Unparseable(_))
        ));
        // RDATA running past the end of the message.
        let (mut bytes, name) = caa_response(&[b"\x00\x05issue"]);
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(
            decode_response(&bytes, 7, &name, RecordType::CAA),
            Err(DecodeFailure::Unparseable(_))
        ));
    }

    /// The section rules hickory applies still hold: one OPT record, only in
    /// the additional section (RFC 6891 §6.1.1).
    #[test]
    fn opt_rules_still_apply() {
        let (mut bytes, name) = caa_response(&[b"\x00\x05issueca.example"]);
        let opt = [0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0];
        bytes[10..12].copy_from_slice(&2u16.to_be_bytes());
        bytes.extend_from_slice(&opt);
        bytes.extend_from_slice(&opt);
        assert!(matches!(
            decode_response(&bytes, 7, &name, RecordType::CAA),
            Err(DecodeFailure::Unparseable(_))
        ));
        bytes[10..12].copy_from_slice(&1u16.to_be_bytes());
        bytes.truncate(bytes.len() - opt.len());
        let d = decode_response(&bytes, 7, &name, RecordType::CAA).unwrap();
        assert_eq!(d.evidence.edns_payload, Some(1232));
        assert!(d.additional.is_empty(), "OPT is not a record");
        // OPT in the answer section.
        let (mut bytes, name) = caa_response(&[]);
        bytes[6..8].copy_from_slice(&1u16.to_be_bytes());
        bytes.extend_from_slice(&opt);
        assert!(matches!(
            decode_response(&bytes, 7, &name, RecordType::CAA),
            Err(DecodeFailure::Unparseable(_))
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

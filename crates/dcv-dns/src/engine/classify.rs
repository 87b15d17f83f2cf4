//! What one server's reply means (RFC 1034 §4.3.2, RFC 2308 §2), and which
//! reply a resolver picks among a zone's servers.

use std::sync::Arc;

use hickory_proto::{
    rr::{Name, RData, Record, RecordType as HType},
    serialize::binary::BinDecodable,
};

use crate::{
    evidence::ExchangeResult,
    lookup::{AliasKind, LameReason, NameServer, ServerVerdict},
    security::ServerFailure,
    transport::ServerReply,
    types::{DnsName, Rcode, RecordType},
    wire::Decoded,
};

/// One failure line per server that gave no usable reply, for the evidence.
pub(super) fn failures(servers: &[NameServer], verdicts: &[ServerVerdict]) -> Vec<ServerFailure> {
    servers
        .iter()
        .zip(verdicts)
        .map(|(s, v)| ServerFailure {
            server: s.addr,
            reason: v.failure_text(),
        })
        .collect()
}

/// The alias to follow from `qname`: its CNAME, or a DNAME at an ancestor
/// (RFC 6672 §2.2 substitution).
pub(super) fn alias_target(
    answers: &[Record],
    qname: &Name,
    qtype: RecordType,
) -> Option<(AliasKind, DnsName)> {
    // A DNAME at an ancestor wins over the CNAME synthesised from it
    // (RFC 6672 §3.4): the DNAME is the signed, authoritative record.
    if qtype != RecordType::DNAME {
        let dname = answers.iter().find_map(|r| {
            if r.record_type() != HType::DNAME || !r.name.zone_of(qname) || &r.name == qname {
                return None;
            }
            // hickory has no DNAME type: the target is the raw, uncompressed
            // name in RDATA (RFC 6672 §2.5).
            let RData::Unknown { rdata, .. } = &r.data else {
                return None;
            };
            let dname = <Name as BinDecodable>::from_bytes(&rdata.anything).ok()?;
            let keep = usize::from(qname.num_labels().saturating_sub(r.name.num_labels()));
            let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
            let target = Name::from_labels(prefix).ok()?.append_domain(&dname).ok()?;
            Some((AliasKind::Dname, DnsName::from_hickory(&target)))
        });
        if dname.is_some() {
            return dname;
        }
    }
    if qtype == RecordType::CNAME {
        return None;
    }
    answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if &r.name == qname => {
            Some((AliasKind::Cname, DnsName::from_hickory(&c.0)))
        }
        _ => None,
    })
}

/// Whether a response's answer section aliases the query name (a CNAME at it,
/// or a DNAME above it).
fn answers_with_alias(ev: &crate::evidence::ResponseEvidence, qname: &DnsName) -> bool {
    ev.answer.iter().any(|r| {
        (r.rtype == RecordType::CNAME && &r.name == qname)
            || (r.rtype == RecordType::DNAME && qname.is_subdomain_of(&r.name) && &r.name != qname)
    })
}

/// Classifies one server's reply to (`qname`, `qtype`) asked at a server of
/// `zone` (RFC 1034 §4.3.2, RFC 2308 §2).
fn classify(zone: &DnsName, qname: &DnsName, reply: &ServerReply) -> ServerVerdict {
    let Some(d) = &reply.decoded else {
        return match reply.last().map(|e| &e.result) {
            None => ServerVerdict::NotAsked,
            Some(ExchangeResult::Timeout) => ServerVerdict::Timeout,
            Some(ExchangeResult::NetworkError { cause, error }) => ServerVerdict::NetworkError {
                cause: *cause,
                error: error.clone(),
            },
            Some(ExchangeResult::Unparseable { error, .. }) => ServerVerdict::Unparseable {
                error: error.clone(),
            },
            Some(ExchangeResult::Mismatched { detail }) => ServerVerdict::Mismatched {
                detail: detail.clone(),
            },
            Some(ExchangeResult::NotQueried { range, .. }) => ServerVerdict::NotQueried {
                range: range.clone(),
            },
            Some(ExchangeResult::Response(_)) => ServerVerdict::Lame {
                reason: LameReason::ResponseLost,
            },
        };
    };
    let ev = &d.evidence;
    if ev.flags.tc {
        return ServerVerdict::Lame {
            reason: LameReason::TruncatedAndTcpFailed,
        };
    }
    match ev.rcode {
        // RFC 6604 §3: when the answer carries a CNAME/DNAME for the query
        // name, the RCODE speaks of the last name of the chain. Treat it as an
        // alias answer: the walk follows the chain and proves the denial for
        // the name it belongs to (RFC 4035 §5.4), as Unbound does.
        Rcode::NOERROR => {}
        Rcode::NXDOMAIN if answers_with_alias(ev, qname) => {}
        Rcode::NXDOMAIN => return ServerVerdict::NxDomain,
        Rcode::SERVFAIL => return ServerVerdict::ServFail,
        Rcode::REFUSED => return ServerVerdict::Refused,
        rcode => return ServerVerdict::OtherRcode { rcode },
    }
    if ev.flags.aa {
        let records: Vec<_> = ev
            .answer
            .iter()
            .filter(|r| r.rtype != RecordType::RRSIG)
            .cloned()
            .collect();
        return if records.is_empty() {
            ServerVerdict::NoData
        } else {
            ServerVerdict::Answer {
                records: ev.answer.clone(),
            }
        };
    }
    let qname_h = qname.to_hickory();
    let zone_h = zone.to_hickory();
    let ns_owner = d.authority.iter().find_map(|r| match &r.data {
        RData::NS(_) => Some(r.name.clone()),
        _ => None,
    });
    if ev.answer.is_empty() {
        if let Some(owner) = ns_owner {
            if owner != zone_h && zone_h.zone_of(&owner) && owner.zone_of(&qname_h) {
                let ns = d
                    .authority
                    .iter()
                    .filter(|r| r.name == owner)
                    .filter_map(|r| match &r.data {
                        RData::NS(n) => Some(DnsName::from_hickory(&n.0)),
                        _ => None,
                    })
                    .collect();
                return ServerVerdict::Referral {
                    zone: DnsName::from_hickory(&owner),
                    ns,
                };
            }
            let owner = DnsName::from_hickory(&owner);
            let reason = if owner == *zone {
                LameReason::SelfReferral { zone: owner }
            } else {
                LameReason::ReferralNotBelow { owner }
            };
            return ServerVerdict::Lame { reason };
        }
        if d.authority.iter().any(|r| r.record_type() == HType::SOA) {
            return ServerVerdict::NoData;
        }
        return ServerVerdict::Lame {
            reason: LameReason::NoAuthority,
        };
    }
    // An answer without AA: usable (Unbound takes it), flagged in the evidence.
    ServerVerdict::Answer {
        records: ev.answer.clone(),
    }
}

/// [`classify`], plus: a DS query must be answered by the parent itself
/// (RFC 4035 §3.1.4.1), so a referral to the DS owner is lame.
pub(super) fn classify_for(
    zone: &DnsName,
    qname: &DnsName,
    qtype: RecordType,
    reply: &ServerReply,
) -> ServerVerdict {
    match classify(zone, qname, reply) {
        ServerVerdict::Referral { zone, .. } if qtype == RecordType::DS && &zone == qname => {
            ServerVerdict::Lame {
                reason: LameReason::ReferralForDs { zone },
            }
        }
        v => v,
    }
}

/// An authoritative answer or a referral: what a resolver goes on with.
pub(super) fn authoritative_or_referral(reply: &ServerReply, verdict: &ServerVerdict) -> bool {
    is_aa(reply) || matches!(verdict, ServerVerdict::Referral { .. })
}

/// The reply carried an OPT record: it came over EDNS, so it can carry
/// DNSSEC records (a plain-DNS reply after the RFC 6891 §7 fallback cannot).
pub(super) fn answered_with_edns(reply: &ServerReply) -> bool {
    reply
        .decoded
        .as_ref()
        .is_some_and(|d| d.evidence.edns_payload.is_some())
}

pub(super) fn is_aa(reply: &ServerReply) -> bool {
    reply.decoded.as_ref().is_some_and(|d| d.evidence.flags.aa)
}

/// Whether a negative reply to a DS query at `qname` comes from the child's
/// side of the cut: its SOA is owned by `qname` itself. A server that serves
/// parent and child must answer DS from the parent (RFC 4035 §3.1.4.1);
/// Unbound reads such a reply as "too low" (`iter_ds_toolow`) and asks the
/// parent's servers again.
pub(super) fn ds_from_child(decoded: &Decoded, qname: &DnsName) -> bool {
    let qname_h = qname.to_hickory();
    qname.label_count() > 0
        && decoded
            .authority
            .iter()
            .any(|r| r.record_type() == HType::SOA && r.name == qname_h)
}

/// [`choose`] for one question. For DS, a denial from the child's side of
/// the cut ([`ds_from_child`]) is taken only when no server answered from
/// the parent's side.
pub(super) fn choose_for(
    qname: &DnsName,
    qtype: RecordType,
    replies: &[Arc<ServerReply>],
    verdicts: &[ServerVerdict],
) -> Option<usize> {
    if qtype == RecordType::DS {
        let parent_side = |i: usize| {
            !(matches!(verdicts[i], ServerVerdict::NoData | ServerVerdict::NxDomain)
                && replies[i]
                    .decoded
                    .as_ref()
                    .is_some_and(|d| ds_from_child(d, qname)))
        };
        let usable: Vec<usize> = (0..verdicts.len())
            .filter(|&i| verdicts[i].is_usable() && parent_side(i))
            .collect();
        if let Some(i) = pick(&usable, replies, verdicts) {
            return Some(i);
        }
    }
    choose(replies, verdicts)
}

/// The resolver's pick: the first usable authoritative answer (or referral)
/// with EDNS, else any usable answer with EDNS (one without AA included:
/// Unbound takes it), else the first authoritative one, else any, as
/// Unbound does. A server that only answered without EDNS (RFC 6891 §7
/// fallback) cannot send DNSSEC records, and Unbound avoids such a server
/// in a signed zone (`dnsseclame`, `iterator/iter_utils.c`) and uses
/// another's answer: an authoritative answer without RRSIGs would make a
/// signed zone bogus where a non-authoritative one with them validates
/// (generated world seed 12978).
pub(super) fn choose(replies: &[Arc<ServerReply>], verdicts: &[ServerVerdict]) -> Option<usize> {
    let usable: Vec<usize> = (0..verdicts.len())
        .filter(|&i| verdicts[i].is_usable())
        .collect();
    pick(&usable, replies, verdicts)
}

/// The first of `usable` by preference: authoritative (or a referral) with
/// EDNS, with EDNS, authoritative, any.
fn pick(
    usable: &[usize],
    replies: &[Arc<ServerReply>],
    verdicts: &[ServerVerdict],
) -> Option<usize> {
    let decisive = |i: usize| authoritative_or_referral(&replies[i], &verdicts[i]);
    let with_edns = |i: usize| answered_with_edns(&replies[i]);
    let first = |ok: &dyn Fn(usize) -> bool| usable.iter().copied().find(|&i| ok(i));
    first(&|i| decisive(i) && with_edns(i))
        .or_else(|| first(&with_edns))
        .or_else(|| first(&decisive))
        .or_else(|| usable.first().copied())
}

//! One lookup as a resolver returns it: walk to the authoritative answer,
//! validate it, follow CNAME/DNAME links (RFC 1034 §3.6.2, RFC 6672) with a
//! bound, and fold the outcome and security of every link.

use std::sync::Arc;

use crate::{
    limits,
    lookup::{ChainLink, CutSource, Lookup, Outcome, ServFailReason, ServerVerdict, ZoneCut},
    security::{IndeterminateReason, InsecureReason, RrsetId, Security, ServerFailure},
    types::{DnsName, RecordType},
};

use super::Engine;

use super::classify::{alias_target, ds_from_child};
use super::ctx::Ctx;
use super::walk::WalkEnd;

impl Engine {
    pub(super) async fn resolve(&self, name: &DnsName, qtype: RecordType) -> Lookup {
        let mut ctx = Ctx::default();
        let mut chain: Vec<ChainLink> = Vec::new();
        let mut visited = vec![name.clone()];
        let mut current = name.clone();
        let mut security = Security::Secure;
        let outcome = loop {
            if chain.len() > limits::MAX_CNAME_CHAIN {
                break Outcome::ServFail {
                    why: ServFailReason::AliasChainTooLong {
                        limit: limits::MAX_CNAME_CHAIN,
                    },
                };
            }
            let end = self.walk(&current, qtype, &[], &mut ctx, true).await;
            let end = parent_side_only(end, &current, qtype, &ctx);
            let (cut, verdict, decoded) = match end {
                WalkEnd::Fail(why) if self.anchor_zone(&current).is_none() => {
                    security = security.worst(Security::Insecure(InsecureReason::NoTrustAnchor {
                        name: current.clone(),
                    }));
                    break Outcome::ServFail { why };
                }
                WalkEnd::Fail(why) => {
                    // BR 3.2.2.8 lets a CA treat a failed lookup as permission
                    // only in a zone proven Insecure (RFC 4035 §4.3): when the
                    // failing zone's parent proves it has no DS, say so.
                    let proven_insecure = match &why {
                        ServFailReason::AllServersFailed { zone, .. } => {
                            let zk = self.zone_keys(zone, CutSource::Referral).await;
                            ctx.add_keys(&zk, self.inner.id);
                            matches!(zk.security, Security::Insecure(_))
                                .then(|| zk.security.clone())
                        }
                        _ => None,
                    };
                    security = security.worst(match (&why, proven_insecure) {
                        (_, Some(insecure)) => insecure,
                        (ServFailReason::AllServersFailed { zone, failures }, None) => {
                            Security::Indeterminate(IndeterminateReason::FetchFailed {
                                zone: zone.clone(),
                                rrset: RrsetId {
                                    owner: current.clone(),
                                    rtype: qtype,
                                },
                                failures: failures.clone(),
                            })
                        }
                        (ServFailReason::BudgetExhausted { limit }, None) => {
                            Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                                limit: *limit,
                            })
                        }
                        (_, None) => Security::Indeterminate(IndeterminateReason::NoServers {
                            zone: current.clone(),
                        }),
                    });
                    break Outcome::ServFail { why };
                }
                WalkEnd::Final {
                    cut,
                    verdict,
                    decoded,
                } => (cut, verdict, decoded),
            };
            let mut link_security = self
                .validate(&current, qtype, &cut, &verdict, &decoded, &mut ctx)
                .await;
            let walked_zone = cut.zone.clone();
            let mut cut = answering_zone(&mut ctx, &current, qtype, cut);
            let (mut verdict, mut decoded) = (verdict, decoded);
            // A zone below the walked one (found by validation without a
            // referral, or meanwhile by another lookup's referral) whose
            // co-hosting servers gave a bogus answer: its own servers once
            // more, as a validator restarts (retry.rs).
            let below = if !matches!(link_security, Security::Bogus(_)) || qtype == RecordType::DS {
                None
            } else if cut.zone != walked_zone {
                Some(cut.clone())
            } else {
                Some(self.closest_cut(&current))
                    .filter(|c| c.zone.label_count() > walked_zone.label_count())
            };
            if let Some(below) = below
                && let Some(retried) = self.retry_below(&current, qtype, &below, &mut ctx).await
            {
                let again = self
                    .validate(
                        &current,
                        qtype,
                        &retried.cut,
                        &retried.verdict,
                        &retried.decoded,
                        &mut ctx,
                    )
                    .await;
                if !matches!(again, Security::Bogus(_)) {
                    for a in &mut ctx.answers[..retried.first_answer] {
                        if a.qname == current && a.qtype == qtype {
                            a.chosen = false;
                        }
                    }
                    link_security = again;
                    cut = retried.cut;
                    verdict = retried.verdict;
                    decoded = retried.decoded;
                }
            }
            security = security.worst(link_security.clone());
            match &link_security {
                Security::Bogus(r) => {
                    break Outcome::ServFail {
                        why: ServFailReason::Bogus(r.clone()),
                    };
                }
                Security::Indeterminate(r) => {
                    break Outcome::ServFail {
                        why: ServFailReason::Indeterminate(r.clone()),
                    };
                }
                _ => {}
            }
            match verdict {
                ServerVerdict::NxDomain => break Outcome::NxDomain,
                ServerVerdict::Answer { .. } => {}
                _ => break Outcome::NoData,
            }
            let qname_h = current.to_hickory();
            // `answers` and `evidence.answer` are index-aligned (wire.rs).
            let finals: Vec<_> = decoded
                .answers
                .iter()
                .zip(&decoded.evidence.answer)
                .filter(|(r, _)| r.name == qname_h && r.record_type() == qtype.to_hickory())
                .map(|(_, ev)| ev.clone())
                .collect();
            if !finals.is_empty() {
                break Outcome::Answer { records: finals };
            }
            let Some((kind, target)) = alias_target(&decoded.answers, &qname_h, qtype) else {
                break Outcome::NoData;
            };
            chain.push(ChainLink {
                owner: current.clone(),
                target: target.clone(),
                kind,
                zone: cut.zone.clone(),
                security: link_security,
            });
            if visited.contains(&target) {
                visited.push(target);
                break Outcome::ServFail {
                    why: ServFailReason::AliasLoop { names: visited },
                };
            }
            visited.push(target.clone());
            current = target;
        };
        self.collect_late(&mut ctx).await;
        let mut zone_cuts = ctx.cuts;
        // A referral names the cut the walk asked, which may lie above the
        // zone the referral came from (one server serving lab. and co.lab.
        // refers to example.co.lab. from co.lab.): the zone whose DS RRset
        // (or proof of none) validation used is the one that delegates.
        for c in &mut zone_cuts {
            let delegated_by = ctx
                .steps
                .iter()
                .find(|s| s.zone == c.zone)
                .and_then(|s| s.parent.clone());
            if delegated_by.is_some() {
                c.parent = delegated_by;
            }
        }
        zone_cuts.sort_by_key(|c| c.zone.label_count());
        Lookup {
            qname: name.clone(),
            qtype,
            outcome,
            security,
            chain,
            zone_cuts,
            server_answers: ctx.answers,
            validation: ctx.steps,
            exchanges: ctx.exchanges,
        }
    }
}

/// A DS question is the parent's to answer (RFC 4035 §3.1.4.1). When every
/// server answered it from the child's side (the child's SOA: the servers
/// serve both and picked the child), the resolver has no parent-side answer
/// to give: Unbound re-asks the parent's servers (`iter_ds_toolow`) and,
/// getting the child's answer again, fails the query.
fn parent_side_only(end: WalkEnd, qname: &DnsName, qtype: RecordType, ctx: &Ctx) -> WalkEnd {
    let WalkEnd::Final {
        cut,
        verdict: ServerVerdict::NoData | ServerVerdict::NxDomain,
        decoded,
    } = &end
    else {
        return end;
    };
    if qtype != RecordType::DS || !ds_from_child(decoded, qname) {
        return end;
    }
    let failures = ctx
        .answers
        .iter()
        .filter(|a| &a.qname == qname && a.qtype == qtype && a.zone == cut.zone)
        .map(|a| ServerFailure {
            server: a.server.addr,
            reason: match a.verdict {
                ServerVerdict::NoData | ServerVerdict::NxDomain => format!(
                    "answered the DS query from the child zone {qname} itself (RFC 4035 §3.1.4.1)"
                ),
                ref other => other.failure_text(),
            },
        })
        .collect();
    WalkEnd::Fail(ServFailReason::AllServersFailed {
        zone: cut.zone.clone(),
        failures,
    })
}

/// The zone that answered (`current`, `qtype`): the walked cut, or a cut
/// below it that validation found on the same servers (no referral). The
/// servers' answers and denials are then marked as that zone's, referrals
/// stay the walked cut's.
fn answering_zone(
    ctx: &mut Ctx,
    current: &DnsName,
    qtype: RecordType,
    walked: Arc<ZoneCut>,
) -> Arc<ZoneCut> {
    let Some(found) = ctx
        .cuts
        .iter()
        .filter(|c| {
            matches!(c.found_by, CutSource::SignerName | CutSource::DsProbe)
                && current.is_subdomain_of(&c.zone)
                && c.zone.label_count() > walked.zone.label_count()
                && c.zone.is_subdomain_of(&walked.zone)
        })
        .max_by_key(|c| c.zone.label_count())
        .cloned()
    else {
        return walked;
    };
    for a in &mut ctx.answers {
        if &a.qname == current
            && a.qtype == qtype
            && a.zone == walked.zone
            && matches!(
                a.verdict,
                ServerVerdict::Answer { .. } | ServerVerdict::NoData | ServerVerdict::NxDomain
            )
        {
            a.zone = found.zone.clone();
        }
    }
    Arc::new(found)
}

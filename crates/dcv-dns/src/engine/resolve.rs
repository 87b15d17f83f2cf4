//! One lookup as a resolver returns it: walk to the authoritative answer,
//! validate it, follow CNAME/DNAME links (RFC 1034 §3.6.2, RFC 6672) with a
//! bound, and fold the outcome and security of every link.

use crate::{
    limits,
    lookup::{ChainLink, Lookup, Outcome, ServFailReason, ServerVerdict},
    security::{IndeterminateReason, InsecureReason, RrsetId, Security},
    types::{DnsName, RecordType},
};

use super::Engine;

use super::classify::alias_target;
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
                            let zk = self.zone_keys(zone).await;
                            ctx.add_keys(&zk);
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
            let link_security = self
                .validate(&current, qtype, &cut, &verdict, &decoded, &mut ctx)
                .await;
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

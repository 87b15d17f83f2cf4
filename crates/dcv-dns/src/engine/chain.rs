//! The chain of trust (RFC 4035 §5): each zone's DS and DNSKEY validated
//! from the trust anchor down, and the RRSIG and denial checks on an
//! authoritative response.

use std::sync::Arc;

use hickory_proto::rr::{Name, Record, RecordType as HType};

use crate::{
    config::TrustAnchor,
    dnssec::{self, Denial, DenialGoal},
    evidence::Exchange,
    limits,
    lookup::{KeySummary, ServerAnswer, ServerVerdict, ValidationStep, ZoneCut},
    security::{BogusReason, IndeterminateReason, InsecureReason, RrsetId, Security},
    types::{DnsName, RecordType},
    wire::Decoded,
};

use super::{BoxFuture, Engine, lock};

use super::ask::Fetch;
use super::ctx::Ctx;

/// A zone's validated keys (RFC 4035 §5.2) and how we got there.
#[derive(Debug)]
pub(super) struct ZoneKeys {
    pub(super) security: Security,
    pub(super) keys: Vec<hickory_proto::dnssec::rdata::DNSKEY>,
    pub(super) step: Option<ValidationStep>,
    pub(super) parent: Option<Arc<ZoneKeys>>,
    pub(super) answers: Vec<ServerAnswer>,
    pub(super) exchanges: Vec<Exchange>,
}

impl ZoneKeys {
    fn leaf(security: Security) -> Self {
        Self {
            security,
            keys: Vec::new(),
            step: None,
            parent: None,
            answers: Vec::new(),
            exchanges: Vec::new(),
        }
    }
}

impl Engine {
    /// RFC 4035 §5: validates one authoritative response.
    pub(super) async fn validate(
        &self,
        qname: &DnsName,
        qtype: RecordType,
        cut: &ZoneCut,
        verdict: &ServerVerdict,
        decoded: &Decoded,
        ctx: &mut Ctx,
    ) -> Security {
        let Some(anchor) = self.anchor_zone(qname) else {
            return Security::Insecure(InsecureReason::NoTrustAnchor {
                name: qname.clone(),
            });
        };
        let qname_h = qname.to_hickory();
        let section = if matches!(verdict, ServerVerdict::Answer { .. }) {
            &decoded.answers
        } else {
            &decoded.authority
        };
        let signer = section
            .iter()
            .filter_map(|r| dnssec::as_rrsig(r).map(|s| (r, s)))
            .find(|(r, _)| r.name == qname_h || !matches!(verdict, ServerVerdict::Answer { .. }))
            .map(|(_, s)| DnsName::from_hickory(&s.input().signer_name));
        // The signer must be the served zone or a zone below it on the same
        // servers, and at or below the anchor.
        let zone = match signer {
            Some(s) if qname.is_subdomain_of(&s) && s.is_subdomain_of(&cut.zone) => s,
            _ => cut.zone.clone(),
        };
        if !zone.is_subdomain_of(&anchor) {
            return Security::Insecure(InsecureReason::NoTrustAnchor {
                name: qname.clone(),
            });
        }
        let zk = self.zone_keys(&zone).await;
        ctx.add_keys(&zk);
        if !zk.security.is_secure() {
            return zk.security.clone();
        }
        let zone_h = zone.to_hickory();
        let keys: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = zk.keys.iter().collect();
        let now = self.inner.config.clock.now_unix();
        match verdict {
            ServerVerdict::Answer { .. } => {
                let mut types = vec![qtype.to_hickory()];
                if qtype != RecordType::CNAME {
                    types.push(HType::CNAME);
                }
                let dname_owner = decoded
                    .answers
                    .iter()
                    .find(|r| {
                        r.record_type() == HType::DNAME
                            && r.name.zone_of(&qname_h)
                            && r.name != qname_h
                    })
                    .map(|r| r.name.clone());
                if let Some(owner) = &dname_owner {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, owner, HType::DNAME);
                    if let Err(r) =
                        dnssec::verify_rrset(&zone_h, owner, HType::DNAME, &recs, &sigs, &keys, now)
                    {
                        return Security::Bogus(r);
                    }
                }
                for t in types {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, &qname_h, t);
                    if recs.is_empty() {
                        continue;
                    }
                    // RFC 6672 §5.3.1: a CNAME synthesised from a DNAME is unsigned.
                    if t == HType::CNAME && sigs.is_empty() && dname_owner.is_some() {
                        continue;
                    }
                    if let Err(r) =
                        dnssec::verify_rrset(&zone_h, &qname_h, t, &recs, &sigs, &keys, now)
                    {
                        return Security::Bogus(r);
                    }
                    // RFC 4035 §5.3.4: wildcard expansion needs a proof that
                    // the name itself does not exist.
                    let labels = sigs
                        .iter()
                        .filter_map(|s| dnssec::as_rrsig(s))
                        .map(|s| s.input().num_labels)
                        .min()
                        .unwrap_or(qname_h.num_labels());
                    if labels < qname_h.num_labels()
                        && let Some(s) = check_denial(
                            &zone_h,
                            &qname_h,
                            qtype,
                            DenialGoal::WildcardAnswer(labels),
                            &decoded.authority,
                            &keys,
                            now,
                        )
                    {
                        return s;
                    }
                }
                Security::Secure
            }
            ServerVerdict::NxDomain | ServerVerdict::NoData => {
                let (soa, soa_sigs) = dnssec::rrset(&decoded.authority, &zone_h, HType::SOA);
                if !soa.is_empty()
                    && let Err(r) = dnssec::verify_rrset(
                        &zone_h,
                        &zone_h,
                        HType::SOA,
                        &soa,
                        &soa_sigs,
                        &keys,
                        now,
                    )
                {
                    return Security::Bogus(r);
                }
                let goal = if matches!(verdict, ServerVerdict::NxDomain) {
                    DenialGoal::NxDomain
                } else {
                    DenialGoal::NoData(qtype.to_hickory())
                };
                check_denial(
                    &zone_h,
                    &qname_h,
                    qtype,
                    goal,
                    &decoded.authority,
                    &keys,
                    now,
                )
                .unwrap_or(Security::Secure)
            }
            _ => Security::Secure,
        }
    }

    /// Starts validating `zone`'s keys in the background as soon as the walk
    /// knows its servers, so the chain of trust is ready when the answer
    /// arrives instead of starting after it: a validated answer then costs the
    /// walk's round trips, not the walk's plus the chain's. Only for zones
    /// under a trust anchor; the result lands in the same once-per-engine cell
    /// that validation awaits, so nothing is fetched twice.
    pub(super) fn prefetch_zone_keys(&self, zone: &DnsName) {
        if self.anchor_zone(zone).is_none() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let ready = lock(&self.inner.keys)
            .get(zone)
            .is_some_and(|cell| cell.initialized());
        if ready {
            return;
        }
        let engine = self.clone();
        let zone = zone.clone();
        tokio::spawn(async move {
            engine.zone_keys(&zone).await;
        });
    }

    /// The validated DNSKEY set of `zone`, computed once per engine.
    pub(super) fn zone_keys<'a>(&'a self, zone: &'a DnsName) -> BoxFuture<'a, Arc<ZoneKeys>> {
        Box::pin(async move {
            let cell = {
                let mut map = lock(&self.inner.keys);
                map.entry(zone.clone()).or_default().clone()
            };
            cell.get_or_init(|| async { Arc::new(self.compute_zone_keys(zone).await) })
                .await
                .clone()
        })
    }

    pub(super) async fn compute_zone_keys(&self, zone: &DnsName) -> ZoneKeys {
        let now = self.inner.config.clock.now_unix();
        let zone_h = zone.to_hickory();
        let anchors: Vec<&TrustAnchor> = self
            .inner
            .config
            .trust_anchors
            .iter()
            .filter(|a| &a.owner == zone)
            .collect();
        let mut zk = ZoneKeys::leaf(Security::Secure);
        let mut step = ValidationStep {
            zone: zone.clone(),
            anchored: !anchors.is_empty(),
            ds: Vec::new(),
            dnskeys: Vec::new(),
            security: Security::Secure,
        };
        let ds_list: Vec<hickory_proto::dnssec::rdata::DS>;
        let parent_zone: DnsName;
        let mut key_ev = ZoneKeys::leaf(Security::Secure);
        let mut prefetched_dnskey: Option<Fetch> = None;
        if anchors.is_empty() {
            let Some(parent) = self.parent_cut(zone) else {
                return ZoneKeys::leaf(Security::Insecure(InsecureReason::NoTrustAnchor {
                    name: zone.clone(),
                }));
            };
            parent_zone = parent.zone.clone();
            // The parent's keys, the DS at the parent and this zone's DNSKEY
            // are independent round trips; only their checks are ordered
            // (RFC 4035 §5.2). Fetching them together makes a chain of trust
            // cost one round trip per check instead of three per zone.
            let mut ds_ev = ZoneKeys::leaf(Security::Secure);
            let (pk, ds_fetch, key_fetch) = tokio::join!(
                self.zone_keys(&parent.zone),
                self.fetch(&parent.zone, zone, RecordType::DS, &mut ds_ev),
                self.fetch(zone, zone, RecordType::DNSKEY, &mut key_ev),
            );
            prefetched_dnskey = Some(key_fetch);
            zk.parent = Some(pk.clone());
            if !pk.security.is_secure() {
                zk.security = pk.security.clone();
                return zk;
            }
            zk.answers.append(&mut ds_ev.answers);
            zk.exchanges.append(&mut ds_ev.exchanges);
            let parent_keys: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = pk.keys.iter().collect();
            let parent_h = parent.zone.to_hickory();
            match ds_fetch {
                Fetch::Budget => {
                    return finish(
                        zk,
                        step,
                        Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                            limit: self.inner.config.max_queries,
                        }),
                    );
                }
                Fetch::Failed(failures) => {
                    return finish(
                        zk,
                        step,
                        Security::Indeterminate(IndeterminateReason::FetchFailed {
                            zone: parent.zone.clone(),
                            rrset: RrsetId {
                                owner: zone.clone(),
                                rtype: RecordType::DS,
                            },
                            failures,
                        }),
                    );
                }
                Fetch::Ok {
                    verdict: ServerVerdict::Answer { .. },
                    decoded,
                } => {
                    let (recs, sigs) = dnssec::rrset(&decoded.answers, &zone_h, HType::DS);
                    if recs.is_empty() {
                        return finish(
                            zk,
                            step,
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail: "the answer holds no DS records".into(),
                                proof_served: false,
                            }),
                        );
                    }
                    if let Err(r) = dnssec::verify_rrset(
                        &parent_h,
                        &zone_h,
                        HType::DS,
                        &recs,
                        &sigs,
                        &parent_keys,
                        now,
                    ) {
                        return finish(zk, step, Security::Bogus(r));
                    }
                    ds_list = recs
                        .iter()
                        .filter_map(|r| dnssec::as_ds(r).cloned())
                        .take(limits::MAX_DS_RECORDS)
                        .collect();
                }
                Fetch::Ok {
                    verdict: ServerVerdict::NoData | ServerVerdict::NxDomain,
                    decoded,
                } => {
                    let s = check_denial(
                        &parent_h,
                        &zone_h,
                        RecordType::DS,
                        DenialGoal::InsecureDelegation,
                        &decoded.authority,
                        &parent_keys,
                        now,
                    );
                    let security = match s {
                        None => Security::Insecure(InsecureReason::NoDs {
                            zone: zone.clone(),
                            parent: parent.zone.clone(),
                            proof: if decoded
                                .authority
                                .iter()
                                .any(|r| r.record_type() == HType::NSEC3)
                            {
                                crate::security::DenialKind::Nsec3
                            } else {
                                crate::security::DenialKind::Nsec
                            },
                        }),
                        Some(Security::Bogus(BogusReason::DenialMissing { detail, .. })) => {
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail,
                                proof_served: false,
                            })
                        }
                        Some(Security::Bogus(BogusReason::DenialInvalid { detail, .. })) => {
                            Security::Bogus(BogusReason::DsDenialMissing {
                                zone: zone.clone(),
                                parent: parent.zone.clone(),
                                detail,
                                proof_served: true,
                            })
                        }
                        Some(other) => other,
                    };
                    return finish(zk, step, security);
                }
                Fetch::Ok { verdict, .. } => {
                    return finish(
                        zk,
                        step,
                        Security::Bogus(BogusReason::DsDenialMissing {
                            zone: zone.clone(),
                            parent: parent.zone.clone(),
                            detail: format!(
                                "the DS query was answered with: {}",
                                verdict.failure_text()
                            ),
                            proof_served: false,
                        }),
                    );
                }
            }
        } else {
            parent_zone = zone.clone();
            ds_list = anchors.iter().filter_map(|a| a.to_ds()).collect();
        }
        step.ds = ds_list.iter().map(dnssec::ds_summary).collect();
        let supported: Vec<&hickory_proto::dnssec::rdata::DS> = dnssec::strongest_digests(
            &ds_list
                .iter()
                .filter(|d| dnssec::ds_supported(d))
                .collect::<Vec<_>>(),
        );
        let key_anchors: Vec<(u8, &[u8])> =
            anchors.iter().filter_map(|a| a.dnskey_material()).collect();
        if supported.is_empty() && key_anchors.is_empty() {
            let mut algorithms: Vec<u8> = ds_list.iter().map(|d| u8::from(d.algorithm())).collect();
            algorithms.dedup();
            return finish(
                zk,
                step,
                Security::Insecure(InsecureReason::UnsupportedAlgorithms {
                    zone: zone.clone(),
                    algorithms,
                }),
            );
        }
        let dnskey_fetch = match prefetched_dnskey {
            Some(fetched) => {
                zk.answers.append(&mut key_ev.answers);
                zk.exchanges.append(&mut key_ev.exchanges);
                fetched
            }
            None => self.fetch(zone, zone, RecordType::DNSKEY, &mut zk).await,
        };
        let decoded = match dnskey_fetch {
            Fetch::Budget => {
                return finish(
                    zk,
                    step,
                    Security::Indeterminate(IndeterminateReason::BudgetExhausted {
                        limit: self.inner.config.max_queries,
                    }),
                );
            }
            Fetch::Failed(failures) => {
                return finish(
                    zk,
                    step,
                    Security::Indeterminate(IndeterminateReason::FetchFailed {
                        zone: zone.clone(),
                        rrset: RrsetId {
                            owner: zone.clone(),
                            rtype: RecordType::DNSKEY,
                        },
                        failures,
                    }),
                );
            }
            Fetch::Ok {
                verdict: ServerVerdict::Answer { .. },
                decoded,
            } => decoded,
            Fetch::Ok { .. } => {
                return finish(
                    zk,
                    step,
                    Security::Bogus(BogusReason::DnskeyMissing { zone: zone.clone() }),
                );
            }
        };
        let (recs, sigs) = dnssec::rrset(&decoded.answers, &zone_h, HType::DNSKEY);
        let keys = dnssec::dnskeys(&recs);
        if keys.is_empty() {
            return finish(
                zk,
                step,
                Security::Bogus(BogusReason::DnskeyMissing { zone: zone.clone() }),
            );
        }
        let matched: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = keys
            .iter()
            .copied()
            .filter(|k| {
                supported.iter().any(|d| dnssec::ds_matches(&zone_h, d, k))
                    || key_anchors
                        .iter()
                        .any(|(alg, pk)| dnssec::anchor_key_matches(*alg, pk, k))
            })
            .collect();
        let verified = if matched.is_empty() {
            Err(if step.anchored {
                BogusReason::TrustAnchorMismatch {
                    zone: zone.clone(),
                    anchor_tags: anchors.iter().map(|a| a.key_tag()).collect(),
                }
            } else {
                BogusReason::DsMatchesNoDnskey {
                    zone: zone.clone(),
                    parent: parent_zone.clone(),
                    ds: step.ds.clone(),
                }
            })
        } else if sigs.is_empty() {
            Err(BogusReason::RrsigsMissing {
                zone: zone.clone(),
                rrset: RrsetId {
                    owner: zone.clone(),
                    rtype: RecordType::DNSKEY,
                },
            })
        } else {
            dnssec::verify_rrset(&zone_h, &zone_h, HType::DNSKEY, &recs, &sigs, &matched, now)
                .map_err(|r| match r {
                    BogusReason::NoMatchingKey { .. } => BogusReason::DnskeyNotSignedByDsKey {
                        zone: zone.clone(),
                        ds_key_tags: matched.iter().map(|k| dnssec::key_tag(k)).collect(),
                        detail: None,
                    },
                    other => other,
                })
        };
        let signing_tag = verified.as_ref().ok().copied();
        step.dnskeys = keys
            .iter()
            .map(|k| KeySummary {
                key_tag: dnssec::key_tag(k),
                flags: k.flags(),
                algorithm: u8::from(hickory_proto::dnssec::PublicKey::algorithm(k.public_key())),
                matches_ds: matched.iter().any(|m| m == k),
                signs_dnskey_rrset: Some(dnssec::key_tag(k)) == signing_tag
                    && matched.iter().any(|m| m == k),
            })
            .collect();
        match verified {
            Ok(_) => {
                zk.keys = keys
                    .into_iter()
                    .filter(|k| k.zone_key() && !k.revoke())
                    .cloned()
                    .collect();
                finish(zk, step, Security::Secure)
            }
            Err(r) => finish(zk, step, Security::Bogus(r)),
        }
    }
}

fn finish(mut zk: ZoneKeys, mut step: ValidationStep, security: Security) -> ZoneKeys {
    step.security = security.clone();
    zk.security = security;
    zk.step = Some(step);
    zk
}

/// Verifies the NSEC/NSEC3 RRsets of `authority` and checks they prove
/// `goal`. Returns `None` when proven, the non-secure status otherwise.
pub(super) fn check_denial(
    zone: &Name,
    qname: &Name,
    qtype: RecordType,
    goal: DenialGoal,
    authority: &[Record],
    keys: &[&hickory_proto::dnssec::rdata::DNSKEY],
    now: u64,
) -> Option<Security> {
    let mut nsecs = Vec::new();
    let mut nsec3s = Vec::new();
    let mut owners: Vec<(Name, HType)> = Vec::new();
    for r in authority {
        let t = r.record_type();
        if (t == HType::NSEC || t == HType::NSEC3)
            && !owners.iter().any(|(n, ot)| *ot == t && n == &r.name)
        {
            owners.push((r.name.clone(), t));
            if owners.len() >= limits::MAX_DENIAL_RRSETS {
                break;
            }
        }
    }
    for (owner, t) in &owners {
        let (recs, sigs) = dnssec::rrset(authority, owner, *t);
        if let Err(r) = dnssec::verify_rrset(zone, owner, *t, &recs, &sigs, keys, now) {
            return Some(Security::Bogus(r));
        }
        if *t == HType::NSEC {
            nsecs.extend(recs);
        } else {
            nsec3s.extend(recs);
        }
    }
    let zone_d = DnsName::from_hickory(zone);
    match dnssec::prove_denial(zone, qname, goal, &nsecs, &nsec3s) {
        Denial::Proven(_) => None,
        Denial::OptOut => Some(Security::Insecure(InsecureReason::OptOut {
            zone: DnsName::from_hickory(qname),
            parent: zone_d,
        })),
        Denial::Insecure(r) => Some(Security::Insecure(r)),
        Denial::Failed(detail) => {
            let rrset = RrsetId {
                owner: DnsName::from_hickory(qname),
                rtype: qtype,
            };
            let denial: String = match goal {
                DenialGoal::NxDomain => "NXDOMAIN".into(),
                DenialGoal::NoData(_) => "NODATA".into(),
                DenialGoal::InsecureDelegation => "insecure delegation (no DS)".into(),
                DenialGoal::WildcardAnswer(_) => "wildcard expansion".into(),
            };
            Some(Security::Bogus(if nsecs.is_empty() && nsec3s.is_empty() {
                BogusReason::DenialMissing {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            } else {
                BogusReason::DenialInvalid {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            }))
        }
    }
}

//! The chain of trust (RFC 4035 §5): each zone's DS and DNSKEY validated
//! from the trust anchor down, and the RRSIG and denial checks on an
//! authoritative response.
//!
//! Zone cuts come from the walk's referrals, but where one server serves a
//! parent and its child no referral ever comes: the server answers from the
//! child, or refers from a zone the walk never saw. Like a validator
//! (Unbound's `processFindKey`), the keys covering a name are found label by
//! label from the trust anchor: a DS query at each label, answered by a DS
//! RRset (a secure cut), a proof of no DS at a delegation (an insecure cut)
//! or a proof that the label is no delegation (no cut). A change of signer
//! is a cut to prove, never a fault by itself.

use std::{net::SocketAddr, sync::Arc};

use futures::future::join_all;
use hickory_proto::rr::{Name, RData, Record, RecordType as HType};

use crate::{
    config::TrustAnchor,
    dnssec::{self, Denial, DenialGoal},
    evidence::Exchange,
    limits,
    lookup::{
        CutSource, KeySummary, NameServer, ServFailReason, ServerAnswer, ServerVerdict,
        ValidationStep, ZoneCut,
    },
    security::{BogusReason, IndeterminateReason, InsecureReason, RrsetId, Security},
    types::{DnsName, RecordType},
    wire::Decoded,
};

use super::{BoxFuture, Engine, lock, shared};

use super::classify::{ds_from_child, is_aa};
use super::ctx::Ctx;
use super::walk::WalkEnd;

/// The validated keys covering one name (RFC 4035 §5.2) and how we got
/// there: the keys of `zone`, the closest zone cut at or above `name`.
#[derive(Debug)]
pub(super) struct ZoneKeys {
    /// The name these keys were looked up for.
    pub(super) name: DnsName,
    /// The zone whose keys these are: `name` itself at a zone cut, else the
    /// closest enclosing zone (DS queries proved no cut in between).
    pub(super) zone: DnsName,
    pub(super) security: Security,
    pub(super) keys: Vec<hickory_proto::dnssec::rdata::DNSKEY>,
    pub(super) step: Option<ValidationStep>,
    pub(super) parent: Option<Arc<ZoneKeys>>,
    pub(super) answers: Vec<ServerAnswer>,
    pub(super) exchanges: Vec<Exchange>,
    /// The cut at `name`, found without a referral (by the signer name or a
    /// DS probe), with the servers that answer for it.
    pub(super) found_cut: Option<ZoneCut>,
    /// The smallest TTL of the records behind these keys (DS or its denial,
    /// DNSKEY, their RRSIGs, capped by the RRSIGs' expiry); `None` when no
    /// record was fetched. How long a [`super::SharedInfraCache`] keeps them.
    pub(super) ttl: Option<u32>,
    /// When the fetch of these keys began (their age in a shared cache).
    pub(super) fetched: std::time::Instant,
    /// The engine that fetched them ([`Engine::id`]): another engine took
    /// them from a shared cache.
    pub(super) built_by: u64,
}

impl ZoneKeys {
    fn leaf(name: &DnsName, security: Security) -> Self {
        Self {
            name: name.clone(),
            zone: name.clone(),
            security,
            keys: Vec::new(),
            step: None,
            parent: None,
            answers: Vec::new(),
            exchanges: Vec::new(),
            found_cut: None,
            ttl: None,
            fetched: std::time::Instant::now(),
            built_by: 0,
        }
    }

    /// No cut at `name` (or the chain above is not secure): the keys and
    /// status of the enclosing zone carry over.
    fn inherit(name: &DnsName, parent: Arc<ZoneKeys>) -> Self {
        Self {
            name: name.clone(),
            zone: parent.zone.clone(),
            security: parent.security.clone(),
            keys: parent.keys.clone(),
            step: None,
            parent: Some(parent),
            answers: Vec::new(),
            exchanges: Vec::new(),
            found_cut: None,
            ttl: None,
            fetched: std::time::Instant::now(),
            built_by: 0,
        }
    }

    /// Lowers [`ZoneKeys::ttl`] to the records of `decoded` (answer and
    /// authority sections) and the time left before their RRSIGs expire
    /// (`now`, UNIX seconds), as a validator caps an RRset's TTL at its
    /// signatures' expiry (RFC 4035 §5.3.3).
    fn note_ttl(&mut self, decoded: &Decoded, now: u64) {
        for r in decoded.answers.iter().chain(&decoded.authority) {
            let mut ttl = r.ttl;
            if let Some(sig) = dnssec::as_rrsig(r) {
                let left = u64::from(sig.input().sig_expiration.get()).saturating_sub(now);
                ttl = ttl.min(u32::try_from(left).unwrap_or(u32::MAX));
            }
            self.ttl = Some(self.ttl.map_or(ttl, |t| t.min(ttl)));
        }
    }

    fn take_evidence(&mut self, ctx: Ctx) {
        self.answers.extend(ctx.answers);
        self.exchanges.extend(ctx.exchanges);
    }
}

impl Engine {
    /// RFC 4035 §5: validates one authoritative response from a server of
    /// `cut`. The keys are those of the zone the RRSIGs name as signer (Unbound
    /// `val_find_signer`), wherever it sits: the cut the walk knows, a zone
    /// below it on the same servers, or one above. An unsigned response is
    /// accepted only below a proven insecure cut, which DS queries at each
    /// label below the cut look for.
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
        // The signer of the RRset at the name, or of a DNAME above it (the
        // CNAME synthesised from a DNAME is unsigned, RFC 6672 §5.3.1); of
        // any denial record for a negative answer.
        let is_answer = matches!(verdict, ServerVerdict::Answer { .. });
        let signer = section
            .iter()
            .filter_map(|r| dnssec::as_rrsig(r).map(|s| (r, s)))
            .find(|(r, s)| {
                !is_answer
                    || r.name == qname_h
                    || (s.input().type_covered == HType::DNAME && r.name.zone_of(&qname_h))
            })
            .map(|(_, s)| DnsName::from_hickory(&s.input().signer_name));
        // The DS RRset lives on the parent side (RFC 4035 §3.1.4.1): its keys
        // are looked up from the name's parent.
        let lookup_name = match qname.parent() {
            Some(p) if qtype == RecordType::DS => p,
            _ => qname.clone(),
        };
        // A signer that is not the lookup name or an ancestor cannot have
        // signed it: read the response as unsigned (Unbound).
        let signer = signer.filter(|s| lookup_name.is_subdomain_of(s));
        let (zone, zk) = if let Some(signer) = signer {
            if !signer.is_subdomain_of(&anchor) {
                return Security::Insecure(InsecureReason::NoTrustAnchor {
                    name: qname.clone(),
                });
            }
            let zk = self.zone_keys(&signer, CutSource::SignerName).await;
            ctx.add_keys(&zk, self.inner.id);
            if !zk.security.is_secure() {
                return zk.security.clone();
            }
            if zk.zone != signer {
                return Security::Bogus(BogusReason::SignerNotZone {
                    zone: zk.zone.clone(),
                    signer,
                    rrset: RrsetId {
                        owner: qname.clone(),
                        rtype: qtype,
                    },
                });
            }
            (signer, zk)
        } else {
            // Unsigned: fine below an insecure cut. The served zone is
            // the usual one; else a cut below it on the same servers.
            let served = self.zone_keys(&cut.zone, CutSource::Referral).await;
            if !served.security.is_secure() || !lookup_name.is_subdomain_of(&cut.zone) {
                ctx.add_keys(&served, self.inner.id);
                return served.security.clone();
            }
            let (zk, ()) = tokio::join!(
                self.zone_keys(&lookup_name, CutSource::DsProbe),
                self.prefetch_cut_probes(&cut.zone, &lookup_name, true),
            );
            ctx.add_keys(&zk, self.inner.id);
            if !zk.security.is_secure() {
                return zk.security.clone();
            }
            // Secure down to the name: the checks below name what is
            // missing (RRSIGs, the denial).
            (zk.zone.clone(), zk)
        };
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
            engine.zone_keys(&zone, CutSource::Referral).await;
        });
    }

    /// The validated keys covering `name`, computed once per engine: those
    /// of the zone cut at `name` if there is one, else those of the closest
    /// zone above it. `why` says what made us ask (it names a cut found here).
    pub(super) fn zone_keys<'a>(
        &'a self,
        name: &'a DnsName,
        why: CutSource,
    ) -> BoxFuture<'a, Arc<ZoneKeys>> {
        Box::pin(async move {
            let cell = {
                let mut map = lock(&self.inner.keys);
                map.entry(name.clone()).or_default().clone()
            };
            cell.get_or_init(|| async {
                let Some(shared) = &self.inner.config.shared_cache else {
                    return Arc::new(self.fetch_zone_keys(name, why).await);
                };
                let zk = Box::pin(shared.zone_keys(name, self.fetch_zone_keys(name, why))).await;
                if zk.built_by == self.inner.id
                    || shared::keys_reusable(&zk, std::time::Instant::now())
                {
                    return zk;
                }
                // Another check's fetch failed in a way that is its own (a
                // timeout, its query budget): fetch them here.
                Arc::new(self.fetch_zone_keys(name, why).await)
            })
            .await
            .clone()
        })
    }

    /// [`Engine::compute_zone_keys`], stamped with when the fetch began and
    /// by which engine (for a shared cache).
    fn fetch_zone_keys<'a>(&'a self, name: &'a DnsName, why: CutSource) -> BoxFuture<'a, ZoneKeys> {
        Box::pin(async move {
            let fetched = std::time::Instant::now();
            let mut zk = self.compute_zone_keys(name, why).await;
            zk.fetched = fetched;
            zk.built_by = self.inner.id;
            zk
        })
    }

    /// The deepest name at or above `name` that is a zone cut the walk was
    /// referred to (or the hints) or that has a trust anchor: where the
    /// search for unreferred cuts starts.
    fn closest_known_cut(&self, name: &DnsName) -> DnsName {
        let walked = self.closest_cut(name).zone.clone();
        match self.anchor_zone(name) {
            Some(a) if a.label_count() > walked.label_count() => a,
            _ => walked,
        }
    }

    /// Asks, all at once, for the DS RRset at each label between `from`
    /// (excluded) and `to` (included if `inclusive`), so the label-by-label
    /// proof that follows finds the answers cached: finding the cuts between
    /// a known cut and a name costs one round trip, not one per label.
    /// At most [`limits::MAX_CUT_PROBE_LABELS`] labels.
    pub(super) async fn prefetch_cut_probes(&self, from: &DnsName, to: &DnsName, inclusive: bool) {
        if !to.is_subdomain_of(from) {
            return;
        }
        let mut labels = Vec::new();
        let mut cur = if inclusive {
            Some(to.clone())
        } else {
            to.parent()
        };
        while let Some(n) = cur {
            if n.label_count() <= from.label_count() {
                break;
            }
            cur = n.parent();
            labels.push(n);
        }
        // The labels nearest the known cut first: those are probed first,
        // and the bound cuts off the deepest.
        labels.reverse();
        labels.truncate(limits::MAX_CUT_PROBE_LABELS);
        join_all(labels.iter().map(|l| async move {
            let mut scratch = Ctx::default();
            let _ = self.walk(l, RecordType::DS, &[], &mut scratch, false).await;
        }))
        .await;
    }

    /// The keys covering `name` (see [`ZoneKeys`]): a trust anchor's keys; or
    /// the parent name's keys, then the DS query at `name` (RFC 4035 §5.2)
    /// decides: a DS RRset makes `name` a secure cut (its DNSKEY RRset is
    /// validated against it), a proof of no DS at a delegation an insecure
    /// cut, a proof that `name` is no delegation leaves the parent's keys.
    pub(super) async fn compute_zone_keys(&self, name: &DnsName, why: CutSource) -> ZoneKeys {
        let anchors: Vec<&TrustAnchor> = self
            .inner
            .config
            .trust_anchors
            .iter()
            .filter(|a| &a.owner == name)
            .collect();
        if !anchors.is_empty() {
            let ds_list = anchors.iter().filter_map(|a| a.to_ds()).collect();
            let step = new_step(name, None);
            let zk = ZoneKeys::leaf(name, Security::Secure);
            return self
                .keys_from_ds(name, zk, step, ds_list, &anchors, None)
                .await;
        }
        let no_anchor = || {
            ZoneKeys::leaf(
                name,
                Security::Insecure(InsecureReason::NoTrustAnchor { name: name.clone() }),
            )
        };
        let Some(parent_name) = name.parent() else {
            return no_anchor();
        };
        if self.anchor_zone(name).is_none() {
            return no_anchor();
        }
        // The closest cut above `name` known without probing: every label
        // between it and `name` needs a DS query.
        let known = self.closest_known_cut(&parent_name);
        let too_deep = name.label_count() > known.label_count() + limits::MAX_CUT_PROBE_LABELS;
        let referred = self.known_cut(name).is_some();
        let mut ds_ctx = Ctx::default();
        let mut key_ctx = Ctx::default();
        // A name the walk was referred to, or that signs data, is most likely
        // a cut: its DS and DNSKEY are fetched beside the parent's keys (one
        // round trip for the whole chain). Other labels are probed only once
        // the chain above them is known to be secure, as a validator would.
        let (pk, ds_end, key_end) = if (referred || why == CutSource::SignerName) && !too_deep {
            let (pk, ds_end, key_end, ()) = tokio::join!(
                self.zone_keys(&parent_name, CutSource::DsProbe),
                self.walk(name, RecordType::DS, &[], &mut ds_ctx, true),
                self.walk(name, RecordType::DNSKEY, &[], &mut key_ctx, true),
                self.prefetch_cut_probes(&known, name, false),
            );
            (pk, ds_end, Some(key_end))
        } else {
            let pk = self.zone_keys(&parent_name, CutSource::DsProbe).await;
            if !pk.security.is_secure() {
                return ZoneKeys::inherit(name, pk);
            }
            // Still secure this far below the last known cut: the bound on
            // DS queries per name is reached.
            if too_deep {
                let mut zk = ZoneKeys::leaf(
                    name,
                    Security::Indeterminate(IndeterminateReason::CutProbeLimit {
                        zone: known,
                        name: name.clone(),
                        limit: limits::MAX_CUT_PROBE_LABELS,
                    }),
                );
                zk.parent = Some(pk);
                return zk;
            }
            let ds_end = self
                .walk(name, RecordType::DS, &[], &mut ds_ctx, true)
                .await;
            (pk, ds_end, None)
        };
        if !pk.security.is_secure() {
            return ZoneKeys::inherit(name, pk);
        }
        let parent_zone = pk.zone.clone();
        let mut zk = ZoneKeys::leaf(name, Security::Secure);
        zk.parent = Some(pk.clone());
        zk.take_evidence(ds_ctx);
        let step = new_step(name, Some(&parent_zone));
        let found_by = if why == CutSource::SignerName {
            CutSource::SignerName
        } else {
            CutSource::DsProbe
        };
        let (decoded, verdict) = match ds_end {
            WalkEnd::Fail(why) => {
                let security = fetch_failure(&why, name, RecordType::DS, &parent_zone);
                return finish(zk, step, security);
            }
            WalkEnd::Final {
                verdict, decoded, ..
            } => (decoded, verdict),
        };
        let parent_keys: Vec<&hickory_proto::dnssec::rdata::DNSKEY> = pk.keys.iter().collect();
        let parent_h = parent_zone.to_hickory();
        let name_h = name.to_hickory();
        let now = self.inner.config.clock.now_unix();
        zk.note_ttl(&decoded, now);
        let ds_list = match verdict {
            ServerVerdict::Answer { .. } => {
                let (recs, sigs) = dnssec::rrset(&decoded.answers, &name_h, HType::DS);
                if recs.is_empty()
                    && let Some(alias) = alias_at(&decoded.answers, &name_h)
                {
                    // An alias owns the name (a CNAME) or everything below a
                    // DNAME: no delegation here, if the parent signed it
                    // (Unbound `ds_response_to_ke`, CNAME case).
                    let (arecs, asigs) = dnssec::rrset(&decoded.answers, &alias.0, alias.1);
                    if let Err(r) = dnssec::verify_rrset(
                        &parent_h,
                        &alias.0,
                        alias.1,
                        &arecs,
                        &asigs,
                        &parent_keys,
                        now,
                    ) {
                        return finish(zk, step, Security::Bogus(r));
                    }
                    let mut no_cut = ZoneKeys::inherit(name, pk);
                    no_cut.answers = zk.answers;
                    no_cut.exchanges = zk.exchanges;
                    no_cut.ttl = zk.ttl;
                    return no_cut;
                }
                if recs.is_empty() {
                    return finish(
                        zk,
                        step,
                        Security::Bogus(BogusReason::DsDenialMissing {
                            zone: name.clone(),
                            parent: parent_zone,
                            detail: "the answer holds no DS records".into(),
                            proof_served: false,
                        }),
                    );
                }
                if let Err(r) = dnssec::verify_rrset(
                    &parent_h,
                    &name_h,
                    HType::DS,
                    &recs,
                    &sigs,
                    &parent_keys,
                    now,
                ) {
                    return finish(zk, step, Security::Bogus(r));
                }
                recs.iter()
                    .filter_map(|r| dnssec::as_ds(r).cloned())
                    .take(limits::MAX_DS_RECORDS)
                    .collect::<Vec<_>>()
            }
            ServerVerdict::NoData | ServerVerdict::NxDomain => {
                if ds_from_child(&decoded, name) {
                    let servers = zk
                        .answers
                        .iter()
                        .filter(|a| {
                            &a.qname == name
                                && a.qtype == RecordType::DS
                                && matches!(
                                    a.verdict,
                                    ServerVerdict::NoData | ServerVerdict::NxDomain
                                )
                        })
                        .map(|a| a.server.addr)
                        .collect();
                    return finish(
                        zk,
                        step,
                        Security::Bogus(BogusReason::DsAnsweredByChild {
                            zone: name.clone(),
                            parent: parent_zone,
                            servers,
                        }),
                    );
                }
                let proof = verify_denial(
                    &parent_h,
                    &name_h,
                    DenialGoal::InsecureDelegation,
                    &decoded.authority,
                    &parent_keys,
                    now,
                );
                let security = match proof {
                    Ok(Denial::NotDelegation(_)) => {
                        // No cut here: the parent's keys cover the name.
                        let mut no_cut = ZoneKeys::inherit(name, pk);
                        no_cut.answers = zk.answers;
                        no_cut.exchanges = zk.exchanges;
                        no_cut.ttl = zk.ttl;
                        return no_cut;
                    }
                    Ok(Denial::Proven(kind)) => Security::Insecure(InsecureReason::NoDs {
                        zone: name.clone(),
                        parent: parent_zone.clone(),
                        proof: kind,
                    }),
                    Ok(Denial::OptOut) => Security::Insecure(InsecureReason::OptOut {
                        zone: name.clone(),
                        parent: parent_zone.clone(),
                    }),
                    Ok(Denial::Insecure(r)) => Security::Insecure(r),
                    Ok(Denial::Failed(detail)) => Security::Bogus(BogusReason::DsDenialMissing {
                        zone: name.clone(),
                        parent: parent_zone.clone(),
                        proof_served: has_denial_records(&decoded.authority),
                        detail,
                    }),
                    Err(r) => Security::Bogus(r),
                };
                if matches!(security, Security::Insecure(_)) && !referred {
                    let ns_probe = self.probe_cut_servers(name, &parent_zone, found_by).await;
                    zk.take_evidence(ns_probe.1);
                    zk.found_cut = ns_probe.0;
                }
                return finish(zk, step, security);
            }
            other => {
                return finish(
                    zk,
                    step,
                    Security::Bogus(BogusReason::DsDenialMissing {
                        zone: name.clone(),
                        parent: parent_zone,
                        detail: format!("the DS query was answered with: {}", other.failure_text()),
                        proof_served: false,
                    }),
                );
            }
        };
        // The DNSKEY RRset (unless already fetched) and, for a cut found
        // without a referral, the servers that serve it: one round trip.
        let probe = async {
            if referred {
                None
            } else {
                Some(self.probe_cut_servers(name, &parent_zone, found_by).await)
            }
        };
        let dnskey = async {
            match key_end {
                Some(end) => end,
                None => {
                    self.walk(name, RecordType::DNSKEY, &[], &mut key_ctx, true)
                        .await
                }
            }
        };
        let (probed, key_end) = tokio::join!(probe, dnskey);
        if let Some((cut, probe_ctx)) = probed {
            zk.take_evidence(probe_ctx);
            zk.found_cut = cut;
        }
        self.keys_from_ds(name, zk, step, ds_list, &[], Some((key_end, key_ctx)))
            .await
    }

    /// The cut found at `name` without a referral, as evidence: the servers
    /// of the closest walked cut that answer the NS query at `name` with
    /// authority (those that serve the child too), and the NS names they give.
    async fn probe_cut_servers(
        &self,
        name: &DnsName,
        parent: &DnsName,
        found_by: CutSource,
    ) -> (Option<ZoneCut>, Ctx) {
        let walked = self.closest_cut(name);
        let mut ctx = Ctx::default();
        // Evidence, not a step of the walk: the servers that answer within
        // the grace of the first are enough, a slow one is left running.
        let (servers, replies, verdicts) = self
            .ask_cut_in(&walked, name, RecordType::NS, &mut ctx, false)
            .await;
        let name_h = name.to_hickory();
        let mut serving: Vec<NameServer> = Vec::new();
        let mut ns_names: Vec<DnsName> = Vec::new();
        ctx.add_answers(
            &walked.zone,
            (name, RecordType::NS),
            (&servers, &replies, &verdicts),
            None,
        );
        for (ns, reply) in servers.iter().zip(&replies) {
            ctx.add_reply(reply, name, RecordType::NS);
            let Some(decoded) = &reply.decoded else {
                continue;
            };
            let names: Vec<DnsName> = decoded
                .answers
                .iter()
                .filter(|r| r.name == name_h)
                .filter_map(|r| match &r.data {
                    RData::NS(n) => Some(DnsName::from_hickory(&n.0)),
                    _ => None,
                })
                .collect();
            if is_aa(reply) && !names.is_empty() {
                serving.push(ns.clone());
                for n in names {
                    if !ns_names.contains(&n) && ns_names.len() < limits::MAX_NS_NAMES_PER_CUT {
                        ns_names.push(n);
                    }
                }
            }
        }
        if serving.is_empty() {
            serving.clone_from(&walked.servers);
        }
        let cut = ZoneCut {
            zone: name.clone(),
            parent: Some(parent.clone()),
            ns_names,
            servers: serving,
            unresolved: Vec::new(),
            referred_by: None,
            found_by,
            from_shared_cache: None,
        };
        (Some(cut), ctx)
    }

    /// RFC 4035 §5.2 from a validated DS set (or trust anchors): the zone's
    /// DNSKEY RRset must hold a key that a DS (or anchor) identifies and that
    /// signs the RRset. `fetched` is the DNSKEY walk already made, if any.
    async fn keys_from_ds(
        &self,
        zone: &DnsName,
        mut zk: ZoneKeys,
        mut step: ValidationStep,
        ds_list: Vec<hickory_proto::dnssec::rdata::DS>,
        anchors: &[&TrustAnchor],
        fetched: Option<(WalkEnd, Ctx)>,
    ) -> ZoneKeys {
        let now = self.inner.config.clock.now_unix();
        let zone_h = zone.to_hickory();
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
        let (key_end, key_ctx) = if let Some(f) = fetched {
            f
        } else {
            let mut c = Ctx::default();
            let end = self.walk(zone, RecordType::DNSKEY, &[], &mut c, true).await;
            (end, c)
        };
        zk.take_evidence(key_ctx);
        let decoded = match key_end {
            WalkEnd::Fail(why) => {
                let security = fetch_failure(&why, zone, RecordType::DNSKEY, zone);
                return finish(zk, step, security);
            }
            WalkEnd::Final {
                verdict: ServerVerdict::Answer { .. },
                decoded,
                ..
            } => decoded,
            WalkEnd::Final { .. } => {
                return finish(
                    zk,
                    step,
                    Security::Bogus(BogusReason::DnskeyMissing { zone: zone.clone() }),
                );
            }
        };
        zk.note_ttl(&decoded, now);
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
                    parent: step.parent.clone().unwrap_or_else(|| zone.clone()),
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

fn new_step(zone: &DnsName, parent: Option<&DnsName>) -> ValidationStep {
    ValidationStep {
        zone: zone.clone(),
        anchored: parent.is_none(),
        parent: parent.cloned(),
        ds: Vec::new(),
        dnskeys: Vec::new(),
        security: Security::Secure,
        from_shared_cache: None,
    }
}

/// The status when the DS or DNSKEY RRset of `name` could not be fetched.
fn fetch_failure(
    why: &ServFailReason,
    name: &DnsName,
    rtype: RecordType,
    zone: &DnsName,
) -> Security {
    let rrset = RrsetId {
        owner: name.clone(),
        rtype,
    };
    Security::Indeterminate(match why {
        ServFailReason::BudgetExhausted { limit } => {
            IndeterminateReason::BudgetExhausted { limit: *limit }
        }
        ServFailReason::AllServersFailed { zone, failures } => IndeterminateReason::FetchFailed {
            zone: zone.clone(),
            rrset,
            failures: failures.clone(),
        },
        ServFailReason::NoServerAddresses { zone, .. } => {
            IndeterminateReason::NoServers { zone: zone.clone() }
        }
        other => IndeterminateReason::FetchFailed {
            zone: zone.clone(),
            rrset,
            failures: vec![crate::security::ServerFailure {
                server: SocketAddr::from(([0, 0, 0, 0], 0)),
                reason: other.to_string(),
            }],
        },
    })
}

/// The signed alias in a DS answer for `name`: its CNAME, or a DNAME at an
/// ancestor (owner and type).
fn alias_at(answers: &[Record], name: &Name) -> Option<(Name, HType)> {
    answers
        .iter()
        .find(|r| {
            (r.record_type() == HType::CNAME && &r.name == name)
                || (r.record_type() == HType::DNAME && r.name.zone_of(name) && &r.name != name)
        })
        .map(|r| (r.name.clone(), r.record_type()))
}

fn has_denial_records(authority: &[Record]) -> bool {
    authority
        .iter()
        .any(|r| matches!(r.record_type(), HType::NSEC | HType::NSEC3))
}

fn finish(mut zk: ZoneKeys, mut step: ValidationStep, security: Security) -> ZoneKeys {
    step.security = security.clone();
    zk.security = security;
    zk.step = Some(step);
    zk
}

/// Verifies the NSEC/NSEC3 RRsets of `authority` with `keys` of `zone` and
/// says what they prove about `qname` for `goal`; a bad signature is `Err`.
fn verify_denial(
    zone: &Name,
    qname: &Name,
    goal: DenialGoal,
    authority: &[Record],
    keys: &[&hickory_proto::dnssec::rdata::DNSKEY],
    now: u64,
) -> Result<Denial, BogusReason> {
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
        dnssec::verify_rrset(zone, owner, *t, &recs, &sigs, keys, now)?;
        if *t == HType::NSEC {
            nsecs.extend(recs);
        } else {
            nsec3s.extend(recs);
        }
    }
    Ok(dnssec::prove_denial(zone, qname, goal, &nsecs, &nsec3s))
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
    let denial = match verify_denial(zone, qname, goal, authority, keys, now) {
        Ok(d) => d,
        Err(r) => return Some(Security::Bogus(r)),
    };
    let zone_d = DnsName::from_hickory(zone);
    match denial {
        Denial::Proven(_) | Denial::NotDelegation(_) => None,
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
            Some(Security::Bogus(if has_denial_records(authority) {
                BogusReason::DenialInvalid {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            } else {
                BogusReason::DenialMissing {
                    zone: zone_d,
                    rrset,
                    denial,
                    detail,
                }
            }))
        }
    }
}

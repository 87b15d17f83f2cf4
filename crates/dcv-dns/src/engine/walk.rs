//! The iterative walk (RFC 1034 §4.3.2): from the closest known zone cut
//! down through referrals, asking every server of each cut, building child
//! cuts from referrals and glue, and resolving out-of-bailiwick name servers.

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use futures::future::join_all;
use hickory_proto::rr::RData;

use crate::{
    limits,
    lookup::{CutSource, NameServer, ServFailReason, ServerVerdict, UnresolvedNs, ZoneCut},
    types::{DnsName, RecordType},
    wire::Decoded,
};

use super::{BoxFuture, Engine, lock};

use super::classify::{choose_for, failures};
use super::ctx::Ctx;

/// Where a walk ended.
pub(super) enum WalkEnd {
    Final {
        cut: Arc<ZoneCut>,
        verdict: ServerVerdict,
        decoded: Box<Decoded>,
    },
    Fail(ServFailReason),
}

impl Engine {
    /// Walks from the closest known cut down to an authoritative answer.
    pub(super) fn walk<'a>(
        &'a self,
        qname: &'a DnsName,
        qtype: RecordType,
        stack: &'a [DnsName],
        ctx: &'a mut Ctx,
        keep_answers: bool,
    ) -> BoxFuture<'a, WalkEnd> {
        Box::pin(async move {
            // DS lives on the parent side of a cut (RFC 4035 §3.1.4.1).
            let start = match qname.parent() {
                Some(p) if qtype == RecordType::DS => p,
                _ => qname.clone(),
            };
            let mut cut = self.closest_cut(&start);
            self.add_cut_path(&cut, ctx);
            for _ in 0..limits::MAX_REFERRALS {
                if cut.servers.is_empty() {
                    return WalkEnd::Fail(ServFailReason::NoServerAddresses {
                        zone: cut.zone.clone(),
                        unresolved: cut.unresolved.clone(),
                    });
                }
                self.prefetch_zone_keys(&cut.zone);
                let asked = std::time::Instant::now();
                let (servers, replies, verdicts) =
                    self.ask_cut_in(&cut, qname, qtype, ctx, keep_answers).await;
                for r in &replies {
                    ctx.add_reply(r, qname, qtype);
                }
                let chosen = choose_for(qname, qtype, &replies, &verdicts);
                if keep_answers {
                    ctx.add_answers(
                        &cut.zone,
                        (qname, qtype),
                        (&servers, &replies, &verdicts),
                        chosen,
                    );
                }
                let Some(i) = chosen else {
                    // Another lookup (of this check, or of the batch through
                    // the shared cache) may have learned a cut below this one
                    // while these servers failed: a resolver with that
                    // delegation cached asks the child's servers, as Unbound
                    // does once its query to the parent has timed out (a
                    // parent that drops CAA queries, worlds seed 1800). The
                    // failed servers stay in the evidence.
                    let deeper = self.closest_cut(&start);
                    if deeper.zone.label_count() > cut.zone.label_count()
                        && !stack.contains(&deeper.zone)
                    {
                        self.add_cut_path(&deeper, ctx);
                        cut = deeper;
                        continue;
                    }
                    if verdicts
                        .iter()
                        .all(|v| matches!(v, ServerVerdict::NotAsked))
                    {
                        return WalkEnd::Fail(ServFailReason::BudgetExhausted {
                            limit: self.inner.config.max_queries,
                        });
                    }
                    return WalkEnd::Fail(ServFailReason::AllServersFailed {
                        zone: cut.zone.clone(),
                        failures: failures(&servers, &verdicts),
                    });
                };
                let Some(decoded) = replies[i].decoded.clone() else {
                    return WalkEnd::Fail(ServFailReason::AllServersFailed {
                        zone: cut.zone.clone(),
                        failures: failures(&servers, &verdicts),
                    });
                };
                if let ServerVerdict::Referral { zone: child, .. } = &verdicts[i] {
                    if stack.contains(child) {
                        let mut zones = stack.to_vec();
                        zones.push(child.clone());
                        return WalkEnd::Fail(ServFailReason::NameServerCycle { zones });
                    }
                    let next = if let Some(c) = self.known_cut(child) {
                        c
                    } else {
                        let next = self
                            .build_cut(child, &cut, replies[i].server, &decoded, stack, ctx)
                            .await;
                        self.share_cut(&next, &decoded, &replies, asked);
                        next
                    };
                    self.add_cut_path(&next, ctx);
                    cut = next;
                    continue;
                }
                return WalkEnd::Final {
                    cut,
                    verdict: verdicts[i].clone(),
                    decoded: Box::new(decoded),
                };
            }
            WalkEnd::Fail(ServFailReason::TooManyReferrals {
                limit: limits::MAX_REFERRALS,
            })
        })
    }

    /// Builds the child cut from a referral: NS names, in-bailiwick glue
    /// (RFC 1034 §4.2.1; Unbound `harden-glue`), and addresses of the other
    /// NS names resolved separately, with bounded nesting.
    pub(super) async fn build_cut(
        &self,
        child: &DnsName,
        parent: &ZoneCut,
        referred_by: SocketAddr,
        decoded: &Decoded,
        stack: &[DnsName],
        ctx: &mut Ctx,
    ) -> Arc<ZoneCut> {
        let child_h = child.to_hickory();
        let parent_h = parent.zone.to_hickory();
        let mut ns_names: Vec<DnsName> = Vec::new();
        for r in &decoded.authority {
            if let RData::NS(ns) = &r.data {
                let n = DnsName::from_hickory(&ns.0);
                if r.name == child_h
                    && !ns_names.contains(&n)
                    && ns_names.len() < limits::MAX_NS_NAMES_PER_CUT
                {
                    ns_names.push(n);
                }
            }
        }
        let port = self.inner.config.port;
        let use_v6 = self.inner.config.use_ipv6;
        let mut servers = Vec::new();
        let mut unresolved = Vec::new();
        let mut to_resolve = Vec::new();
        for ns in &ns_names {
            let ns_h = ns.to_hickory();
            let glue: Vec<SocketAddr> = decoded
                .additional
                .iter()
                .filter(|r| r.name == ns_h && parent_h.zone_of(&ns_h))
                .filter_map(|r| r.data.ip_addr())
                .filter(|ip| use_v6 || ip.is_ipv4())
                .map(|ip| SocketAddr::new(ip, port))
                .collect();
            if !glue.is_empty() {
                for addr in glue {
                    servers.push(NameServer {
                        name: ns.clone(),
                        addr,
                        glue: true,
                    });
                }
            } else if ns.is_subdomain_of(child) {
                unresolved.push(UnresolvedNs {
                    name: ns.clone(),
                    reason: format!(
                        "in-bailiwick name server of {child} without glue in the referral"
                    ),
                });
            } else if stack.len() >= usize::from(limits::MAX_NS_RESOLUTION_DEPTH) {
                unresolved.push(UnresolvedNs {
                    name: ns.clone(),
                    reason: format!(
                        "resolving it needs more than {} nested lookups",
                        limits::MAX_NS_RESOLUTION_DEPTH
                    ),
                });
            } else {
                to_resolve.push(ns.clone());
            }
        }
        let mut inner = stack.to_vec();
        inner.push(child.clone());
        for (ns, found, reason) in self.resolve_ns_servers(&to_resolve, &inner, ctx).await {
            if found.is_empty() {
                unresolved.push(UnresolvedNs { name: ns, reason });
            }
            servers.extend(found);
        }
        dedup_servers(&mut servers);
        let cut = ZoneCut {
            zone: child.clone(),
            parent: Some(parent.zone.clone()),
            ns_names,
            servers,
            unresolved,
            referred_by: Some(referred_by),
            found_by: CutSource::Referral,
            from_shared_cache: None,
        };
        // A cut built inside a nested NS resolution with names left
        // unresolved reflects that nesting, not the zone: do not cache it.
        if !stack.is_empty() && !cut.unresolved.is_empty() {
            return Arc::new(cut);
        }
        let mut cuts = lock(&self.inner.cuts);
        cuts.entry(child.clone())
            .or_insert_with(|| Arc::new(cut))
            .clone()
    }

    /// Offers a cut this engine built from a referral to the shared cache,
    /// with the exchanges of the referral, for the smallest TTL of the NS
    /// RRset and the glue it holds (a cut with NS names left unresolved: at
    /// most [`limits::SHARED_CACHE_BOGUS_TTL`], the failure may pass). Cuts
    /// built inside a nested NS resolution that this engine did not keep
    /// are not offered either.
    fn share_cut(
        &self,
        cut: &Arc<ZoneCut>,
        referral: &Decoded,
        replies: &[Arc<crate::transport::ServerReply>],
        asked: std::time::Instant,
    ) {
        let Some(shared) = &self.inner.config.shared_cache else {
            return;
        };
        let kept = lock(&self.inner.cuts)
            .get(&cut.zone)
            .is_some_and(|c| Arc::ptr_eq(c, cut));
        if !kept || cut.servers.is_empty() {
            return;
        }
        let zone_h = cut.zone.to_hickory();
        let ns_h: Vec<_> = cut.ns_names.iter().map(DnsName::to_hickory).collect();
        let ttl = referral
            .authority
            .iter()
            .filter(|r| r.name == zone_h && matches!(r.data, RData::NS(_)))
            .chain(
                referral
                    .additional
                    .iter()
                    .filter(|r| ns_h.contains(&r.name) && r.data.ip_addr().is_some()),
            )
            .map(|r| r.ttl)
            .min();
        let Some(ttl) = ttl else { return };
        let mut lifetime = std::time::Duration::from_secs(u64::from(ttl));
        if !cut.unresolved.is_empty() {
            lifetime = lifetime.min(limits::SHARED_CACHE_BOGUS_TTL);
        }
        let exchanges = replies
            .iter()
            .flat_map(|r| r.exchanges.iter().cloned())
            .collect();
        shared.put_cut(cut.clone(), exchanges, asked, lifetime);
    }

    /// The servers of NS names without glue: each name's addresses
    /// ([`Self::resolve_ns`], all names at once) on the engine's port, or
    /// why it has none. The lookups' evidence goes to `ctx`.
    pub(super) async fn resolve_ns_servers(
        &self,
        names: &[DnsName],
        stack: &[DnsName],
        ctx: &mut Ctx,
    ) -> Vec<(DnsName, Vec<NameServer>, String)> {
        let port = self.inner.config.port;
        let resolved = join_all(names.iter().map(|ns| self.resolve_ns(ns, stack))).await;
        names
            .iter()
            .zip(resolved)
            .map(|(ns, (addrs, reason, sub))| {
                ctx.merge(&sub, false);
                let servers = addrs
                    .into_iter()
                    .map(|ip| NameServer {
                        name: ns.clone(),
                        addr: SocketAddr::new(ip, port),
                        glue: false,
                    })
                    .collect();
                (ns.clone(), servers, reason)
            })
            .collect()
    }

    /// Addresses of an out-of-bailiwick NS name (A, and AAAA if IPv6 is on),
    /// both asked at once as Unbound's target fetches are: behind a slow
    /// parent, asking AAAA only after A would add a whole answer delay to
    /// every referral that needs them (worlds seed 40446: 2.25 s per answer,
    /// past the CA's budget). No DNSSEC validation: resolvers do not need it
    /// to reach servers.
    pub(super) async fn resolve_ns(
        &self,
        ns: &DnsName,
        stack: &[DnsName],
    ) -> (Vec<std::net::IpAddr>, String, Ctx) {
        let mut types = vec![RecordType::A];
        if self.inner.config.use_ipv6 {
            types.push(RecordType::AAAA);
        }
        let walks = join_all(types.iter().map(|&t| async move {
            let mut ctx = Ctx::default();
            let end = self.walk(ns, t, stack, &mut ctx, false).await;
            (t, end, ctx)
        }))
        .await;
        let mut ctx = Ctx::default();
        let mut addrs = Vec::new();
        let mut reasons = Vec::new();
        for (t, end, sub) in walks {
            ctx.merge(&sub, false);
            match end {
                WalkEnd::Final {
                    verdict: ServerVerdict::Answer { .. },
                    decoded,
                    ..
                } => {
                    let ns_h = ns.to_hickory();
                    let found: Vec<_> = decoded
                        .answers
                        .iter()
                        .filter(|r| r.name == ns_h)
                        .filter_map(|r| r.data.ip_addr())
                        .collect();
                    if found.is_empty() {
                        reasons.push(format!("{t}: no address records (CNAME or empty)"));
                    }
                    addrs.extend(found);
                }
                WalkEnd::Final { verdict, .. } => {
                    reasons.push(format!(
                        "{t}: {}",
                        verdict.failure_text().replace("answered ", "")
                    ));
                }
                WalkEnd::Fail(why) => reasons.push(format!("{t}: {why}")),
            }
        }
        (addrs, reasons.join("; "), ctx)
    }
}

/// One server per address, at most [`limits::MAX_SERVERS_PER_CUT`], in the
/// order given.
pub(super) fn dedup_servers(servers: &mut Vec<NameServer>) {
    let mut unique = HashSet::new();
    servers.retain(|s| unique.insert(s.addr));
    servers.truncate(limits::MAX_SERVERS_PER_CUT);
}

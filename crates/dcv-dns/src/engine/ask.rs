//! The questions the engine puts to name servers: one server (cached and
//! deduplicated in flight, under the query budget), every server of a zone
//! cut, and the single-path probes. Where retransmission and server choice
//! live, apart from the walk that decides what to ask.
//!
//! Server choice: every server of a cut is asked at once (each question in
//! its own task). The walk goes on as soon as an authoritative answer or a
//! referral has come and the servers about as fast have answered too
//! ([`limits::FIRST_ANSWER_GRACE`]); a slow, lossy or dead server does not
//! hold it. Its question keeps running and, for the lookup's own
//! questions, is collected into the evidence before the lookup completes,
//! so rules that compare servers still see every answer. The CA's budget
//! for one lookup ([`crate::EngineConfig::lookup_budget`]) bounds both the
//! waiting and the collecting: a server still silent then timed out for
//! the CA too.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::{task::JoinHandle, time::Instant};

use crate::{
    evidence::{Exchange, ExchangeResult, Protocol},
    limits,
    lookup::{NameServer, ServerAnswer, ServerVerdict, ZoneCut},
    transport::{self, Io, QueryParams, ServerReply},
    types::{DnsName, RecordType},
};

use super::classify::{answered_with_edns, authoritative_or_referral, classify_for, is_aa};
use super::ctx::Ctx;
use super::{Engine, lock};

/// A server's question still running when the walk went on; its answer is
/// collected before the lookup completes ([`Engine::collect_late`]).
pub(super) struct Late {
    zone: DnsName,
    qname: DnsName,
    qtype: RecordType,
    server: NameServer,
    /// When the question was put (for a timeout's evidence).
    asked: Instant,
    reply: JoinHandle<Arc<ServerReply>>,
}

/// What [`Engine::ask_cut_in`] hands back: the servers that answered (or
/// gave up) in time for the walk, in the cut's order, and their replies and
/// verdicts, index-aligned.
pub(super) type CutReplies = (Vec<NameServer>, Vec<Arc<ServerReply>>, Vec<ServerVerdict>);

/// A reply the walk can go on with at once: an authoritative answer or a
/// referral, with EDNS (what [`super::classify::choose`] prefers). A reply
/// that came only after falling back to plain DNS (RFC 6891 §7) cannot
/// carry DNSSEC records (no DO bit), so the walk waits for the zone's
/// other servers rather than validate a signed zone's unsigned answer as
/// bogus, as Unbound passes over a DNSSEC-lame server: one lost packet to
/// the server that speaks EDNS must not decide the verdict. When no server
/// speaks EDNS, the wait ends once every server has answered.
fn decisive(reply: &ServerReply, verdict: &ServerVerdict) -> bool {
    verdict.is_usable() && authoritative_or_referral(reply, verdict) && answered_with_edns(reply)
}

impl Engine {
    fn params(&self) -> QueryParams {
        QueryParams {
            patience: self.inner.config.query_timeout,
            retries: self.inner.config.retries,
            policy: self.inner.config.server_policy,
        }
    }

    /// Asks `server` one question over one chosen `path` (UDP or TCP, with or
    /// without EDNS), bypassing the cache: the single-host probe of "is this
    /// server reachable every way a CA's resolver may ask" (RFC 8659 §6.1).
    /// A truncated UDP answer is returned as it came (TC set), not retried
    /// over TCP. UDP is retransmitted on the server's RTO like every other
    /// question, so one lost packet does not make a failing path. Counts
    /// against the query budget; `None` once it is spent.
    pub async fn probe_path(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        path: crate::evidence::QueryPath,
    ) -> Option<Exchange> {
        let budget = || self.take_budget();
        let io = Io {
            take_budget: &budget,
            journal: &self.inner.journal,
            infra: &self.inner.infra,
        };
        transport::query_path(server, &qname.to_hickory(), qtype, path, self.params(), &io).await
    }

    pub(super) fn take_budget(&self) -> bool {
        self.inner
            .sent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.inner.config.max_queries).then_some(n + 1)
            })
            .is_ok()
    }

    /// One question to one server, cached and deduplicated in flight.
    pub(super) async fn ask(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
    ) -> Arc<ServerReply> {
        let cell = {
            let mut map = lock(&self.inner.replies);
            map.entry((server, qname.clone(), qtype))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            let budget = || self.take_budget();
            let io = Io {
                take_budget: &budget,
                journal: &self.inner.journal,
                infra: &self.inner.infra,
            };
            Arc::new(transport::query(server, &qname.to_hickory(), qtype, self.params(), &io).await)
        })
        .await
        .clone()
    }

    /// The reply already cached for this question, if any.
    fn cached(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
    ) -> Option<Arc<ServerReply>> {
        lock(&self.inner.replies)
            .get(&(server, qname.clone(), qtype))
            .and_then(|cell| cell.get().cloned())
    }

    /// [`Engine::ask_cut`] for a lookup's walk: the servers left running are
    /// collected into `ctx` when `keep` (the lookup's own questions, whose
    /// every answer is evidence), and the lookup's budget bounds the wait.
    pub(super) async fn ask_cut_in(
        &self,
        cut: &ZoneCut,
        qname: &DnsName,
        qtype: RecordType,
        ctx: &mut Ctx,
        keep: bool,
    ) -> CutReplies {
        let budget = self.inner.config.lookup_budget;
        let deadline = *ctx.deadline.get_or_insert_with(|| Instant::now() + budget);
        let mut late = Vec::new();
        let replies = self.ask_cut(cut, qname, qtype, deadline, &mut late).await;
        if keep {
            ctx.late.extend(late);
        }
        replies
    }

    /// Asks the servers of `cut` concurrently; the root's servers (unless
    /// [`EngineConfig::ask_every_root_server`]) one at a time until one is
    /// usable, as a resolver would: they are never the domain's problem.
    /// Returns once a decisive reply is in and the others have had the
    /// grace, or every server has answered or given up, or at `deadline`
    /// (the CA's budget), when every server still silent without a usable
    /// answer in counts as timed out. The servers still running go to
    /// `late`.
    ///
    /// [`EngineConfig::ask_every_root_server`]: crate::EngineConfig::ask_every_root_server
    pub(super) async fn ask_cut(
        &self,
        cut: &ZoneCut,
        qname: &DnsName,
        qtype: RecordType,
        deadline: Instant,
        late: &mut Vec<Late>,
    ) -> CutReplies {
        if cut.parent.is_none() && !self.inner.config.ask_every_root_server {
            let mut servers = Vec::new();
            let mut replies = Vec::new();
            let mut verdicts = Vec::new();
            for ns in &cut.servers {
                let reply = self.ask(ns.addr, qname, qtype).await;
                let verdict = classify_for(&cut.zone, qname, qtype, &reply);
                let done = verdict.is_usable();
                servers.push(ns.clone());
                replies.push(reply);
                verdicts.push(verdict);
                if done {
                    break;
                }
            }
            return (servers, replies, verdicts);
        }
        let n = cut.servers.len();
        let mut done: Vec<Option<Arc<ServerReply>>> = cut
            .servers
            .iter()
            .map(|ns| self.cached(ns.addr, qname, qtype))
            .collect();
        let mut running: Vec<Option<JoinHandle<Arc<ServerReply>>>> = (0..n).map(|_| None).collect();
        for (i, ns) in cut.servers.iter().enumerate() {
            if done[i].is_none() {
                let engine = self.clone();
                let (addr, qname) = (ns.addr, qname.clone());
                running[i] = Some(tokio::spawn(async move {
                    engine.ask(addr, &qname, qtype).await
                }));
            }
        }
        let started = Instant::now();
        let mut first: Option<Instant> = done
            .iter()
            .flatten()
            .any(|r| decisive(r, &classify_for(&cut.zone, qname, qtype, r)))
            .then_some(started);
        {
            let mut waiting: FuturesUnordered<_> = running
                .iter_mut()
                .enumerate()
                .filter_map(|(i, h)| h.as_mut().map(|h| async move { (i, h.await) }))
                .collect();
            loop {
                let grace_end = first.map(|f| {
                    f + f
                        .saturating_duration_since(started)
                        .max(limits::FIRST_ANSWER_GRACE)
                });
                let until = grace_end.map_or(deadline, |g| g.min(deadline));
                match tokio::time::timeout_at(until, waiting.next()).await.ok() {
                    Some(Some((i, joined))) => {
                        let reply = joined.unwrap_or_else(|_| {
                            // The task panicked or was cancelled: nothing sent
                            // is known, so the server counts as not asked.
                            Arc::new(ServerReply {
                                server: cut.servers[i].addr,
                                exchanges: Vec::new(),
                                decoded: None,
                            })
                        });
                        if first.is_none()
                            && decisive(&reply, &classify_for(&cut.zone, qname, qtype, &reply))
                        {
                            first = Some(Instant::now());
                        }
                        done[i] = Some(reply);
                    }
                    // Every server answered or gave up, or the wait is over.
                    Some(None) | None => break,
                }
            }
        }
        let out_of_budget = Instant::now() >= deadline;
        let mut servers = Vec::new();
        let mut replies = Vec::new();
        let mut verdicts = Vec::new();
        for (i, ns) in cut.servers.iter().enumerate() {
            let reply = match done[i].take() {
                Some(reply) => reply,
                // Still running while nothing usable came before the CA's
                // budget ran out: for the CA this server timed out.
                None if out_of_budget && first.is_none() => {
                    Arc::new(self.budget_timeout(ns.addr, qname, qtype, started))
                }
                None => {
                    if let Some(reply) = running[i].take() {
                        late.push(Late {
                            zone: cut.zone.clone(),
                            qname: qname.clone(),
                            qtype,
                            server: ns.clone(),
                            asked: started,
                            reply,
                        });
                    }
                    continue;
                }
            };
            verdicts.push(classify_for(&cut.zone, qname, qtype, &reply));
            servers.push(ns.clone());
            replies.push(reply);
        }
        (servers, replies, verdicts)
    }

    /// The reply of a server the CA stopped waiting for: a timeout after
    /// the tries the journal shows in flight.
    fn budget_timeout(
        &self,
        server: SocketAddr,
        qname: &DnsName,
        qtype: RecordType,
        since: Instant,
    ) -> ServerReply {
        let waited = since.elapsed();
        let tries = self.inner.journal.tries_in_flight(server, qname, qtype);
        ServerReply {
            server,
            exchanges: vec![Exchange {
                server,
                protocol: Protocol::Udp,
                qname: qname.clone(),
                qtype,
                attempt: tries.max(1),
                tries,
                latency: waited,
                waited,
                result: ExchangeResult::Timeout,
            }],
            decoded: None,
        }
    }

    /// Waits for the questions the walk left running and adds their
    /// answers to the lookup's evidence (never chosen: the walk had gone on).
    /// Bounded by the lookup's budget; a server still silent then is
    /// recorded as timed out, which for the CA it was.
    pub(super) async fn collect_late(&self, ctx: &mut Ctx) {
        let late = std::mem::take(&mut ctx.late);
        let deadline = ctx
            .deadline
            .unwrap_or_else(|| Instant::now() + self.inner.config.lookup_budget);
        for l in late {
            let reply = match tokio::time::timeout_at(deadline, l.reply).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) => continue,
                Err(_) => Arc::new(self.budget_timeout(l.server.addr, &l.qname, l.qtype, l.asked)),
            };
            ctx.add_reply(&reply, &l.qname, l.qtype);
            ctx.answers.push(ServerAnswer {
                verdict: classify_for(&l.zone, &l.qname, l.qtype, &reply),
                authoritative: is_aa(&reply),
                zone: l.zone,
                qname: l.qname,
                qtype: l.qtype,
                server: l.server,
                chosen: false,
            });
        }
    }
}

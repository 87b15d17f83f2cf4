//! What one engine (one check) has learned about each server address: the
//! smoothed round-trip time and its variation, the retransmission timeout
//! (RTO) the next try waits before the query is sent again, and the counts
//! behind the slow/lossy server evidence. Every lookup of the engine shares
//! it, as a resolver's infrastructure cache is shared by all its queries.
//!
//! The estimator is Unbound's (`util/rtt.c`, `services/cache/infra.c`), which
//! is Jacobson/Karels (RFC 6298 §2) with Stevens' constants: an address never
//! heard from starts at [`limits::INITIAL_RTO`]; each answer moves the
//! smoothed RTT by 1/8 and the variation by 1/4 of the error, RTO = SRTT + 4
//! RTTVAR within [`limits::MIN_RTO`]..[`limits::MAX_RTO`]; each timeout
//! doubles the RTO the lost try used (exponential back-off, RFC 6298 §5.5).
//! Unlike Unbound, which keys by address and zone, the state is per address:
//! the round trip is a property of the path to the server.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use serde::Serialize;

use crate::limits;

/// One address's round-trip estimate, in milliseconds (Unbound `rtt_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rtt {
    srtt: i64,
    rttvar: i64,
    pub(crate) rto: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Rtt {
    /// An address never heard from (Unbound `rtt_init`): SRTT 0 and RTTVAR a
    /// quarter of the initial RTO, so the first RTO is the initial one.
    pub(crate) fn new(initial_rto: Duration) -> Self {
        let mut rtt = Self {
            srtt: 0,
            rttvar: ms(initial_rto) / 4,
            rto: 0,
        };
        rtt.rto = rtt.calc();
        rtt
    }

    /// RTO = SRTT + 4 RTTVAR, clamped (Unbound `calc_rto`).
    fn calc(&self) -> i64 {
        (self.srtt + 4 * self.rttvar).clamp(ms(limits::MIN_RTO), ms(limits::MAX_RTO))
    }

    /// The RTO without the clamp, or the backed-off one after a timeout
    /// (Unbound `rtt_unclamped`).
    fn unclamped(&self) -> i64 {
        if self.calc() == self.rto {
            self.srtt + 4 * self.rttvar
        } else {
            self.rto
        }
    }

    /// A measured round trip (Unbound `rtt_update`, gains 1/8 and 1/4).
    pub(crate) fn update(&mut self, sample: i64) {
        let delta = sample - self.srtt;
        self.srtt += delta / 8;
        self.rttvar += (delta.abs() - self.rttvar) / 4;
        self.rto = self.calc();
    }

    /// A try that waited `orig` and got nothing (Unbound `rtt_lost`): double
    /// the RTO that try used, not the current one, so many queries timing
    /// out together back off once; ignore it if an answer has lowered the
    /// RTO since.
    pub(crate) fn lost(&mut self, orig: i64) {
        if self.rto < orig {
            return;
        }
        let doubled = orig.saturating_mul(2);
        if self.rto <= doubled {
            self.rto = doubled.min(ms(limits::MAX_RTO));
        }
    }
}

/// What one engine measured of one server address, over every question it
/// asked there (all lookups, path probes included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerTiming {
    pub server: SocketAddr,
    /// Questions asked (one per name, type and path), finished or not.
    pub questions: u32,
    /// Questions that got an answer (any RCODE).
    pub answered: u32,
    /// UDP packets sent, retransmissions included.
    pub tries: u32,
    /// Tries lost on the way: sent before the try a question's answer
    /// belonged to, they never got an answer although a later one did (a
    /// lossy path). Questions never answered are counted in `unanswered`.
    pub lost: u32,
    /// Answers that came after their try's RTO had run out, so the query had
    /// been (or would have been) sent again: a resolver that drops late
    /// answers, as Unbound does, loses these.
    pub late: u32,
    /// Questions that ended with no answer (their patience ran out).
    pub unanswered: u32,
    /// Round-trip times of the answers, in milliseconds, fastest first
    /// (at most [`MAX_LATENCY_SAMPLES`]).
    pub latencies_ms: Vec<u64>,
    /// The RTO the next try to this server would wait, in milliseconds.
    pub rto_ms: u64,
}

impl ServerTiming {
    /// The median answer time (`None` before any answer).
    pub fn median_ms(&self) -> Option<u64> {
        self.latencies_ms.get(self.latencies_ms.len() / 2).copied()
    }

    /// The slowest answer time.
    pub fn max_ms(&self) -> Option<u64> {
        self.latencies_ms.last().copied()
    }
}

/// Answer times kept per server for the evidence; beyond it only the counts
/// grow (a check asks one server a few dozen questions).
pub const MAX_LATENCY_SAMPLES: usize = 256;

#[derive(Debug)]
struct Host {
    rtt: Rtt,
    timing: ServerTiming,
}

/// The engine's per-address state, under one uncontended lock.
#[derive(Debug)]
pub(crate) struct Infra {
    initial_rto: Duration,
    hosts: Mutex<HashMap<SocketAddr, Host>>,
}

/// How one question to one server ended, for [`Infra::finished`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QuestionEnd {
    /// UDP packets sent.
    pub tries: u8,
    /// The try the answer belonged to (1-based), or `None` if none came.
    pub answered_try: Option<u8>,
    /// Round trip of the answered try.
    pub latency: Duration,
    /// The answer arrived after that try's RTO.
    pub late: bool,
}

impl Infra {
    pub(crate) fn new(initial_rto: Duration) -> Self {
        Self {
            initial_rto: initial_rto.clamp(limits::MIN_RTO, limits::MAX_RTO),
            hosts: Mutex::default(),
        }
    }

    fn with<T>(&self, server: SocketAddr, f: impl FnOnce(&mut Host) -> T) -> T {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let host = hosts.entry(server).or_insert_with(|| Host {
            rtt: Rtt::new(self.initial_rto),
            timing: ServerTiming {
                server,
                questions: 0,
                answered: 0,
                tries: 0,
                lost: 0,
                late: 0,
                unanswered: 0,
                latencies_ms: Vec::new(),
                rto_ms: 0,
            },
        });
        f(host)
    }

    /// The RTO of a server never heard from.
    pub(crate) fn initial_rto(&self) -> Duration {
        self.initial_rto
    }

    /// How long the next try to `server` waits before it is sent again.
    pub(crate) fn rto(&self, server: SocketAddr) -> Duration {
        self.with(server, |h| duration(h.rtt.rto))
    }

    /// A try that waited `rto` without an answer.
    pub(crate) fn lost(&self, server: SocketAddr, rto: Duration) {
        self.with(server, |h| h.rtt.lost(ms(rto)));
    }

    /// An answer that took `rtt` (Unbound `infra_rtt_update`: an address
    /// backed off beyond any use starts afresh, then the sample is taken).
    pub(crate) fn answered(&self, server: SocketAddr, rtt: Duration) {
        self.with(server, |h| {
            if h.rtt.unclamped() >= ms(limits::MAX_RTO) {
                h.rtt = Rtt::new(self.initial_rto);
            }
            h.rtt.update(ms(rtt));
        });
    }

    /// Whether `server` has let a question run out of patience and answered
    /// none this check: a resolver has backed it off and does not wait on it.
    pub(crate) fn silent(&self, server: SocketAddr) -> bool {
        self.with(server, |h| {
            h.timing.unanswered > 0 && h.timing.answered == 0
        })
    }

    /// Counts one finished question for the evidence.
    pub(crate) fn finished(&self, server: SocketAddr, end: QuestionEnd) {
        self.with(server, |h| {
            let t = &mut h.timing;
            t.questions += 1;
            t.tries += u32::from(end.tries);
            if let Some(k) = end.answered_try {
                t.answered += 1;
                t.lost += u32::from(k.saturating_sub(1));
                t.late += u32::from(end.late);
                if t.latencies_ms.len() < MAX_LATENCY_SAMPLES {
                    let sample = u64::try_from(end.latency.as_millis()).unwrap_or(u64::MAX);
                    let at = t.latencies_ms.partition_point(|x| *x <= sample);
                    t.latencies_ms.insert(at, sample);
                }
            } else {
                t.unanswered += 1;
            }
        });
    }

    /// Every server asked so far, by address.
    pub(crate) fn timings(&self) -> Vec<ServerTiming> {
        let hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<ServerTiming> = hosts
            .values()
            .filter(|h| h.timing.questions > 0)
            .map(|h| ServerTiming {
                rto_ms: u64::try_from(h.rtt.rto).unwrap_or(0),
                ..h.timing.clone()
            })
            .collect();
        out.sort_by_key(|t| t.server);
        out
    }
}

/// How long a resolver that starts at `initial_rto` for a server it has
/// never heard from, doubles it on each timeout and never accepts a late
/// answer (Unbound) waits in timeouts before a try's timer is long enough
/// for an answer that takes `latency`: the cost of a slow server on the
/// CA's first contact with it, and the number of tries it loses. `None`
/// when no try of `tries` waits long enough.
pub fn cold_resolver_cost(
    latency: Duration,
    initial_rto: Duration,
    tries: u8,
) -> Option<(Duration, u8)> {
    let mut rtt = Rtt::new(initial_rto);
    let mut wasted = 0i64;
    for lost in 0..tries {
        if rtt.rto > ms(latency) {
            return Some((duration(wasted), lost));
        }
        wasted += rtt.rto;
        rtt.lost(rtt.rto);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: Duration = limits::INITIAL_RTO;

    /// Unbound's numbers: 376 ms first, then 752, 1504 (rtt.c comment: "first
    /// RTO is 0 + 4*0.094 = 0.376 seconds").
    #[test]
    fn a_new_server_starts_at_the_initial_rto_and_doubles_per_timeout() {
        let infra = Infra::new(INITIAL);
        let s: SocketAddr = "192.0.2.1:53".parse().unwrap();
        assert_eq!(infra.rto(s), Duration::from_millis(376));
        infra.lost(s, Duration::from_millis(376));
        assert_eq!(infra.rto(s), Duration::from_millis(752));
        // A second try that timed out with the old RTO does not double twice.
        infra.lost(s, Duration::from_millis(376));
        assert_eq!(infra.rto(s), Duration::from_millis(752));
        infra.lost(s, Duration::from_millis(752));
        assert_eq!(infra.rto(s), Duration::from_millis(1504));
    }

    /// A fast server's RTO falls towards the floor; a slow one's stays above
    /// its round trip, so its answers stop being retransmitted for.
    #[test]
    fn answers_move_the_rto_towards_the_measured_round_trip() {
        let infra = Infra::new(INITIAL);
        let fast: SocketAddr = "192.0.2.1:53".parse().unwrap();
        for _ in 0..40 {
            infra.answered(fast, Duration::from_millis(2));
        }
        assert_eq!(infra.rto(fast), limits::MIN_RTO);
        let slow: SocketAddr = "192.0.2.2:53".parse().unwrap();
        infra.lost(slow, Duration::from_millis(376));
        infra.lost(slow, Duration::from_millis(752));
        infra.answered(slow, Duration::from_millis(1500));
        // srtt 187, rttvar 94 + (1500-94)/4 = 445: RTO 1967 > 1500.
        assert_eq!(infra.rto(slow), Duration::from_millis(1967));
    }

    #[test]
    fn a_backed_off_server_that_answers_starts_afresh() {
        let infra = Infra::new(INITIAL);
        let s: SocketAddr = "192.0.2.1:53".parse().unwrap();
        let mut rto = infra.rto(s);
        while rto < limits::MAX_RTO {
            infra.lost(s, rto);
            rto = infra.rto(s);
        }
        infra.answered(s, Duration::from_millis(10));
        assert!(
            infra.rto(s) < Duration::from_millis(400),
            "{:?}",
            infra.rto(s)
        );
    }

    #[test]
    fn timings_count_tries_losses_and_late_answers() {
        let infra = Infra::new(INITIAL);
        let s: SocketAddr = "192.0.2.1:53".parse().unwrap();
        for (tries, answered_try, latency, late) in [
            (2, Some(2), 5, false),
            (3, Some(1), 1500, true),
            (1, Some(1), 3, false),
            (4, None, 0, false),
        ] {
            infra.finished(
                s,
                QuestionEnd {
                    tries,
                    answered_try,
                    latency: Duration::from_millis(latency),
                    late,
                },
            );
        }
        let t = &infra.timings()[0];
        assert_eq!(
            (
                t.questions,
                t.answered,
                t.tries,
                t.lost,
                t.late,
                t.unanswered
            ),
            (4, 3, 10, 1, 1, 1)
        );
        assert_eq!(t.latencies_ms, vec![3, 5, 1500]);
        assert_eq!((t.median_ms(), t.max_ms()), (Some(5), Some(1500)));
    }

    /// Unbound's schedule (376, 752, 1504, 3008, 6016 ms) against a server
    /// that answers after `latency`.
    #[test]
    fn the_cost_of_a_slow_server_to_a_resolver_that_drops_late_answers() {
        let cost = |ms| cold_resolver_cost(Duration::from_millis(ms), INITIAL, 5);
        assert_eq!(cost(100), Some((Duration::ZERO, 0)));
        assert_eq!(cost(500), Some((Duration::from_millis(376), 1)));
        assert_eq!(cost(1500), Some((Duration::from_millis(1128), 2)));
        assert_eq!(cost(3000), Some((Duration::from_millis(2632), 3)));
        assert_eq!(cost(6000), Some((Duration::from_millis(5640), 4)));
        assert_eq!(cost(7000), None);
    }
}

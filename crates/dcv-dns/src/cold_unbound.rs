//! What a cold Unbound, the resolver behind Let's Encrypt's validation, does
//! with one question to a zone whose servers are slow or dead: a model of
//! its timers and of its 0x20 fallback, so that a check can say whether the
//! CA gets through within its budget without running Unbound.
//!
//! Why a model and not our own engine's time: the engine asks every server
//! at once and takes late answers, so it gets through where Unbound does not.
//! Unbound with `use-caps-for-id: yes` (Let's Encrypt's setting,
//! peers-and-ca-behaviour.md §1.3, §3.2) treats three timeouts in a row on
//! one question as a sign that the servers mangle the 0x20 case and starts a
//! fallback (iterator.c `process_response`, "Capsforid: timeouts, starting
//! fallback") that asks the zone's addresses one at a time until three
//! answers per address agree (`caps_server+1 >= naddr*3`, at most 16,
//! `max-sent-count` 32 / 2), or the addresses' attempts run out ("no more
//! servers except last resort"). Behind servers that answer after a second,
//! that is ten or more answers in a row, one after the other.
//!
//! What is modelled, each from Unbound's source:
//! - per-address RTO, 376 ms for an address never heard from, doubled by
//!   each timeout and moved towards each measured round trip (`util/rtt.c`,
//!   shared with [`crate::infra`]); a late answer is dropped;
//! - server selection: the addresses whose RTO lies within 400 ms of the
//!   lowest (`RTT_BAND`), one of them at random (`iter_utils.c`); the model
//!   runs both the luckiest choice and the lowest-RTO-first one, and reports
//!   both: where they differ, the outcome depends on chance;
//! - five attempts per address (`outbound-msg-retry`), three given back when
//!   the fallback starts (`iter_dec_attempts(dp, 3)`), 32 sends at most;
//! - Unbound before 1.19.3 sends a timed-out question once more at the same
//!   RTO with a smaller EDNS size before counting the timeout
//!   (`outside_network.c`, "try edns1xx2"); 1.19.3 skips it when the
//!   configured EDNS size is not larger than the fragment size, as it is
//!   with Let's Encrypt's 1232 bytes ([`UnboundTimers::frag_retry`]).
//!
//! Measured against Unbound 1.17 on the lab (`tests/caps_fallback_differential.rs`):
//! one cold question for a TXT record of a signed zone with two servers
//! answering after 800 ms took 13.6 s (model 13.3 s), after 2,000 ms 28.8 s
//! (28.5 s); after 500 ms 2.8 s, no fallback (2.5 s); four addresses at
//! 1,000 ms 22.3 s (22.0 s). The same zone asked four questions at once got
//! through up to 1.7 s per answer: concurrent questions share the timeouts,
//! which this model of one question does not.

use std::time::Duration;

use crate::infra::Rtt;
use crate::limits;

/// `RTT_BAND` (`iter_utils.h`): addresses this close to the fastest are
/// chosen among at random.
const RTT_BAND_MS: i64 = 400;
/// `outbound-msg-retry` (default 5): sends to one address per question.
const ATTEMPTS_PER_ADDRESS: u32 = 5;
/// Attempts given back to every address when the fallback starts
/// (`iter_dec_attempts(iq->dp, 3, ...)`).
const ATTEMPTS_GIVEN_BACK: u32 = 3;
/// `max-sent-count` (default 32): sends per question before SERVFAIL.
const MAX_SENT: u32 = 32;
/// Timeouts in a row after which the next one starts the fallback
/// (`iq->timeout_count >= 3`, checked before the count is raised).
const TIMEOUTS_BEFORE_FALLBACK: u32 = 3;
/// Matching answers the fallback wants per address of the zone.
const FALLBACK_ANSWERS_PER_ADDRESS: u32 = 3;
/// At most 16 answers (`caps_server*2+2 >= max_sent_count`).
const FALLBACK_ANSWERS_MAX: u32 = MAX_SENT / 2;

/// The resolver's settings the model depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnboundTimers {
    /// `use-caps-for-id`.
    pub caps_for_id: bool,
    /// Resend at the same RTO with a smaller EDNS size before a timeout
    /// counts (Unbound before 1.19.3, or an EDNS size above the fragment
    /// size).
    pub frag_retry: bool,
}

impl UnboundTimers {
    /// Let's Encrypt's resolver: Unbound 1.24 with `use-caps-for-id: yes`
    /// and `edns-buffer-size: 1232` (peers-and-ca-behaviour.md §3.2).
    pub const LETS_ENCRYPT: Self = Self {
        caps_for_id: true,
        frag_retry: false,
    };
}

/// One address of the zone's servers, as this check measured it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneAddress {
    /// How long its answers take; `None` when it never answers.
    pub latency: Option<Duration>,
    /// Whether the resolver can send to it at all (an IPv6 address for a
    /// resolver without IPv6 is counted by the fallback, never asked).
    pub usable: bool,
}

/// Which address the resolver picks among those within the band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The pick that gets an answer soonest.
    Luckiest,
    /// Always the lowest RTO (the first such address on a tie).
    LowestRto,
}

/// What happened to the questions asked in one run of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColdRun {
    /// Whether every question got an answer.
    pub answered: bool,
    /// Time from the first send to the last question's answer (or failure).
    pub elapsed: Duration,
    /// Tries that timed out.
    pub timeouts: u32,
    /// Whether the 0x20 fallback started, and how many answers it took.
    pub fallback_answers: Option<u32>,
}

/// Both ends of what a cold Unbound can do: the luckiest server choices and
/// lowest-RTO-first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColdEstimate {
    pub luckiest: ColdRun,
    pub lowest_rto: ColdRun,
}

impl ColdEstimate {
    /// Whether the fallback starts whatever the choices.
    pub fn fallback_certain(&self) -> bool {
        self.luckiest.fallback_answers.is_some() && self.lowest_rto.fallback_answers.is_some()
    }

    /// Whether some choices start the fallback.
    pub fn fallback_possible(&self) -> bool {
        self.luckiest.fallback_answers.is_some() || self.lowest_rto.fallback_answers.is_some()
    }

    /// The fallback as the evidence and the tests name it: `certain`,
    /// `possible` (some server choices) or `never`.
    pub fn fallback(&self) -> &'static str {
        if self.fallback_certain() {
            "certain"
        } else if self.fallback_possible() {
            "possible"
        } else {
            "never"
        }
    }

    /// The shorter of the two times.
    pub fn best_case(&self) -> Duration {
        self.luckiest.elapsed.min(self.lowest_rto.elapsed)
    }

    /// The longer of the two times.
    pub fn worst_case(&self) -> Duration {
        self.luckiest.elapsed.max(self.lowest_rto.elapsed)
    }
}

/// `questions` questions to the zone, one after the other, from a cold
/// cache (the first is the CA's; a signed zone's DNSKEY fetch by the
/// validator is a second), under both server choices.
pub fn estimate(addresses: &[ZoneAddress], timers: UnboundTimers, questions: u32) -> ColdEstimate {
    ColdEstimate {
        luckiest: run(addresses, timers, questions, Choice::Luckiest),
        lowest_rto: run(addresses, timers, questions, Choice::LowestRto),
    }
}

/// One run of the model. Bounded: at most [`MAX_SENT`] sends per question,
/// `questions` capped at 8.
pub fn run(
    addresses: &[ZoneAddress],
    timers: UnboundTimers,
    questions: u32,
    choice: Choice,
) -> ColdRun {
    let mut rtt: Vec<Rtt> = addresses
        .iter()
        .map(|_| Rtt::new(limits::INITIAL_RTO))
        .collect();
    let mut total = ColdRun {
        answered: true,
        elapsed: Duration::ZERO,
        timeouts: 0,
        fallback_answers: None,
    };
    for _ in 0..questions.clamp(1, 8) {
        let one = question(addresses, timers, choice, &mut rtt);
        total.elapsed += one.elapsed;
        total.timeouts += one.timeouts;
        total.fallback_answers = total.fallback_answers.or(one.fallback_answers);
        if !one.answered {
            total.answered = false;
            break;
        }
    }
    total
}

/// What one send costs and brings.
enum Send {
    Answer(i64),
    Timeout(i64),
}

/// One send to `address` with its current RTO: the answer if it comes
/// before the RTO runs out, else a timeout (after the resend at the same RTO
/// when the fragment retry is on) and the back-off. A late answer is dropped.
fn send(address: &ZoneAddress, rtt: &mut Rtt, frag_retry: bool) -> Send {
    let rto = rtt.rto;
    match address.latency.map(millis) {
        Some(latency) if latency <= rto => {
            rtt.update(latency);
            Send::Answer(latency)
        }
        _ => {
            rtt.lost(rto);
            Send::Timeout(if frag_retry { 2 * rto } else { rto })
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The address Unbound would pick, or `None` when no usable address has
/// attempts left.
fn pick(addresses: &[ZoneAddress], rtt: &[Rtt], attempts: &[u32], choice: Choice) -> Option<usize> {
    let open: Vec<usize> = (0..addresses.len())
        .filter(|&i| addresses[i].usable && attempts[i] < ATTEMPTS_PER_ADDRESS)
        .collect();
    let lowest = open.iter().map(|&i| rtt[i].rto).min()?;
    let band: Vec<usize> = open
        .into_iter()
        .filter(|&i| rtt[i].rto <= lowest + RTT_BAND_MS)
        .collect();
    match choice {
        Choice::LowestRto => band.into_iter().find(|&i| rtt[i].rto == lowest),
        Choice::Luckiest => {
            // One that answers within its RTO, else the one whose RTO is
            // highest (closest to a wait long enough).
            let answers = |i: usize| {
                addresses[i]
                    .latency
                    .is_some_and(|l| millis(l) <= rtt[i].rto)
            };
            band.iter()
                .copied()
                .find(|&i| answers(i))
                .or_else(|| band.iter().copied().max_by_key(|&i| rtt[i].rto))
        }
    }
}

fn question(
    addresses: &[ZoneAddress],
    timers: UnboundTimers,
    choice: Choice,
    rtt: &mut [Rtt],
) -> ColdRun {
    let mut attempts = vec![0u32; addresses.len()];
    let mut waited = 0i64;
    let mut in_a_row = 0u32;
    let mut timeouts = 0u32;
    let mut fallback: Option<u32> = None;
    let wanted = u32::try_from(addresses.len())
        .unwrap_or(u32::MAX)
        .saturating_mul(FALLBACK_ANSWERS_PER_ADDRESS)
        .min(FALLBACK_ANSWERS_MAX);
    let done = |answered: bool, waited: i64, timeouts: u32, fallback: Option<u32>| ColdRun {
        answered,
        elapsed: Duration::from_millis(u64::try_from(waited).unwrap_or(0)),
        timeouts,
        fallback_answers: fallback,
    };
    for _ in 0..MAX_SENT {
        let Some(i) = pick(addresses, rtt, &attempts, choice) else {
            // "no more servers except last resort": the fallback settles
            // for the answers it has.
            let answered = fallback.is_some_and(|n| n > 0);
            return done(answered, waited, timeouts, fallback);
        };
        attempts[i] += 1;
        match send(&addresses[i], &mut rtt[i], timers.frag_retry) {
            Send::Answer(ms) => {
                waited += ms;
                match fallback.as_mut() {
                    None => return done(true, waited, timeouts, None),
                    Some(n) => {
                        *n += 1;
                        if *n >= wanted {
                            return done(true, waited, timeouts, fallback);
                        }
                    }
                }
            }
            Send::Timeout(ms) => {
                waited += ms;
                timeouts += 1;
                if fallback.is_none() && timers.caps_for_id && in_a_row >= TIMEOUTS_BEFORE_FALLBACK
                {
                    fallback = Some(0);
                    for a in &mut attempts {
                        *a = a.saturating_sub(ATTEMPTS_GIVEN_BACK);
                    }
                }
                in_a_row += 1;
            }
        }
    }
    // `max-sent-count` reached: SERVFAIL.
    done(false, waited, timeouts, fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(n: usize, ms: u64) -> Vec<ZoneAddress> {
        vec![
            ZoneAddress {
                latency: Some(Duration::from_millis(ms)),
                usable: true,
            };
            n
        ]
    }

    const DEBIAN_1_17: UnboundTimers = UnboundTimers {
        caps_for_id: true,
        frag_retry: true,
    };

    /// Two addresses at 500 ms: one timeout each at most (376 ms), then
    /// an RTO of 752 ms waits long enough. No fallback however chosen.
    #[test]
    fn two_addresses_at_500_ms_never_start_the_fallback() {
        let e = estimate(&slow(2, 500), UnboundTimers::LETS_ENCRYPT, 1);
        assert!(!e.fallback_possible(), "{e:?}");
        assert!(e.luckiest.answered && e.lowest_rto.answered);
        assert_eq!(e.luckiest.elapsed, Duration::from_millis(376 + 500));
    }

    /// Two addresses at 800 ms: 376 and 752 ms time out on each whatever
    /// the choice (752 leaves 376 out of the band, and back), so the fourth
    /// timeout starts the fallback; the lab measured it with Unbound 1.17
    /// (13.4 s, ten fallback answers: two usable addresses, five attempts
    /// each).
    #[test]
    fn two_addresses_at_800_ms_always_start_the_fallback() {
        let e = estimate(&slow(2, 800), UnboundTimers::LETS_ENCRYPT, 1);
        assert!(e.fallback_certain(), "{e:?}");
        // Cold: 376 + 376 + 752 + 752; then 3 x 2 answers of 800 ms.
        assert_eq!(e.lowest_rto.elapsed, Duration::from_millis(2256 + 6 * 800));
        let lab: Vec<ZoneAddress> = slow(2, 800)
            .into_iter()
            .chain(
                [ZoneAddress {
                    latency: None,
                    usable: false,
                }; 2],
            )
            .collect();
        let e = estimate(&lab, DEBIAN_1_17, 1);
        assert_eq!(e.lowest_rto.fallback_answers, Some(10), "{e:?}");
        assert_eq!(e.lowest_rto.elapsed, Duration::from_millis(4512 + 10 * 800));
    }

    /// One address at 1,500 ms: 376 and 752 time out, 1,504 waits long
    /// enough; two timeouts do not start the fallback.
    #[test]
    fn one_address_needs_four_timeouts() {
        let e = estimate(&slow(1, 1500), UnboundTimers::LETS_ENCRYPT, 1);
        assert!(!e.fallback_possible(), "{e:?}");
        let e = estimate(&slow(1, 3100), UnboundTimers::LETS_ENCRYPT, 1);
        assert!(e.fallback_certain(), "{e:?}");
    }

    /// Without 0x20 the same timeouts cost only their waits.
    #[test]
    fn without_caps_for_id_there_is_no_fallback() {
        let timers = UnboundTimers {
            caps_for_id: false,
            ..UnboundTimers::LETS_ENCRYPT
        };
        let e = estimate(&slow(2, 800), timers, 1);
        assert!(!e.fallback_possible());
        assert_eq!(e.lowest_rto.elapsed, Duration::from_millis(2256 + 800));
    }

    /// A dead address among live fast ones: the luckiest choice never asks
    /// it; lowest-RTO-first asks it first, times out once, then answers.
    #[test]
    fn a_dead_address_costs_one_timeout_at_most_when_others_answer() {
        let mut addrs = slow(1, 20);
        addrs.insert(
            0,
            ZoneAddress {
                latency: None,
                usable: true,
            },
        );
        let e = estimate(&addrs, UnboundTimers::LETS_ENCRYPT, 1);
        assert_eq!(e.luckiest.timeouts, 0);
        assert_eq!(e.lowest_rto.timeouts, 1);
        assert!(!e.fallback_possible());
    }

    /// Every address dead: the question fails within the send bound.
    #[test]
    fn dead_zone_fails_within_bounds() {
        let dead = vec![
            ZoneAddress {
                latency: None,
                usable: true,
            };
            3
        ];
        let e = estimate(&dead, UnboundTimers::LETS_ENCRYPT, 2);
        assert!(!e.luckiest.answered && !e.lowest_rto.answered);
    }
}

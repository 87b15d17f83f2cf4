//! The count: certificates as CT shows them, folded (a precertificate and its
//! certificate are one issuance), matched to Let's Encrypt by issuer, and
//! replayed through Boulder's token bucket to say how many remain and when
//! the next certificate becomes possible.
//!
//! Boulder (`ratelimits/gcra.go`) keeps a theoretical arrival time (TAT) per
//! bucket: each issuance moves it to `max(TAT, t) + T`, where `T` is the
//! emission interval (`period / count`). A request at `now` is allowed when
//! `max(TAT, now) + T - burst * T <= now`, so with the bucket empty the next
//! certificate is possible at `TAT + T - burst * T`. Replaying the issuances
//! CT shows gives the same TAT Boulder holds, as long as every one of them
//! was spent against the bucket (see [`Assessment::caveats`]).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::issuer::{IssuerMatch, classify};
use crate::limits::{
    self, CERTIFICATES_PER_DOMAIN, DUPLICATE_CERTIFICATE, RENEWAL_WINDOW, RateLimit,
};
use crate::model::{CrtShEntry, format_time};
use crate::names::NameSet;

fn ser_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

#[allow(clippy::ref_option)] // serde's `serialize_with` hands us `&Option<T>`
fn ser_opt_time<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_some(&format_time(*t)),
        None => s.serialize_none(),
    }
}

fn ser_limit<S: Serializer>(l: &RateLimit, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(l.name)
}

/// One certificate: the rows CT holds for it (precertificate, certificate)
/// folded into one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issuance {
    /// crt.sh ids of every row folded in (precertificate first when both).
    pub crtsh_ids: Vec<u64>,
    /// Normalised hex serial.
    pub serial: String,
    /// The issuer DN as the source gave it.
    pub issuer: String,
    /// Let's Encrypt's intermediate CN, when it is Let's Encrypt's.
    pub intermediate: Option<String>,
    /// Whether that CN is in [`crate::LETS_ENCRYPT_INTERMEDIATES`].
    pub known_intermediate: bool,
    pub names: NameSet,
    /// When it was issued (the earliest log entry time of its rows).
    #[serde(serialize_with = "ser_time")]
    pub issued_at: OffsetDateTime,
    #[serde(serialize_with = "ser_time")]
    pub not_after: OffsetDateTime,
}

/// Where a limit stands for the order being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStatus {
    /// Room for more.
    Ok,
    /// At most the warning threshold remains (`limits::*_WARN_REMAINING`).
    NearlyReached,
    /// No certificate is possible until `next_possible`.
    Reached,
    /// The limit does not apply to this order (a renewal of the same set).
    Exempt,
}

/// One bucket, replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitState {
    #[serde(serialize_with = "ser_limit")]
    pub limit: RateLimit,
    /// What the bucket is keyed on: the exact set, or the registered domain.
    pub key: String,
    /// The certificates that count, issued within the limit's period, newest
    /// first.
    pub in_period: Vec<Issuance>,
    /// Every certificate replayed into the bucket (older ones still shape the
    /// refill).
    pub replayed: usize,
    /// Certificates the bucket holds for one more order now (0..=burst).
    pub remaining: u32,
    pub status: LimitStatus,
    /// When the next certificate becomes possible, when `status` is
    /// `Reached` (Boulder adds 0-3 % jitter to its retry-after).
    #[serde(serialize_with = "ser_opt_time")]
    pub next_possible: Option<OffsetDateTime>,
}

impl LimitState {
    /// `burst - remaining`: how many of the limit are spent ("4 of 5").
    pub fn used(&self) -> u32 {
        self.limit.burst.saturating_sub(self.remaining)
    }
}

/// The per-registered-domain limit for one registered domain of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainAssessment {
    pub registered_domain: String,
    pub state: LimitState,
}

/// Everything the count concluded for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The order's exact set (the hostname and `--san` names).
    pub order: NameSet,
    #[serde(serialize_with = "ser_time")]
    pub now: OffsetDateTime,
    pub duplicate: LimitState,
    /// The newest earlier certificate for the same exact set within
    /// [`RENEWAL_WINDOW`], which makes this order a renewal.
    pub renewal_of: Option<Issuance>,
    pub domains: Vec<DomainAssessment>,
    /// Distinct Let's Encrypt certificates the source returned.
    pub lets_encrypt_certificates: usize,
    /// Distinct certificates of other CAs (and Let's Encrypt staging),
    /// ignored.
    pub other_ca_certificates: usize,
    /// Rows the source returned in all (before folding).
    pub rows: usize,
    /// Rows that could not be read, with why; they are not counted.
    pub unreadable_rows: Vec<String>,
    /// Let's Encrypt issuer CNs not in the intermediate table (counted).
    pub unknown_intermediates: Vec<String>,
    /// What CT cannot show, in words, for the report.
    pub caveats: Vec<String>,
}

fn to_time(d: std::time::Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

/// Replays `times` (ascending) through `limit`'s bucket and reads it at `now`.
fn replay(
    limit: RateLimit,
    key: String,
    mut issuances: Vec<Issuance>,
    now: OffsetDateTime,
    warn_at: u32,
) -> LimitState {
    issuances.sort_by_key(|i| i.issued_at);
    let interval = to_time(limit.emission_interval());
    let offset = to_time(limit.burst_offset());
    let mut tat: Option<OffsetDateTime> = None;
    for i in &issuances {
        let base = tat.map_or(i.issued_at, |t| t.max(i.issued_at));
        tat = Some(base + interval);
    }
    let tat_now = tat.map_or(now, |t| t.max(now));
    // Capacity for one more at `now` (Boulder's residual before spending).
    let room = now - (tat_now - offset);
    let remaining = if room.is_negative() || interval.whole_nanoseconds() == 0 {
        0
    } else {
        u32::try_from(room.whole_nanoseconds() / interval.whole_nanoseconds())
            .unwrap_or(u32::MAX)
            .min(limit.burst)
    };
    let new_tat = tat_now + interval;
    let next = new_tat - offset;
    let (status, next_possible) = if next > now {
        (LimitStatus::Reached, Some(next))
    } else if remaining <= warn_at {
        (LimitStatus::NearlyReached, None)
    } else {
        (LimitStatus::Ok, None)
    };
    let period = to_time(limit.period);
    let replayed = issuances.len();
    let mut in_period: Vec<Issuance> = issuances
        .into_iter()
        .filter(|i| i.issued_at > now - period)
        .collect();
    in_period.reverse();
    LimitState {
        limit,
        key,
        in_period,
        replayed,
        remaining,
        status,
        next_possible,
    }
}

/// Folds rows into issuances: one per (issuer, serial), the earliest entry
/// time, every crt.sh id.
fn fold(rows: &[CrtShEntry], unreadable: &mut Vec<String>) -> Vec<Issuance> {
    let mut by_cert: BTreeMap<(String, String), Issuance> = BTreeMap::new();
    for row in rows {
        let times = row
            .issued_at()
            .and_then(|issued| row.not_after().map(|na| (issued, na)));
        let (issued_at, not_after) = match times {
            Ok(t) => t,
            Err(e) => {
                unreadable.push(e.to_string());
                continue;
            }
        };
        let key = (row.issuer_name.trim().to_owned(), row.serial_key());
        let names = NameSet::new(row.identities());
        if let Some(i) = by_cert.get_mut(&key) {
            {
                if !i.crtsh_ids.contains(&row.id) {
                    if issued_at < i.issued_at {
                        i.crtsh_ids.insert(0, row.id);
                    } else {
                        i.crtsh_ids.push(row.id);
                    }
                }
                i.issued_at = i.issued_at.min(issued_at);
                i.not_after = i.not_after.max(not_after);
                if i.names.is_empty() {
                    i.names = names;
                }
            }
        } else {
            {
                let (intermediate, known) = match classify(&row.issuer_name) {
                    IssuerMatch::LetsEncrypt {
                        common_name,
                        intermediate,
                    } => (Some(common_name), intermediate.is_some()),
                    IssuerMatch::Other => (None, false),
                };
                by_cert.insert(
                    key.clone(),
                    Issuance {
                        crtsh_ids: vec![row.id],
                        serial: key.1,
                        issuer: key.0,
                        intermediate,
                        known_intermediate: known,
                        names,
                        issued_at,
                        not_after,
                    },
                );
            }
        }
    }
    let mut all: Vec<Issuance> = by_cert.into_values().collect();
    all.sort_by_key(|i| i.issued_at);
    all
}

/// Whether `i` renews an earlier certificate for the same exact set issued
/// within [`RENEWAL_WINDOW`] before it (so it never counted against the
/// per-registered-domain limit).
fn is_renewal(i: &Issuance, earlier: &[Issuance]) -> bool {
    let window = to_time(RENEWAL_WINDOW);
    earlier.iter().any(|j| {
        j.names == i.names && j.issued_at < i.issued_at && j.issued_at >= i.issued_at - window
    })
}

/// Counts what the rows show for an order of exactly `order`, at `now`.
pub fn assess(order: &NameSet, rows: &[CrtShEntry], now: OffsetDateTime) -> Assessment {
    let mut unreadable_rows = Vec::new();
    let all = fold(rows, &mut unreadable_rows);
    let (le, other): (Vec<Issuance>, Vec<Issuance>) =
        all.into_iter().partition(|i| i.intermediate.is_some());
    let mut unknown_intermediates: Vec<String> = le
        .iter()
        .filter(|i| !i.known_intermediate)
        .filter_map(|i| i.intermediate.clone())
        .collect();
    unknown_intermediates.sort();
    unknown_intermediates.dedup();

    let same_set: Vec<Issuance> = le.iter().filter(|i| i.names == *order).cloned().collect();
    let window = to_time(RENEWAL_WINDOW);
    let renewal_of = same_set
        .iter()
        .filter(|i| i.issued_at >= now - window && i.issued_at <= now)
        .max_by_key(|i| i.issued_at)
        .cloned();
    let duplicate = replay(
        DUPLICATE_CERTIFICATE,
        order.to_string(),
        same_set,
        now,
        limits::DUPLICATE_WARN_REMAINING,
    );

    let domains = order
        .covering_identifiers()
        .into_iter()
        .take(limits::MAX_REGISTERED_DOMAINS)
        .map(|domain| {
            let counted: Vec<Issuance> = le
                .iter()
                .enumerate()
                .filter(|(_, i)| i.names.covering_identifiers().contains(&domain))
                .filter(|(n, i)| !is_renewal(i, &le[..*n]))
                .map(|(_, i)| i.clone())
                .collect();
            let mut state = replay(
                CERTIFICATES_PER_DOMAIN,
                domain.clone(),
                counted,
                now,
                limits::DOMAIN_WARN_REMAINING,
            );
            if renewal_of.is_some() {
                state.status = LimitStatus::Exempt;
                state.next_possible = None;
            }
            DomainAssessment {
                registered_domain: domain,
                state,
            }
        })
        .collect();

    let mut caveats = vec![
        "An ARI renewal (an order naming the certificate it replaces) is exempt from both limits; CT cannot show which orders were, so this count assumes a plain order.".to_owned(),
        "The registered-domain limit may have a per-account override at Let's Encrypt, which CT cannot show.".to_owned(),
    ];
    if !unknown_intermediates.is_empty() {
        caveats.push(format!(
            "Counted as Let's Encrypt by organisation, with an intermediate this version does not list: {}.",
            unknown_intermediates.join(", ")
        ));
    }
    if !unreadable_rows.is_empty() {
        caveats.push(format!(
            "{} row(s) of the CT source could not be read and are not counted.",
            unreadable_rows.len()
        ));
    }
    Assessment {
        order: order.clone(),
        now,
        duplicate,
        renewal_of,
        domains,
        lets_encrypt_certificates: le.len(),
        other_ca_certificates: other.len(),
        rows: rows.len(),
        unreadable_rows,
        unknown_intermediates,
        caveats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-08-20 12:00:00 UTC);

    fn row(
        id: u64,
        issuer_cn: &str,
        names: &[&str],
        issued: OffsetDateTime,
        serial: &str,
    ) -> CrtShEntry {
        let f = |t: OffsetDateTime| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .unwrap()
        };
        CrtShEntry {
            id,
            issuer_ca_id: None,
            issuer_name: format!("C=US, O=Let's Encrypt, CN={issuer_cn}"),
            common_name: names.first().map(|s| (*s).to_owned()),
            name_value: names.join("\n"),
            entry_timestamp: Some(f(issued)),
            not_before: f(issued - Duration::hours(1)),
            not_after: f(issued + Duration::days(90)),
            serial_number: serial.to_owned(),
        }
    }

    fn order() -> NameSet {
        NameSet::new(["www.example.com", "example.com"])
    }

    #[test]
    fn five_in_a_week_reach_the_limit_until_the_first_refills() {
        let first = NOW - Duration::hours(10);
        let rows: Vec<CrtShEntry> = (0..5)
            .map(|n| {
                row(
                    n,
                    "YR1",
                    &["example.com", "www.example.com"],
                    first + Duration::hours(i64::try_from(n).unwrap()),
                    &format!("0{n}aa"),
                )
            })
            .collect();
        let a = assess(&order(), &rows, NOW);
        assert_eq!(a.duplicate.status, LimitStatus::Reached);
        assert_eq!(a.duplicate.remaining, 0);
        assert_eq!(a.duplicate.used(), 5);
        assert_eq!(a.duplicate.in_period.len(), 5);
        // One token is back 33 h 36 min after the first of the five.
        assert_eq!(
            a.duplicate.next_possible,
            Some(first + Duration::minutes(33 * 60 + 36))
        );
    }

    #[test]
    fn four_leave_one_and_warn() {
        let rows: Vec<CrtShEntry> = (0..4)
            .map(|n| {
                row(
                    n,
                    "YE1",
                    &["example.com", "www.example.com"],
                    NOW - Duration::hours(20),
                    &format!("{n}"),
                )
            })
            .collect();
        let a = assess(&order(), &rows, NOW);
        assert_eq!(a.duplicate.status, LimitStatus::NearlyReached);
        assert_eq!((a.duplicate.used(), a.duplicate.remaining), (4, 1));
        assert_eq!(a.duplicate.next_possible, None);
    }

    #[test]
    fn precertificate_and_certificate_count_once() {
        let t = NOW - Duration::hours(2);
        let mut cert = row(
            2,
            "YR2",
            &["example.com", "www.example.com"],
            t + Duration::seconds(3),
            "00AB:CD",
        );
        cert.serial_number = "abcd".to_owned();
        let rows = vec![
            row(1, "YR2", &["www.example.com", "example.com"], t, "00abcd"),
            cert,
        ];
        let a = assess(&order(), &rows, NOW);
        assert_eq!(a.lets_encrypt_certificates, 1);
        assert_eq!(a.duplicate.in_period.len(), 1);
        assert_eq!(a.duplicate.in_period[0].crtsh_ids, vec![1, 2]);
        assert_eq!(a.duplicate.in_period[0].issued_at, t);
    }

    #[test]
    fn other_cas_and_other_sets_do_not_count_as_duplicates() {
        let t = NOW - Duration::hours(2);
        let mut google = row(1, "WR1", &["example.com", "www.example.com"], t, "1");
        google.issuer_name = "C=US, O=Google Trust Services, CN=WR1".to_owned();
        let rows = vec![
            google,
            row(2, "YR1", &["www.example.com"], t, "2"),
            row(
                3,
                "YR1",
                &["example.com", "www.example.com", "api.example.com"],
                t,
                "3",
            ),
        ];
        let a = assess(&order(), &rows, NOW);
        assert_eq!(a.other_ca_certificates, 1);
        assert_eq!(a.duplicate.in_period.len(), 0);
        assert_eq!(a.duplicate.status, LimitStatus::Ok);
        // All Let's Encrypt ones count against example.com.
        assert_eq!(a.domains[0].registered_domain, "example.com");
        assert_eq!(a.domains[0].state.in_period.len(), 2);
    }

    #[test]
    fn old_certificates_refill_the_bucket() {
        // Five certificates 8 days ago: all tokens are back.
        let rows: Vec<CrtShEntry> = (0..5)
            .map(|n| {
                row(
                    n,
                    "R11",
                    &["example.com", "www.example.com"],
                    NOW - Duration::days(8),
                    &format!("{n}"),
                )
            })
            .collect();
        let a = assess(&order(), &rows, NOW);
        assert_eq!(a.duplicate.remaining, 5);
        assert_eq!(a.duplicate.status, LimitStatus::Ok);
        assert!(a.duplicate.in_period.is_empty());
        assert_eq!(a.duplicate.replayed, 5);
        // ... and make this order a renewal: the per-domain limit is exempt.
        assert!(a.renewal_of.is_some());
        assert_eq!(a.domains[0].state.status, LimitStatus::Exempt);
    }

    #[test]
    fn renewals_do_not_count_against_the_registered_domain() {
        // 50 distinct sets under example.com today: reached, unless the set
        // was issued before (then each is a renewal and none counts).
        let fresh: Vec<CrtShEntry> = (0..50)
            .map(|n| {
                row(
                    n,
                    "YR1",
                    &[&format!("h{n}.example.com")],
                    NOW - Duration::hours(1),
                    &format!("a{n}"),
                )
            })
            .collect();
        let order = NameSet::new(["new.example.com"]);
        let a = assess(&order, &fresh, NOW);
        assert_eq!(a.domains[0].state.status, LimitStatus::Reached);
        assert!(a.domains[0].state.next_possible.is_some());
        let mut renewed = fresh.clone();
        renewed.extend((0..50).map(|n| {
            row(
                100 + n,
                "YR1",
                &[&format!("h{n}.example.com")],
                NOW - Duration::days(60),
                &format!("b{n}"),
            )
        }));
        let b = assess(&order, &renewed, NOW);
        // 50 first issuances 60 days ago (refilled) + 50 renewals (not counted).
        assert_eq!(b.domains[0].state.status, LimitStatus::Ok);
        assert_eq!(b.domains[0].state.remaining, 50);
    }

    #[test]
    fn unreadable_rows_are_reported_not_counted() {
        let mut bad = row(9, "YR1", &["example.com", "www.example.com"], NOW, "9");
        bad.not_after = "never".to_owned();
        let a = assess(&order(), &[bad], NOW);
        assert_eq!(a.unreadable_rows.len(), 1);
        assert_eq!(a.lets_encrypt_certificates, 0);
        assert!(a.caveats.iter().any(|c| c.contains("could not be read")));
    }
}

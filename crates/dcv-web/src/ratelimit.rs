//! Keyed rate limits for starting checks: per client (a check sends queries
//! to strangers' name servers and fetches from their web servers, so a
//! public checker must not be a free amplifier) and per registered domain
//! (so many clients cannot hammer one zone's servers together).
//!
//! The Generic Cell Rate Algorithm (one "theoretical arrival time" per key,
//! as in ATM's GCRA and the `governor` crate): a sustained `per_minute` with
//! bursts of `burst`. The table of keys is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys a limiter remembers. A key whose bucket is full again carries no
/// state and is dropped first; past this many live keys every new key is
/// refused (fail closed) until some expire.
pub const MAX_KEYS: usize = 100_000;

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    /// Time between two requests at the sustained rate.
    fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    /// How far ahead of now the arrival time may run: `burst - 1` intervals.
    fn tolerance(self) -> Duration {
        self.interval() * self.burst.max(1).saturating_sub(1)
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `N/min` or `N/min,burst=B` (burst defaults to N).
    fn from_str(s: &str) -> Result<Rate, String> {
        let (rate, burst) = match s.split_once(",burst=") {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let per_minute: u32 = rate
            .strip_suffix("/min")
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{s:?}: expected N/min or N/min,burst=B with N > 0"))?;
        let burst = match burst {
            Some(b) => b
                .parse()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| format!("{s:?}: burst must be a number > 0"))?,
            None => per_minute,
        };
        Ok(Rate { per_minute, burst })
    }
}

/// Why a request was refused: when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// One rate per key.
#[derive(Debug)]
pub struct KeyedLimiter {
    rate: Rate,
    arrivals: Mutex<HashMap<String, Instant>>,
    max_keys: usize,
}

impl KeyedLimiter {
    pub fn new(rate: Rate) -> KeyedLimiter {
        KeyedLimiter::with_capacity(rate, MAX_KEYS)
    }

    pub fn with_capacity(rate: Rate, max_keys: usize) -> KeyedLimiter {
        KeyedLimiter {
            rate,
            arrivals: Mutex::new(HashMap::new()),
            max_keys,
        }
    }

    /// Takes one request for `key` at `now`, or says when to retry.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), Limited> {
        let interval = self.rate.interval();
        let tolerance = self.rate.tolerance();
        let mut map = self
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(key) && map.len() >= self.max_keys {
            // Keys whose arrival time has passed are back to a full burst.
            map.retain(|_, tat| *tat > now);
            if map.len() >= self.max_keys {
                return Err(Limited {
                    retry_after: interval,
                });
            }
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(Limited {
                retry_after: ahead.saturating_sub(tolerance),
            });
        }
        map.insert(key.to_owned(), tat + interval);
        Ok(())
    }

    pub fn check(&self, key: &str) -> Result<(), Limited> {
        self.check_at(key, Instant::now())
    }
}

/// The key a client is limited by: its IPv4 address, or its IPv6 /64 (one
/// subscriber's LAN gets a /64, RFC 6177).
pub fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                v4.to_string()
            } else {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// The key a hostname is limited by: its registrable domain under the
/// Public Suffix List (subdomains share their zone's servers), or the name
/// itself when it has none.
pub fn host_key(base: &str) -> String {
    let lower = base.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&lower).map_or(lower.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refuses_then_recovers() {
        let limiter = KeyedLimiter::new(Rate {
            per_minute: 6,
            burst: 3,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let refused = limiter.check_at("a", t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        // Another key is not affected.
        assert!(limiter.check_at("b", t0).is_ok());
        // One interval later, one more request fits.
        let t1 = t0 + Duration::from_secs(10);
        assert!(limiter.check_at("a", t1).is_ok());
        assert!(limiter.check_at("a", t1).is_err());
    }

    #[test]
    fn the_key_table_is_bounded_and_expired_keys_make_room() {
        let limiter = KeyedLimiter::with_capacity(
            Rate {
                per_minute: 60,
                burst: 1,
            },
            2,
        );
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).is_ok());
        assert!(limiter.check_at("b", t0).is_ok());
        assert!(limiter.check_at("c", t0).is_err(), "table full");
        let later = t0 + Duration::from_secs(2);
        assert!(limiter.check_at("c", later).is_ok(), "a and b expired");
    }

    #[test]
    fn rates_parse_and_keys_group() {
        assert_eq!(
            "10/min".parse::<Rate>(),
            Ok(Rate {
                per_minute: 10,
                burst: 10
            })
        );
        assert_eq!(
            "10/min,burst=3".parse::<Rate>(),
            Ok(Rate {
                per_minute: 10,
                burst: 3
            })
        );
        assert!("0/min".parse::<Rate>().is_err());
        assert!("10/s".parse::<Rate>().is_err());
        assert_eq!(
            client_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(client_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(host_key("www.a.example.co.uk"), "example.co.uk");
        assert_eq!(host_key("WWW.Example.com."), "example.com");
    }
}
